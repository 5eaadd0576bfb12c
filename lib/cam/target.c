/*
 * target.c - the forward and backward pass that gives the target layer's
 * activation A and gradient G of the logit (steps 1-2 of every method).
 *
 * Only the part of the model after the target layer is differentiated: the
 * trunk runs without autograd, its output becomes a leaf that records
 * gradients, and the head and logit are built on that leaf.
 */
#include "cam/cam.h"

static gscam_status finish_target(struct gscam_cam *cam, gsx_ctx *ctx, gsx_tensor *logit, struct gs_target *t)
{
    float value;

    if (gsx_backward(ctx, logit) != GSX_OK || gsx_read_f32(ctx, logit, &value, 1) != GSX_OK)
        return gs_cam_backend_error(cam, ctx, "backward pass");
    t->logit = value;
    return GSCAM_OK;
}

static gscam_status resnet_target(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                                  struct gs_target *t)
{
    const struct gscam_model *m = cam->model;
    const int64_t positions[2] = {2, 3};
    const int64_t flat = -1;
    gsx_tensor *a, *logit;
    gscam_status st;

    a = gsx_leaf(ctx, gs_resnet_trunk(ctx, m, x));
    logit = gs_logits(ctx, m, gs_resnet_attnpool(ctx, m, a), text);
    if (gsx_status(ctx) != GSX_OK)
        return gs_cam_backend_error(cam, ctx, "forward pass");
    if ((st = finish_target(cam, ctx, logit, t)) != GSCAM_OK)
        return st;

    t->activation = gsx_detach(ctx, a);
    t->gradient = gsx_grad(ctx, a);
    t->importance = gsx_reshape(ctx, gsx_mean(ctx, t->gradient, positions, 2, 0), &flat, 1);
    return gsx_status(ctx) == GSX_OK ? GSCAM_OK : gs_cam_backend_error(cam, ctx, "reading the gradient");
}

/* ViT: the target is the last block's output without the class token, laid
 * out C x g x g. The head reads only the class token of that output, so the
 * gradient at the patch tokens is exactly zero. The importance is therefore
 * the class token's gradient, and that gradient, repeated over the grid,
 * replaces G where a method needs it per position. */
static gscam_status vit_target(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                               struct gs_target *t)
{
    const struct gscam_model *m = cam->model;
    const int64_t g = m->arch.grid, c = m->arch.target_channels;
    const int64_t grid_shape[4] = {1, c, g, g};
    const int64_t column[4] = {1, c, 1, 1};
    const int64_t reps[4] = {1, 1, g, g};
    gsx_tensor *tokens, *logit, *patches, *grad;
    gscam_status st;

    tokens = gsx_leaf(ctx, gs_vit_trunk(ctx, m, x, NULL));
    logit = gs_logits(ctx, m, gs_vit_head(ctx, m, tokens), text);
    if (gsx_status(ctx) != GSX_OK)
        return gs_cam_backend_error(cam, ctx, "forward pass");
    if ((st = finish_target(cam, ctx, logit, t)) != GSCAM_OK)
        return st;

    /* tokens: 1 x (1 + g^2) x C -> patches 1 x C x g x g */
    patches = gsx_slice(ctx, gsx_detach(ctx, tokens), 1, 1, 1 + g * g);
    t->activation = gsx_contiguous(ctx, gsx_reshape(ctx, gsx_transpose(ctx, patches, 1, 2), grid_shape, 4));
    grad = gsx_select(ctx, gsx_select(ctx, gsx_grad(ctx, tokens), 0, 0), 0, 0);
    t->importance = gsx_contiguous(ctx, grad);
    t->gradient = gsx_repeat(ctx, gsx_reshape(ctx, grad, column, 4), reps, 4);
    return gsx_status(ctx) == GSX_OK ? GSCAM_OK : gs_cam_backend_error(cam, ctx, "reading the gradient");
}

gscam_status gs_target_compute(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                               struct gs_target *out)
{
    if (cam->model->arch.is_vit)
        return vit_target(cam, ctx, x, text, out);
    return resnet_target(cam, ctx, x, text, out);
}
