/*
 * finish.c - from channel weights to the map (steps 8 and 9): weighted sum
 * of the activations, ReLU, min-max scaling, bilinear resize to the output
 * size with half-pixel centres, and min-max scaling again.
 */
#include <string.h>

#include "cam/cam.h"

/* Added to the maximum before dividing, so an all-zero map stays zero. */
#define SCALE_EPS 1e-8

gsx_tensor *gs_cam_combine(gsx_ctx *ctx, const gsx_tensor *activation, const gsx_tensor *weights)
{
    const int64_t column[4] = {1, -1, 1, 1};
    const int64_t channel_dim = 1;

    return gsx_sum(ctx, gsx_mul(ctx, activation, gsx_reshape(ctx, weights, column, 4)), &channel_dim, 1, 1);
}

/* Subtracts the minimum, then divides by the new maximum plus SCALE_EPS.
 * Stores the new maximum in *top. */
static gsx_tensor *min_max_scale(gsx_ctx *ctx, const gsx_tensor *t, double *top)
{
    double lo = 0.0, hi = 0.0;
    gsx_tensor *shifted;

    if (gsx_min_max(ctx, t, &lo, &hi) != GSX_OK)
        return NULL;
    shifted = gsx_add_scalar(ctx, t, -lo);
    if (gsx_min_max(ctx, shifted, &lo, &hi) != GSX_OK)
        return NULL;
    *top = hi;
    return gsx_mul_scalar(ctx, shifted, 1.0 / (hi + SCALE_EPS));
}

gscam_status gs_cam_finish(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *raw, int64_t out_h,
                           int64_t out_w, float *out)
{
    double top = 0.0;
    gsx_tensor *map;

    map = min_max_scale(ctx, gsx_relu(ctx, raw), &top);
    map = gsx_resize_bilinear(ctx, map, out_h, out_w, 0);
    map = min_max_scale(ctx, map, &top);
    if (gsx_read_f32(ctx, map, out, (size_t)(out_h * out_w)) != GSX_OK)
        return gs_cam_backend_error(cam, ctx, "scaling the map");

    /* Weighted activations that vanish after ReLU give an all-zero map. */
    if (top <= 0.0) {
        memset(out, 0, (size_t)(out_h * out_w) * sizeof *out);
        return GSCAM_FLAT_MAP;
    }
    return GSCAM_OK;
}
