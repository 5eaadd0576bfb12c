/*
 * hilacam.c - HilaCAM (Chefer, Gur and Wolf, "Generic attention-model
 * explainability for interpreting bi-modal and encoder-decoder
 * transformers", ICCV 2021) for CLIP ViT models.
 *
 * For each residual block of the visual transformer, the attention
 * probabilities times their gradient, clamped at 0 and averaged over heads,
 * are accumulated into a relevance matrix R that starts as the identity:
 * R += cam @ R. The map is the class token's row of R over the patch tokens.
 */
#include <stdlib.h>

#include "cam/cam.h"

static gsx_tensor *identity(gsx_ctx *ctx, int64_t n)
{
    const int64_t shape[2] = {n, n};
    float *eye = calloc((size_t)(n * n), sizeof *eye);
    gsx_tensor *t;

    if (!eye) {
        gsx_fail(ctx, GSX_ERR_NOMEM, "out of memory for the relevance matrix");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        eye[i * n + i] = 1.0f;
    t = gsx_from_f32(ctx, eye, shape, 2);
    free(eye);
    return t;
}

gscam_status gs_hilacam(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                        gsx_tensor **raw)
{
    const struct gscam_model *m = cam->model;
    const int layers = m->arch.vision_layers;
    const int64_t g = m->arch.grid, len = g * g + 1;
    const int64_t heads_dim = 1;
    const int64_t grid_shape[4] = {1, 1, g, g};
    gsx_tensor **probs = calloc((size_t)layers, sizeof *probs);
    gsx_tensor *input, *logit, *rel;
    float value;

    if (!probs)
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for %d attention maps", layers);

    /* The input records gradients so that every block's attention does. */
    input = gsx_leaf(ctx, x);
    logit = gs_logits(ctx, m, gs_vit_head(ctx, m, gs_vit_trunk(ctx, m, input, probs)), text);
    for (int i = 0; i < layers; i++)
        gsx_retain_grad(ctx, probs[i]);
    if (gsx_backward(ctx, logit) != GSX_OK || gsx_read_f32(ctx, logit, &value, 1) != GSX_OK) {
        free(probs);
        return gs_cam_backend_error(cam, ctx, "HilaCAM forward and backward pass");
    }
    cam->last_logit = value;

    rel = identity(ctx, len);
    for (int i = 0; i < layers; i++) {
        gsx_tensor *p = gsx_detach(ctx, probs[i]);
        gsx_tensor *c = gsx_relu(ctx, gsx_mul(ctx, p, gsx_grad(ctx, probs[i])));

        c = gsx_select(ctx, gsx_mean(ctx, c, &heads_dim, 1, 0), 0, 0);
        rel = gsx_add(ctx, rel, gsx_matmul(ctx, c, rel));
    }
    free(probs);
    rel = gsx_slice(ctx, gsx_select(ctx, rel, 0, 0), 0, 1, len);
    *raw = gsx_reshape(ctx, rel, grid_shape, 4);
    return gsx_status(ctx) == GSX_OK ? GSCAM_OK : gs_cam_backend_error(cam, ctx, "HilaCAM relevance");
}
