/*
 * gsx_autograd.cpp - leaves, backpropagation and gradients.
 */
#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

#include "gsx_impl.h"

extern "C" {

/* The clone gives the leaf its own storage, so releasing t later cannot
 * change the leaf's values. */
gsx_tensor *gsx_leaf(gsx_ctx *ctx, const gsx_tensor *t)
{
    return gsx::run(ctx, "gsx_leaf", {t}, [&] { return t->t.detach().clone().requires_grad_(true); });
}

int gsx_backward(gsx_ctx *ctx, const gsx_tensor *root)
{
    return gsx::run_status(ctx, "gsx_backward", {root}, [&] {
        if (root->t.numel() != 1)
            throw std::invalid_argument("root has " + std::to_string(root->t.numel()) +
                                        " elements, expected 1");
        if (!root->t.requires_grad())
            throw std::invalid_argument("root does not depend on any tensor that requires a gradient");
        root->t.backward();
    });
}

gsx_tensor *gsx_grad(gsx_ctx *ctx, const gsx_tensor *t)
{
    return gsx::run(ctx, "gsx_grad", {t}, [&] {
        at::Tensor grad = t->t.grad();
        if (!grad.defined())
            throw std::invalid_argument("tensor has no gradient (not a leaf, no gsx_retain_grad, "
                                        "or no backward pass reached it)");
        return grad;
    });
}

int gsx_retain_grad(gsx_ctx *ctx, gsx_tensor *t)
{
    return gsx::run_status(ctx, "gsx_retain_grad", {t}, [&] {
        if (!t->t.requires_grad())
            throw std::invalid_argument("tensor does not require a gradient");
        t->t.retain_grad();
    });
}

gsx_tensor *gsx_detach(gsx_ctx *ctx, const gsx_tensor *t)
{
    return gsx::run(ctx, "gsx_detach", {t}, [&] { return t->t.detach(); });
}

} // extern "C"
