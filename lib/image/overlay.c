/*
 * overlay.c - a map blended over its image in a perceptual colour map.
 *
 * The colour map is matplotlib's viridis, designed to be perceptually
 * uniform. It is sampled at nine evenly spaced
 * values from 0 (dark purple) to 1 (yellow), with linear interpolation in
 * sRGB between the samples.
 *
 * NOTE: between the samples the colours differ from matplotlib's 256-entry
 * table; the difference has not been measured.
 */
#include <math.h>

#include "core/common.h"
#include "image/image.h"

#define STOP_COUNT 9

/* viridis at 0, 1/8, 2/8, ..., 1 (#440154, #482878, #3e4989, #31688e,
 * #26828e, #1f9e89, #35b779, #6ece58, #fde725). */
static const uint8_t viridis_stops[STOP_COUNT][3] = {
    {68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
    {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {253, 231, 37},
};

/* Writes the colour of value v; NaN counts as 0 and values outside [0, 1]
 * are clamped. */
static void colour_of(float v, float rgb[3])
{
    float position, t;
    int i;

    if (!(v > 0.0f))
        v = 0.0f;
    if (v > 1.0f)
        v = 1.0f;
    position = v * (STOP_COUNT - 1);
    i = (int)position;
    if (i >= STOP_COUNT - 1)
        i = STOP_COUNT - 2;
    t = position - (float)i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (1.0f - t) * viridis_stops[i][c] + t * viridis_stops[i + 1][c];
}

gscam_status gscam_image_overlay(const gscam_image *img, const float *map, size_t map_len, float alpha,
                                 gscam_image **out)
{
    gscam_image *blend;
    gscam_status st;
    size_t pixels;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_overlay: out is NULL");
    *out = NULL;
    if (!img)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_overlay: image is NULL");
    if (img->magic != GS_MAGIC_IMAGE)
        return gs_fail(NULL, GSCAM_ERR_MISUSE, "gscam_image_overlay: image handle is freed or not an image");
    if (!map)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_overlay: map is NULL");
    pixels = (size_t)img->width * img->height;
    if (map_len != pixels)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_image_overlay: map has %zu values, expected %zu (%u x %u)", map_len, pixels,
                       img->width, img->height);
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_image_overlay: alpha is %g, expected a value in [0, 1]", (double)alpha);

    st = gs_image_new(img->width, img->height, &blend);
    if (st != GSCAM_OK)
        return st;
    for (size_t i = 0; i < pixels; i++) {
        float rgb[3];

        colour_of(map[i], rgb);
        for (int c = 0; c < 3; c++) {
            float v = (1.0f - alpha) * img->pixels[3 * i + c] + alpha * rgb[c];

            if (v > 255.0f)
                v = 255.0f;
            blend->pixels[3 * i + c] = (uint8_t)lrintf(v);
        }
    }
    *out = blend;
    return GSCAM_OK;
}
