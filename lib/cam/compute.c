/*
 * compute.c - the public computations of a CAM context: a map for an image
 * or a preprocessed input, and CLIP logits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cam/cam.h"
#include "image/image.h"

/* CLIP's normalisation of RGB values in [0, 1]. */
static const float CLIP_MEAN[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float CLIP_STD[3] = {0.26862954f, 0.26130258f, 0.27577711f};

gsx_tensor *gs_cam_input(gsx_ctx *ctx, const uint8_t *rgb, int r)
{
    const size_t plane = (size_t)r * (size_t)r;
    const int64_t shape[4] = {1, 3, r, r};
    float *buf = malloc(3 * plane * sizeof *buf);
    gsx_tensor *t;

    if (!buf) {
        gsx_fail(ctx, GSX_ERR_NOMEM, "out of memory for the model input");
        return NULL;
    }
    for (size_t i = 0; i < plane; i++)
        for (int ch = 0; ch < 3; ch++)
            buf[ch * plane + i] = ((float)rgb[3 * i + ch] / 255.0f - CLIP_MEAN[ch]) / CLIP_STD[ch];
    t = gsx_from_f32(ctx, buf, shape, 4);
    free(buf);
    return t;
}

gscam_status gs_cam_check_ids(struct gscam_cam *cam, const int32_t *ids, size_t n_ids)
{
    const struct gs_arch *a = &cam->model->arch;

    if (!ids)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "token ids are NULL");
    if (n_ids != (size_t)a->context_length)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT,
                       "%zu token ids given, the model's context length is %d", n_ids, a->context_length);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= a->vocab_size)
            return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT,
                           "token id %d at position %zu is outside the model's vocabulary of %d", (int)ids[i], i,
                           a->vocab_size);
    return GSCAM_OK;
}

gscam_status gs_cam_text(struct gscam_cam *cam, const int32_t *ids, size_t n_ids, gsx_tensor **out)
{
    int32_t *copy;

    if (cam->text_emb && cam->text_len == n_ids && memcmp(cam->text_ids, ids, n_ids * sizeof *ids) == 0) {
        *out = cam->text_emb;
        return GSCAM_OK;
    }
    gsx_ctx_free(cam->text_ctx);
    free(cam->text_ids);
    cam->text_emb = NULL;
    cam->text_ids = NULL;
    cam->text_ctx = gsx_ctx_new();
    copy = malloc(n_ids * sizeof *copy);
    if (!cam->text_ctx || !copy) {
        free(copy);
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for the text embedding");
    }
    cam->text_emb = gs_text_embed(cam->text_ctx, cam->model, ids, n_ids);
    if (!cam->text_emb) {
        free(copy);
        return gs_cam_backend_error(cam, cam->text_ctx, "text embedding");
    }
    memcpy(copy, ids, n_ids * sizeof *ids);
    cam->text_ids = copy;
    cam->text_len = n_ids;
    *out = cam->text_emb;
    return GSCAM_OK;
}

static void use_threads(const struct gscam_cam *cam)
{
    long n = cam->threads;

    if (n == 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    gsx_set_threads(n >= 1 ? (int)n : 1);
}

gscam_status gs_cam_run(struct gscam_cam *cam, const uint8_t *rgb, const int32_t *ids, size_t n_ids,
                        int64_t out_h, int64_t out_w, float *out)
{
    gsx_ctx *ctx;
    gsx_tensor *x, *text, *weights, *raw = NULL;
    struct gs_target target = {0};
    gscam_status st;
    int pooled;

    if ((st = gs_cam_check_ids(cam, ids, n_ids)) != GSCAM_OK)
        return st;
    use_threads(cam);
    if ((st = gs_cam_text(cam, ids, n_ids, &text)) != GSCAM_OK)
        return st;
    ctx = gsx_ctx_new();
    if (!ctx)
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for a computation");
    pooled = cam->reuse_buffers ? gsx_pool_open() : 0;
    x = gs_cam_input(ctx, rgb, cam->model->arch.input_resolution);

    if (cam->method == GSCAM_METHOD_HILACAM) {
        st = gs_hilacam(cam, ctx, x, text, &raw);
    } else {
        st = gs_target_compute(cam, ctx, x, text, &target);
        if (st == GSCAM_OK && !isfinite(target.logit))
            st = gs_fail(cam->message, GSCAM_ERR_MODEL,
                         "the logit of this image and prompt is %g; the model gives an image or text "
                         "embedding of zero or infinite norm", target.logit);
        if (st == GSCAM_OK) {
            cam->last_logit = target.logit;
            st = gs_method_weights(cam, ctx, x, text, &target, &weights);
        }
        if (st == GSCAM_OK)
            raw = gs_cam_combine(ctx, target.activation, weights);
    }
    if (st == GSCAM_OK)
        st = gs_cam_finish(cam, ctx, raw, out_h, out_w, out);
    gsx_ctx_free(ctx);
    gsx_pool_close(pooled);
    return st;
}

gscam_status gscam_cam_compute_input(gscam_cam *cam, const uint8_t *input, size_t input_len, const int32_t *ids,
                                     size_t n_ids, float *map, size_t map_len)
{
    gscam_status st = gs_cam_check(cam);
    size_t r;

    if (st != GSCAM_OK)
        return st;
    r = (size_t)cam->model->arch.input_resolution;
    if (!input || input_len != r * r * 3)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "input is %zu bytes, the model needs %zu x %zu x 3",
                       input ? input_len : 0, r, r);
    if (!map || map_len != r * r)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "map holds %zu values, the model's input has %zu",
                       map ? map_len : 0, r * r);
    return gs_cam_run(cam, input, ids, n_ids, (int64_t)r, (int64_t)r, map);
}

/* Where the model input lies in the image, in image pixels. */
struct region {
    int32_t x0, y0, w, h;
};

/* The crop fit's map covers only the cropped rectangle; the rest is 0. */
static gscam_status compute_cropped(struct gscam_cam *cam, const uint8_t *rgb, const int32_t *ids, size_t n_ids,
                                    int64_t width, const struct region reg, float *map, size_t map_len)
{
    float *part = malloc((size_t)reg.w * (size_t)reg.h * sizeof *part);
    gscam_status st;

    if (!part)
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for a %lld x %lld map",
                       (long long)reg.w, (long long)reg.h);
    st = gs_cam_run(cam, rgb, ids, n_ids, reg.h, reg.w, part);
    if (!gscam_is_error(st)) {
        memset(map, 0, map_len * sizeof *map);
        for (int64_t y = 0; y < reg.h; y++)
            memcpy(map + (reg.y0 + y) * width + reg.x0, part + y * reg.w, (size_t)reg.w * sizeof *map);
    }
    free(part);
    return st;
}

static gscam_status preprocess(struct gscam_cam *cam, const gscam_image *img, uint8_t **rgb, struct region *reg)
{
    const size_t r = (size_t)cam->model->arch.input_resolution;
    gscam_status st;

    *rgb = malloc(r * r * 3);
    if (!*rgb)
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for the model input");
    st = gs_image_input(img, (uint32_t)r, cam->fit, *rgb, &reg->x0, &reg->y0, &reg->w, &reg->h);
    if (st != GSCAM_OK) {
        gs_fail_again(cam->message, st);
        free(*rgb);
        *rgb = NULL;
    }
    return st;
}

gscam_status gscam_cam_compute(gscam_cam *cam, const gscam_image *img, const int32_t *ids, size_t n_ids, float *map,
                               size_t map_len)
{
    gscam_status st = gs_cam_check(cam);
    struct region reg;
    int64_t width, height;
    uint8_t *rgb;

    if (st != GSCAM_OK)
        return st;
    if (!img)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "image is NULL");
    width = gscam_image_width(img);
    height = gscam_image_height(img);
    if (width == 0 || height == 0)
        return gs_fail(cam->message, GSCAM_ERR_MISUSE, "image handle is invalid (freed, or not an image)");
    if (!map || map_len != (size_t)(width * height))
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT,
                       "map holds %zu values, the image is %lld x %lld pixels", map ? map_len : 0,
                       (long long)width, (long long)height);
    if ((st = gs_cam_check_ids(cam, ids, n_ids)) != GSCAM_OK)
        return st;
    if ((st = preprocess(cam, img, &rgb, &reg)) != GSCAM_OK)
        return st;
    if (cam->fit == GSCAM_FIT_CROP)
        st = compute_cropped(cam, rgb, ids, n_ids, width, reg, map, map_len);
    else
        st = gs_cam_run(cam, rgb, ids, n_ids, height, width, map);
    free(rgb);
    return st;
}

gscam_status gscam_cam_score(gscam_cam *cam, const gscam_image *img, const int32_t *ids, size_t n_prompts,
                             size_t context, float *logits)
{
    gscam_status st = gs_cam_check(cam);
    gsx_ctx *ctx;
    gsx_tensor *image_emb;
    struct region reg;
    uint8_t *rgb;

    if (st != GSCAM_OK)
        return st;
    if (!img || !ids || !logits || n_prompts == 0)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "gscam_cam_score: NULL argument or no prompt");
    for (size_t i = 0; i < n_prompts; i++)
        if ((st = gs_cam_check_ids(cam, ids + i * context, context)) != GSCAM_OK)
            return st;
    if ((st = preprocess(cam, img, &rgb, &reg)) != GSCAM_OK)
        return st;
    use_threads(cam);
    ctx = gsx_ctx_new();
    if (!ctx) {
        free(rgb);
        return gs_fail(cam->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for a computation");
    }
    image_emb = gs_image_embed(ctx, cam->model, gs_cam_input(ctx, rgb, cam->model->arch.input_resolution));
    free(rgb);
    for (size_t i = 0; st == GSCAM_OK && i < n_prompts; i++) {
        gsx_tensor *text;

        st = gs_cam_text(cam, ids + i * context, context, &text);
        if (st == GSCAM_OK && gsx_read_f32(ctx, gs_logits(ctx, cam->model, image_emb, text), logits + i, 1) != GSX_OK)
            st = gs_cam_backend_error(cam, ctx, "scoring");
        if (st == GSCAM_OK && !isfinite(logits[i]))
            st = gs_fail(cam->message, GSCAM_ERR_MODEL,
                         "the logit of prompt %zu is %g; the model gives an image or text embedding of zero "
                         "or infinite norm", i, (double)logits[i]);
    }
    gsx_ctx_free(ctx);
    return st;
}
