"""A small CLIP with the layout and state-dict names of OpenAI's ResNet models.

The modules, their order and their names follow OpenAI's clip/model.py
(ModifiedResNet, AttentionPool2d, the text Transformer), so that the state
dict of a trained model has the same keys as RN50's release archive, only with
smaller shapes. Attention heads follow the rule that every released model
obeys: 64 channels per head (32 x width / 64 for attention pooling, text
width / 64 for the text transformer).
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# CLIP's normalisation of RGB values in [0, 1].
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU(inplace=True)
        # Anti-aliased stride: average pooling after the 3x3 convolution.
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu3 = nn.ReLU(inplace=True)
        self.downsample = None
        if stride > 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, planes * self.expansion, 1, stride=1, bias=False)),
                ("1", nn.BatchNorm2d(planes * self.expansion)),
            ]))

    def forward(self, x):
        identity = x
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.avgpool(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu3(out + identity)


class AttentionPool2d(nn.Module):
    """Multi-head attention whose only query is the mean of the spatial tokens."""

    def __init__(self, spacial_dim, embed_dim, num_heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(
            torch.randn(spacial_dim**2 + 1, embed_dim) / embed_dim**0.5
        )
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.num_heads = num_heads

    def forward(self, x):
        batch, channels = x.shape[:2]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([x.mean(dim=1, keepdim=True), x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)

        # Only the mean token's output is used, so it is the only query. The
        # key and value projections are folded into it: q . (W_k x + b_k) =
        # (W_k^T q) . x + q . b_k, and sum_t a_t (W_v x_t + b_v) =
        # W_v (sum_t a_t x_t) + b_v. This equals OpenAI's full
        # multi_head_attention_forward at that token, without projecting
        # every token, which dominated the training time.
        heads, head_dim = self.num_heads, channels // self.num_heads
        w_k = self.k_proj.weight.view(heads, head_dim, channels)
        w_v = self.v_proj.weight.view(heads, head_dim, channels)
        q = self.q_proj(x[:, 0]).view(batch, heads, head_dim) * head_dim**-0.5
        key_query = torch.einsum("bhd,hdc->bhc", q, w_k)
        scores = torch.einsum("bhc,btc->bht", key_query, x)
        scores = scores + (q * self.k_proj.bias.view(heads, head_dim)).sum(-1, keepdim=True)
        attention = torch.softmax(scores, dim=-1)
        pooled = torch.einsum("bht,btc->bhc", attention, x)
        out = torch.einsum("bhc,hdc->bhd", pooled, w_v) + self.v_proj.bias.view(heads, head_dim)
        return self.c_proj(out.reshape(batch, channels))


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, input_resolution, width):
        super().__init__()
        self.input_resolution = input_resolution
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(2)

        self._inplanes = width
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)

        embed_dim = width * 32
        self.attnpool = AttentionPool2d(input_resolution // 32, embed_dim, heads, output_dim)

    def _make_layer(self, planes, blocks, stride=1):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        """Return the output of layer4, the target layer of the CAM methods."""
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x):
        return self.attnpool(self.features(x))


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = nn.LayerNorm(d_model)
        # A plain attribute, not a buffer, as in OpenAI's model: the causal
        # mask is not part of the state dict.
        self.attn_mask = attn_mask

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask):
        super().__init__()
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)]
        )

    def forward(self, x):
        return self.resblocks(x)


class CLIP(nn.Module):
    def __init__(self, embed_dim, image_resolution, vision_layers, vision_width,
                 context_length, vocab_size, transformer_width, transformer_layers):
        super().__init__()
        if vision_width % 2 or transformer_width % 64:
            raise ValueError(
                f"vision width {vision_width} must be even and text width "
                f"{transformer_width} a multiple of 64 for 64-channel heads"
            )
        self.context_length = context_length
        self.image_resolution = image_resolution
        self.visual = ModifiedResNet(
            layers=vision_layers, output_dim=embed_dim, heads=vision_width * 32 // 64,
            input_resolution=image_resolution, width=vision_width,
        )
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.transformer = Transformer(
            transformer_width, transformer_layers, transformer_width // 64, mask
        )
        self.vocab_size = vocab_size
        self.token_embedding = nn.Embedding(vocab_size, transformer_width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, transformer_width))
        self.ln_final = nn.LayerNorm(transformer_width)
        self.text_projection = nn.Parameter(torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * torch.log(torch.tensor(1 / 0.07)))
        self.initialize_parameters(transformer_width, transformer_layers)

    def initialize_parameters(self, width, layers):
        """Initialise as OpenAI's CLIP does, with zero-initialised residual branches."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        pool = self.visual.attnpool
        std = pool.c_proj.in_features**-0.5
        for linear in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
            nn.init.normal_(linear.weight, std=std)
        for stage in (self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4):
            for block in stage:
                nn.init.zeros_(block.bn3.weight)

        proj_std = width**-0.5 * (2 * layers) ** -0.5
        attn_std = width**-0.5
        fc_std = (2 * width) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.text_projection, std=width**-0.5)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, tokens):
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection

    def logits(self, image_features, text_features):
        """Return exp(logit_scale) x cosine similarity, images by texts."""
        image_features = F.normalize(image_features, dim=-1)
        text_features = F.normalize(text_features, dim=-1)
        return self.logit_scale.exp() * image_features @ text_features.t()


# Tensors that OpenAI's releases store in fp32; every other floating-point
# tensor (convolution, linear and attention weights and biases, and
# text_projection) is stored in fp16.
def _is_fp32_in_release(name):
    if name in ("positional_embedding", "logit_scale", "token_embedding.weight",
                "visual.attnpool.positional_embedding"):
        return True
    if ".bn" in name or ".downsample.1." in name or name.startswith(("visual.bn", "ln_final")):
        return True
    return ".ln_" in name


def release_state_dict(model):
    """Return the model's state dict with the dtypes and metadata of a release.

    Adds the int64 scalars input_resolution, context_length and vocab_size.
    """
    out = OrderedDict()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float() if _is_fp32_in_release(name) else tensor.half()
        out[name] = tensor
    out["input_resolution"] = torch.tensor(model.image_resolution, dtype=torch.int64)
    out["context_length"] = torch.tensor(model.context_length, dtype=torch.int64)
    out["vocab_size"] = torch.tensor(model.vocab_size, dtype=torch.int64)
    return out


def build_from_state_dict(state):
    """Build a float32 CLIP from a state dict, inferring sizes as OpenAI's loader does."""
    width = state["visual.layer1.0.conv1.weight"].shape[0]
    layers = tuple(
        len({k.split(".")[2] for k in state if k.startswith(f"visual.layer{s}.")})
        for s in (1, 2, 3, 4)
    )
    grid = round((state["visual.attnpool.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = state["ln_final.weight"].shape[0]
    text_layers = len({k.split(".")[2] for k in state if k.startswith("transformer.resblocks.")})
    model = CLIP(
        embed_dim=state["text_projection"].shape[1], image_resolution=32 * grid,
        vision_layers=layers, vision_width=width,
        context_length=state["positional_embedding"].shape[0],
        vocab_size=state["token_embedding.weight"].shape[0],
        transformer_width=text_width, transformer_layers=text_layers,
    )
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in state.items()
               if k not in ("input_resolution", "context_length", "vocab_size")}
    model.load_state_dict(tensors)
    return model.eval()


def to_input(images, resolution):
    """Turn uint8 RGB images (N x H x W x 3) into a normalised N x 3 x R x R tensor.

    Images of another size are first resized with Pillow's bicubic filter,
    as the library's squash fit does.
    """
    import numpy as np
    from PIL import Image

    if images.shape[1:3] != (resolution, resolution):
        images = np.stack([
            np.asarray(Image.fromarray(image).resize((resolution, resolution), Image.BICUBIC))
            for image in images
        ])
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std
