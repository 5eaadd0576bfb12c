/*
 * preprocess.c - fitting an image to the model's square input, the way
 * CLIP's torchvision pipeline does it on a Pillow image (with the image
 * converted to RGB first).
 */
#include <math.h>

#include "core/common.h"
#include "image/image.h"

/* The largest input side accepted; the largest CLIP release uses 448. */
#define MAX_INPUT_SIZE 65535u

/* Python's round() of a value that is a whole number or a half: halves go
 * to the even neighbour. */
static int64_t round_half_even(double v)
{
    double r = nearbyint(v); /* the default rounding mode rounds half to even */

    return (int64_t)r;
}

gscam_status gs_image_input(const gscam_image *img, uint32_t size, int32_t fit, uint8_t *out,
                            int32_t *crop_x, int32_t *crop_y, int32_t *crop_w, int32_t *crop_h)
{
    uint32_t w, h, short_side, long_side, new_w, new_h, left, top;
    double new_long;
    gscam_status st;

    if (!img)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "image is NULL");
    if (img->magic != GS_MAGIC_IMAGE)
        return gs_fail(NULL, GSCAM_ERR_MISUSE, "image handle is freed or not an image");
    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "output buffer is NULL");
    if (size < 1 || size > MAX_INPUT_SIZE)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "input size %u is out of range 1..%u", size,
                       MAX_INPUT_SIZE);
    if (fit != GSCAM_FIT_SQUASH && fit != GSCAM_FIT_CROP)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "fit %d is unknown, expected GSCAM_FIT_SQUASH (0) or GSCAM_FIT_CROP (1)", (int)fit);
    w = img->width;
    h = img->height;

    if (fit == GSCAM_FIT_SQUASH) {
        st = gs_resize_bicubic(img->pixels, w, h, size, size, 0, 0, size, size, out);
        if (st == GSCAM_OK) {
            if (crop_x) *crop_x = 0;
            if (crop_y) *crop_y = 0;
            if (crop_w) *crop_w = (int32_t)w;
            if (crop_h) *crop_h = (int32_t)h;
        }
        return st;
    }

    /* torchvision's Resize(size): the shorter side becomes size and the
     * longer int(size * long / short); a square counts its width as short. */
    short_side = w <= h ? w : h;
    long_side = w <= h ? h : w;
    new_long = floor((double)size * long_side / short_side);
    if (new_long > INT32_MAX)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "crop fit of a %u x %u image to %u would resize its long side to %.0f pixels",
                       w, h, size, new_long);
    new_w = w <= h ? size : (uint32_t)new_long;
    new_h = w <= h ? (uint32_t)new_long : size;

    /* torchvision's CenterCrop: offsets int(round((side - size) / 2.0)). */
    left = (uint32_t)round_half_even((new_w - size) / 2.0);
    top = (uint32_t)round_half_even((new_h - size) / 2.0);

    st = gs_resize_bicubic(img->pixels, w, h, new_w, new_h, left, top, size, size, out);
    if (st != GSCAM_OK)
        return st;

    /* The crop's edges in image pixels, rounded to the nearest. */
    {
        int64_t x0 = llround((double)left * w / new_w);
        int64_t x1 = llround((double)(left + size) * w / new_w);
        int64_t y0 = llround((double)top * h / new_h);
        int64_t y1 = llround((double)(top + size) * h / new_h);

        if (crop_x) *crop_x = (int32_t)x0;
        if (crop_y) *crop_y = (int32_t)y0;
        if (crop_w) *crop_w = (int32_t)(x1 - x0);
        if (crop_h) *crop_h = (int32_t)(y1 - y0);
    }
    return GSCAM_OK;
}

gscam_status gscam_image_preprocess(const gscam_image *img, uint32_t size, int32_t fit, uint8_t *out,
                                    size_t out_len)
{
    uint64_t needed = (uint64_t)size * size * 3;

    if (!img)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_preprocess: image is NULL");
    if (img->magic != GS_MAGIC_IMAGE)
        return gs_fail(NULL, GSCAM_ERR_MISUSE, "gscam_image_preprocess: image handle is freed or not an image");
    if (out_len < needed)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_image_preprocess: output buffer holds %zu bytes, expected %llu "
                       "(size %u x %u x 3)",
                       out_len, (unsigned long long)needed, size, size);
    return gs_image_input(img, size, fit, out, NULL, NULL, NULL, NULL);
}
