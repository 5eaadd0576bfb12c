/*
 * cam.h - the CAM context and the steps of a map computation.
 */
#ifndef GS_CAM_H
#define GS_CAM_H

#include "core/common.h"
#include "gsx.h"
#include "model/model.h"

struct gscam_cam {
    uint32_t magic;
    struct gscam_model *model;
    int32_t method;
    int64_t topk;
    int64_t batch;   /* 0: chosen from the input size */
    int32_t fit;
    int64_t threads; /* 0: every core */
    gscam_progress_fn progress;
    void *progress_user;
    /* 1: reuse libtorch's large buffers within a map (gsx_pool_open). Not
     * an option: the tests turn it off to compare with the plain path. */
    int reuse_buffers;

    /* The last prompt's text embedding, reused while the prompt repeats. */
    gsx_ctx *text_ctx;
    gsx_tensor *text_emb;
    int32_t *text_ids;
    size_t text_len;

    double last_logit;
    int32_t *channels;
    size_t n_channels;
    char message[GS_MSG_SIZE];
};

/* Activations and gradients of the target layer for one input. */
struct gs_target {
    gsx_tensor *activation; /* 1 x C x h x w */
    gsx_tensor *gradient;   /* 1 x C x h x w (ViT: the class token's, repeated) */
    gsx_tensor *importance; /* C: mean gradient per channel */
    double logit;
};

/* Validates a CAM handle: GSCAM_OK or GSCAM_ERR_MISUSE. */
gscam_status gs_cam_check(const struct gscam_cam *cam);

/* Converts R x R x 3 RGB8 to the normalised 1 x 3 x R x R input. */
gsx_tensor *gs_cam_input(gsx_ctx *ctx, const uint8_t *rgb, int r);
/* The text embedding of ids, from the cache or computed and cached. */
gscam_status gs_cam_text(struct gscam_cam *cam, const int32_t *ids, size_t n_ids, gsx_tensor **out);
/* Checks ids against the model's context length and vocabulary. */
gscam_status gs_cam_check_ids(struct gscam_cam *cam, const int32_t *ids, size_t n_ids);

/* Forward and backward pass: the target layer's activation and gradient. */
gscam_status gs_target_compute(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                               struct gs_target *out);

/* Masked inputs scored per pass: the caller's batch size, or one chosen from
 * the input size. */
int64_t gs_cam_batch_size(const struct gscam_cam *cam);
/* Returns the passes needed to score k masked inputs: ceil(k / batch size). */
int64_t gs_cam_batch_count(const struct gscam_cam *cam, int64_t k);

/* Returns where batch i of n starts when k items are split into n batches
 * whose sizes differ by at most one. The larger batches come first, so the
 * buffers of the first pass fit every later one. Batch i ends where batch
 * i + 1 starts. */
static inline int64_t gs_batch_start(int64_t i, int64_t n, int64_t k)
{
    const int64_t q = k / n, larger = k % n;

    return i * q + (i < larger ? i : larger);
}
/* Channel weights (C) of the configured method. */
gscam_status gs_method_weights(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                               const struct gs_target *target, gsx_tensor **weights);

/* sum_c w_c A[c]: 1 x 1 x h x w. */
gsx_tensor *gs_cam_combine(gsx_ctx *ctx, const gsx_tensor *activation, const gsx_tensor *weights);
/* HilaCAM relevance of the class token over the patches: 1 x 1 x g x g. */
gscam_status gs_hilacam(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *text,
                        gsx_tensor **raw);
/* relu(raw), scaled, resized to out_h x out_w, scaled again, written to out.
 * Returns GSCAM_FLAT_MAP when the map is all zero. */
gscam_status gs_cam_finish(struct gscam_cam *cam, gsx_ctx *ctx, const gsx_tensor *raw, int64_t out_h,
                           int64_t out_w, float *out);

/* The whole computation on a preprocessed input, map out_h x out_w. */
gscam_status gs_cam_run(struct gscam_cam *cam, const uint8_t *rgb, const int32_t *ids, size_t n_ids,
                        int64_t out_h, int64_t out_w, float *out);

/* Fails cam with the shim context's error. */
gscam_status gs_cam_backend_error(struct gscam_cam *cam, gsx_ctx *ctx, const char *step);

#endif
