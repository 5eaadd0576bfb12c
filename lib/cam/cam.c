/*
 * cam.c - the CAM context: creation, options, and what a computation leaves
 * behind for the caller to read.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cam/cam.h"

/* The gScoreCAM paper's k: 300 of RN50x16's 3,072 channels. */
#define DEFAULT_TOPK 300

gscam_status gs_cam_check(const struct gscam_cam *cam)
{
    if (!cam)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "CAM context handle is NULL");
    if (cam->magic != GS_MAGIC_CAM)
        return gs_fail(NULL, GSCAM_ERR_MISUSE, "CAM context handle is invalid (freed, or not a CAM context)");
    return gs_model_check(cam->model);
}

gscam_status gs_cam_backend_error(struct gscam_cam *cam, gsx_ctx *ctx, const char *step)
{
    int code = gsx_status(ctx);
    gscam_status st = code == GSX_ERR_NOMEM ? GSCAM_ERR_OUT_OF_MEMORY : GSCAM_ERR_BACKEND;

    return gs_fail(cam->message, st, "%s failed: %s", step, gsx_message(ctx));
}

gscam_status gscam_cam_create(gscam_model *model, gscam_cam **out)
{
    struct gscam_cam *cam;
    gscam_status st;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_cam_create: out is NULL");
    *out = NULL;
    if ((st = gs_model_check(model)) != GSCAM_OK)
        return st;
    cam = calloc(1, sizeof *cam);
    if (!cam)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "out of memory creating a CAM context");
    cam->magic = GS_MAGIC_CAM;
    cam->model = model;
    cam->method = GSCAM_METHOD_GSCORECAM;
    cam->topk = DEFAULT_TOPK;
    cam->fit = GSCAM_FIT_SQUASH;
    cam->reuse_buffers = 1;
    *out = cam;
    return GSCAM_OK;
}

void gscam_cam_free(gscam_cam *cam)
{
    if (!cam || cam->magic != GS_MAGIC_CAM)
        return;
    cam->magic = GS_MAGIC_DEAD;
    gsx_ctx_free(cam->text_ctx);
    free(cam->text_ids);
    free(cam->channels);
    free(cam);
}

static gscam_status set_method(struct gscam_cam *cam, int64_t value)
{
    if (value < GSCAM_METHOD_GSCORECAM || value > GSCAM_METHOD_HILACAM)
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "method %lld is unknown", (long long)value);
    if (value == GSCAM_METHOD_HILACAM && !cam->model->arch.is_vit)
        return gs_fail(cam->message, GSCAM_ERR_UNSUPPORTED,
                       "HilaCAM needs a ViT model, and this model is a ResNet (%s)", cam->model->architecture);
    cam->method = (int32_t)value;
    return GSCAM_OK;
}

gscam_status gscam_cam_set(gscam_cam *cam, int32_t option, int64_t value)
{
    gscam_status st = gs_cam_check(cam);

    if (st != GSCAM_OK)
        return st;
    switch (option) {
    case GSCAM_OPT_METHOD:
        return set_method(cam, value);
    case GSCAM_OPT_TOPK:
        if (value < 1)
            return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "top-k is %lld, must be at least 1",
                           (long long)value);
        cam->topk = value;
        return GSCAM_OK;
    case GSCAM_OPT_BATCH:
        if (value < 0 || value > 65536)
            return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT,
                           "batch size is %lld, must be 0 (automatic) to 65536", (long long)value);
        cam->batch = value;
        return GSCAM_OK;
    case GSCAM_OPT_FIT:
        if (value != GSCAM_FIT_SQUASH && value != GSCAM_FIT_CROP)
            return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "fit %lld is unknown (0 squash, 1 crop)",
                           (long long)value);
        cam->fit = (int32_t)value;
        return GSCAM_OK;
    case GSCAM_OPT_THREADS:
        if (value < 0 || value > 4096)
            return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT,
                           "thread count is %lld, must be 0 (every core) to 4096", (long long)value);
        cam->threads = value;
        return GSCAM_OK;
    default:
        return gs_fail(cam->message, GSCAM_ERR_INVALID_ARGUMENT, "CAM option %d is unknown", (int)option);
    }
}

gscam_status gscam_cam_get(const gscam_cam *cam, int32_t option, int64_t *value)
{
    gscam_status st = gs_cam_check(cam);

    if (st != GSCAM_OK)
        return st;
    if (!value)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_cam_get: value is NULL");
    switch (option) {
    case GSCAM_OPT_METHOD: *value = cam->method; break;
    case GSCAM_OPT_TOPK: *value = cam->topk; break;
    case GSCAM_OPT_BATCH: *value = cam->batch; break;
    case GSCAM_OPT_FIT: *value = cam->fit; break;
    case GSCAM_OPT_THREADS: *value = cam->threads; break;
    default:
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "CAM option %d is unknown", (int)option);
    }
    return GSCAM_OK;
}

gscam_status gscam_cam_set_progress(gscam_cam *cam, gscam_progress_fn fn, void *user)
{
    gscam_status st = gs_cam_check(cam);

    if (st != GSCAM_OK)
        return st;
    cam->progress = fn;
    cam->progress_user = user;
    return GSCAM_OK;
}

gscam_status gscam_cam_last_logit(const gscam_cam *cam, double *logit)
{
    gscam_status st = gs_cam_check(cam);

    if (st != GSCAM_OK)
        return st;
    if (!logit)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_cam_last_logit: logit is NULL");
    *logit = cam->last_logit;
    return GSCAM_OK;
}

gscam_status gscam_cam_last_channels(const gscam_cam *cam, int32_t *channels, size_t capacity, size_t *count)
{
    gscam_status st = gs_cam_check(cam);

    if (st != GSCAM_OK)
        return st;
    if (!count || (!channels && capacity > 0))
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_cam_last_channels: NULL output");
    *count = cam->n_channels;
    if (capacity > cam->n_channels)
        capacity = cam->n_channels;
    if (capacity > 0)
        memcpy(channels, cam->channels, capacity * sizeof *channels);
    return GSCAM_OK;
}

const char *gscam_cam_message(const gscam_cam *cam)
{
    return cam && cam->magic == GS_MAGIC_CAM ? cam->message : "";
}
