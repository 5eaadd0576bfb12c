"""Write a CLIP state dict as a TorchScript archive with OpenAI's layout.

OpenAI distributes CLIP as TorchScript archives whose parameters and buffers
carry the plain module names ("visual.layer1.0.conv1.weight", ...). This module
builds a tree of empty modules holding the given tensors under those names,
scripts it and saves it, so the result loads like a release archive: by
torch.jit.load(...).state_dict() in Python and by torch::jit::load in C++.
"""

import torch


class _Holder(torch.nn.Module):
    """A module that only holds tensors; forward returns a constant."""

    def forward(self) -> int:
        return 0


def _child(parent, name):
    if name not in parent._modules:
        parent.add_module(name, _Holder())
    return parent._modules[name]


def build_module(state_dict):
    """Return a scriptable module whose state_dict() equals state_dict.

    Floating-point tensors become parameters (as in the releases); integer
    tensors, such as the metadata scalars, become buffers.
    """
    root = _Holder()
    for key, value in state_dict.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            node = _child(node, part)
        value = value.detach().clone().contiguous()
        if value.is_floating_point():
            node.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))
        else:
            node.register_buffer(leaf, value)
    return root


def save_archive(state_dict, path):
    """Script the tensors of state_dict into a TorchScript archive at path."""
    module = torch.jit.script(build_module(state_dict))
    module.save(str(path))


def load_state_dict(path):
    """Read every named tensor of an archive written by save_archive, or of a
    torch.save file holding a dict of tensors, as float tensors on the CPU
    (int64 metadata scalars are returned unchanged)."""
    try:
        tensors = torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:
        tensors = torch.load(str(path), map_location="cpu")
    out = {}
    for key, value in tensors.items():
        value = value.detach()
        out[key] = value.float() if value.is_floating_point() else value
    return out
