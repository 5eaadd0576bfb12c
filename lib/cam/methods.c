/*
 * methods.c - channel weights of each method: gScoreCAM and ScoreCAM (scores
 * of masked inputs), GradCAM and GradCAM++ (from the gradient).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cam/cam.h"

/* Masked inputs scored per pass at 224 x 224; scaled by area for other sizes.
 * 32 keeps RN50's largest activations (32 x 256 x 56 x 56 floats) near 100 MB. */
#define BATCH_AT_224 32
/* Added to a mask's range before dividing, so a constant channel gives a
 * zero mask instead of NaN. */
#define MASK_EPS 1e-6
/* GradCAM++ denominator guard. */
#define GRADCAM_PP_EPS 1e-6

int64_t gs_cam_batch_size(const struct gscam_cam *cam)
{
    int64_t r = cam->model->arch.input_resolution;
    int64_t b;

    if (cam->batch > 0)
        return cam->batch;
    b = BATCH_AT_224 * 224 * 224 / (r * r);
    return b < 1 ? 1 : b;
}

/* Masks of channels idx (b values) of A, each upsampled to R x R with
 * align_corners and min-max scaled: b x 1 x R x R. A channel that is constant
 * before upsampling gives a zero mask: bilinear interpolation in float32
 * does not reproduce a constant exactly, and scaling its rounding noise by
 * 1 / MASK_EPS would turn it into a visible mask. The scale factors are
 * computed per channel first, so the full-size masks take two passes (a
 * subtraction and a product) after the resize and its minimum and maximum. */
static gsx_tensor *channel_masks(gsx_ctx *ctx, const gsx_tensor *activation, const gsx_tensor *idx, int64_t r)
{
    const int64_t b = gsx_numel(idx);
    const int64_t shape[4] = {b, 1, gsx_size(activation, 2), gsx_size(activation, 3)};
    const int64_t spatial[2] = {2, 3};
    gsx_tensor *a, *range, *varying, *u, *lo, *scale;

    a = gsx_reshape(ctx, gsx_index_select(ctx, gsx_select(ctx, activation, 0, 0), 0, idx), shape, 4);
    range = gsx_sub(ctx, gsx_amax(ctx, a, spatial, 2, 1), gsx_amin(ctx, a, spatial, 2, 1));
    varying = gsx_add_scalar(ctx, gsx_mul_scalar(ctx, gsx_eq_zero(ctx, range), -1.0), 1.0); /* 0 or 1 */

    u = gsx_resize_bilinear(ctx, a, r, r, 1);
    lo = gsx_amin(ctx, u, spatial, 2, 1);
    range = gsx_sub(ctx, gsx_amax(ctx, u, spatial, 2, 1), lo);
    scale = gsx_div(ctx, varying, gsx_add_scalar(ctx, range, MASK_EPS));
    return gsx_mul(ctx, gsx_sub(ctx, u, lo), scale);
}

int64_t gs_cam_batch_count(const struct gscam_cam *cam, int64_t k)
{
    const int64_t batch = gs_cam_batch_size(cam);

    return (k + batch - 1) / batch;
}

/* Scores x * mask for each selected channel, in batches. NaN scores become 0.
 * The k channels are split into batches whose sizes differ by at most one,
 * so every pass allocates the same activation sizes and reuses the buffers
 * of the one before (see gsx_pool_open). */
static gscam_status score_channels(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                                   const gsx_tensor *activation, const gsx_tensor *idx, float *scores)
{
    const int64_t k = gsx_numel(idx), n = gs_cam_batch_count(cam, k);
    const int64_t r = cam->model->arch.input_resolution;

    for (int64_t i = 0; i < n; i++) {
        const int64_t start = gs_batch_start(i, n, k), end = gs_batch_start(i + 1, n, k);
        size_t mark = gsx_mark(ctx);
        gsx_tensor *masks, *s;

        masks = channel_masks(ctx, activation, gsx_slice(ctx, idx, 0, start, end), r);
        s = gs_logits(ctx, cam->model, gs_image_embed(ctx, cam->model, gsx_mul(ctx, x, masks)), text);
        s = gsx_nan_to(ctx, s, 0.0);
        if (gsx_read_f32(ctx, s, scores + start, (size_t)(end - start)) != GSX_OK)
            return gs_cam_backend_error(cam, ctx, "scoring masked inputs");
        gsx_release_to(ctx, mark, NULL);

        if (cam->progress && cam->progress(cam->progress_user, end, k) != 0)
            return gs_fail(cam->message, GSCAM_ERR_CANCELLED, "cancelled after %lld of %lld masked inputs",
                           (long long)end, (long long)k);
    }
    return GSCAM_OK;
}

static gscam_status remember_channels(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *idx)
{
    const int64_t k = gsx_numel(idx);
    int64_t *wide = malloc((size_t)k * sizeof *wide);
    int32_t *narrow = malloc((size_t)k * sizeof *narrow);

    if (!wide || !narrow) {
        free(wide);
        free(narrow);
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for %lld channels", (long long)k);
    }
    if (gsx_read_i64(ctx, idx, wide, (size_t)k) != GSX_OK) {
        free(wide);
        free(narrow);
        return gs_cam_backend_error(cam, ctx, "reading selected channels");
    }
    for (int64_t i = 0; i < k; i++)
        narrow[i] = (int32_t)wide[i];
    free(wide);
    free(cam->channels);
    cam->channels = narrow;
    cam->n_channels = (size_t)k;
    return GSCAM_OK;
}

/* ScoreCAM on the k channels of largest importance (k = C for ScoreCAM):
 * softmax over all C channels of the scores, unselected channels scoring 0. */
static gscam_status score_weights(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                                  const struct gs_target *t, gsx_tensor **weights)
{
    const int64_t c = cam->model->arch.target_channels;
    int64_t k = cam->method == GSCAM_METHOD_SCORECAM ? c : cam->topk;
    gsx_tensor *idx = NULL, *values;
    float *scores;
    gscam_status st;

    if (k > c)
        k = c;
    if (gsx_topk(ctx, t->importance, k, NULL, &idx) != GSX_OK)
        return gs_cam_backend_error(cam, ctx, "selecting channels");
    if ((st = remember_channels(cam, ctx, idx)) != GSCAM_OK)
        return st;

    scores = malloc((size_t)k * sizeof *scores);
    if (!scores)
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for %lld scores", (long long)k);
    st = score_channels(cam, ctx, x, text, t->activation, idx, scores);
    if (st == GSCAM_OK) {
        values = gsx_from_f32(ctx, scores, &k, 1);
        *weights = gsx_softmax(ctx, gsx_scatter_1d(ctx, c, idx, values), 0);
        if (gsx_status(ctx) != GSX_OK)
            st = gs_cam_backend_error(cam, ctx, "weighting channels");
    }
    free(scores);
    return st;
}

/* GradCAM++: a = G^2 / (2 G^2 + sum_hw(A) G^3 + eps), 0 where G = 0;
 * w_c = sum_hw(relu(G) a). */
static gscam_status gradcam_pp_weights(struct gscam_cam *cam, gsx_ctx *ctx, const struct gs_target *t,
                                       gsx_tensor **weights)
{
    const int64_t spatial[2] = {2, 3};
    const int64_t flat = -1;
    gsx_tensor *g = t->gradient, *g2, *g3, *sum_a, *den, *a;

    g2 = gsx_mul(ctx, g, g);
    g3 = gsx_mul(ctx, g2, g);
    sum_a = gsx_sum(ctx, t->activation, spatial, 2, 1);
    den = gsx_add_scalar(ctx, gsx_add(ctx, gsx_mul_scalar(ctx, g2, 2.0), gsx_mul(ctx, sum_a, g3)), GRADCAM_PP_EPS);
    a = gsx_where(ctx, gsx_eq_zero(ctx, g), gsx_mul_scalar(ctx, g, 0.0), gsx_div(ctx, g2, den));
    *weights = gsx_reshape(ctx, gsx_sum(ctx, gsx_mul(ctx, gsx_relu(ctx, g), a), spatial, 2, 0), &flat, 1);
    return gsx_status(ctx) == GSX_OK ? GSCAM_OK : gs_cam_backend_error(cam, ctx, "GradCAM++ weights");
}

gscam_status gs_method_weights(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                               const struct gs_target *target, gsx_tensor **weights)
{
    free(cam->channels);
    cam->channels = NULL;
    cam->n_channels = 0;

    switch (cam->method) {
    case GSCAM_METHOD_GSCORECAM:
    case GSCAM_METHOD_SCORECAM:
        return score_weights(cam, ctx, x, text, target, weights);
    case GSCAM_METHOD_GRADCAM:
        *weights = target->importance;
        return GSCAM_OK;
    case GSCAM_METHOD_GRADCAM_PP:
        return gradcam_pp_weights(cam, ctx, target, weights);
    default:
        return gs_fail(cam->message, GSCAM_ERR_UNSUPPORTED, "method %d has no channel weights", (int)cam->method);
    }
}
