/*
 * model.c - loading a CLIP archive into a model handle, and the embeddings
 * and logits every method is built from.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* Defaults of the load limits: far above every released model (RN50x64 has
 * 1,357 tensors and 1.3 GB of fp32 data) and far below what a crafted
 * archive could claim. */
#define DEFAULT_MAX_TENSORS 100000
#define DEFAULT_MAX_BYTES (16ull << 30)
/* oneDNN's CPU convolutions run on channels-last tensors without converting
 * each input and output to and from their blocked layout. */
#define DEFAULT_CHANNELS_LAST 1

gscam_status gs_model_check(const struct gscam_model *m)
{
    if (!m)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "model handle is NULL");
    if (m->magic != GS_MAGIC_MODEL)
        return gs_fail(NULL, GSCAM_ERR_MISUSE, "model handle is invalid (freed, or not a model)");
    return GSCAM_OK;
}

gscam_status gs_model_keep(struct gscam_model *m, const gsx_tensor *t, gsx_tensor **out)
{
    gsx_tensor *kept;

    if (strcmp(m->device, "cpu") == 0)
        kept = gsx_detach(m->weights, t);
    else
        kept = gsx_to_device(m->weights, t, m->device);
    if (!kept)
        return gs_fail(m->message, GSCAM_ERR_BACKEND, "keeping a weight: %s", gsx_message(m->weights));
    *out = kept;
    return GSCAM_OK;
}

gscam_status gs_model_take(struct gscam_model *m, const struct gs_weights *w, const char *name,
                           const int64_t *shape, int ndim, gsx_tensor **out)
{
    gsx_tensor *t;
    gscam_status st = gs_weights_get(w, name, shape, ndim, &t, m->message);

    if (st != GSCAM_OK)
        return st;
    return gs_model_keep(m, t, out);
}

static gscam_status read_options(const gscam_option_list *options, uint64_t *max_tensors, uint64_t *max_bytes,
                                 int *fold)
{
    static const int64_t known[] = {GSCAM_LOAD_MAX_TENSORS, GSCAM_LOAD_MAX_BYTES, GSCAM_LOAD_FOLD_BATCH_NORM};
    int64_t v;
    gscam_status st = gs_option_check(options, known, sizeof known / sizeof known[0]);

    if (st != GSCAM_OK)
        return st;
    *max_tensors = DEFAULT_MAX_TENSORS;
    *max_bytes = DEFAULT_MAX_BYTES;
    *fold = 1;
    if (gs_option_find(options, GSCAM_LOAD_MAX_TENSORS, &v)) {
        if (v < 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "GSCAM_LOAD_MAX_TENSORS is %lld, must be >= 1",
                           (long long)v);
        *max_tensors = (uint64_t)v;
    }
    if (gs_option_find(options, GSCAM_LOAD_MAX_BYTES, &v)) {
        if (v < 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "GSCAM_LOAD_MAX_BYTES is %lld, must be >= 1",
                           (long long)v);
        *max_bytes = (uint64_t)v;
    }
    if (gs_option_find(options, GSCAM_LOAD_FOLD_BATCH_NORM, &v)) {
        if (v != 0 && v != 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "GSCAM_LOAD_FOLD_BATCH_NORM is %lld, must be 0 or 1",
                           (long long)v);
        *fold = (int)v;
    }
    return GSCAM_OK;
}

static gscam_status read_logit_scale(struct gscam_model *m, const struct gs_weights *w, gsx_ctx *ctx)
{
    gsx_tensor *t;
    float value;
    gscam_status st = gs_weights_get(w, "logit_scale", NULL, 0, &t, m->message);

    if (st != GSCAM_OK)
        return st;
    if (gsx_read_f32(ctx, t, &value, 1) != GSX_OK)
        return gs_fail(m->message, GSCAM_ERR_BACKEND, "reading logit_scale: %s", gsx_message(ctx));
    m->logit_scale_exp = expf(value);
    if (!isfinite(m->logit_scale_exp))
        return gs_fail(m->message, GSCAM_ERR_MODEL, "logit_scale %g overflows exp()", (double)value);
    return GSCAM_OK;
}

static void name_model(struct gscam_model *m)
{
    snprintf(m->architecture, sizeof m->architecture, "%s", gs_arch_name(&m->arch));
    if (m->arch.is_vit)
        snprintf(m->target_layer, sizeof m->target_layer, "visual.transformer.resblocks.%d",
                 m->arch.vision_layers - 1);
    else
        snprintf(m->target_layer, sizeof m->target_layer, "visual.layer4");
}

/* Reads the archive into a temporary context, then keeps in the model only
 * the tensors the towers use (batch norm folded), so the unused and unfolded
 * copies are freed with the temporary context. */
static gscam_status load_into(struct gscam_model *m, const char *path, uint64_t max_tensors, uint64_t max_bytes,
                              int fold)
{
    gsx_ctx *load = gsx_ctx_new();
    struct gs_weights *w = NULL;
    gscam_status st;

    if (!load)
        return gs_fail(m->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    st = gs_weights_load(load, path, (size_t)max_tensors, max_bytes, &w, m->message);
    if (st == GSCAM_OK)
        st = gs_arch_infer(w, load, &m->arch, m->message);
    if (st == GSCAM_OK)
        st = read_logit_scale(m, w, load);
    if (st == GSCAM_OK)
        st = m->arch.is_vit ? gs_vit_build(m, w) : gs_resnet_build(m, w, fold);
    if (st == GSCAM_OK)
        st = gs_text_build(m, w);
    gs_weights_free(w);
    gsx_ctx_free(load);
    if (st != GSCAM_OK && m->message[0] && !strstr(m->message, path)) {
        char detail[GS_MSG_SIZE];

        memcpy(detail, m->message, sizeof detail);
        return gs_fail(m->message, st, "model %s: %s", path, detail);
    }
    return st;
}

gscam_status gscam_model_load(const char *path, const char *device, const gscam_option_list *options,
                              gscam_model **out)
{
    return gs_model_load(path, device, options, DEFAULT_CHANNELS_LAST, out);
}

gscam_status gs_model_load(const char *path, const char *device, const gscam_option_list *options,
                           int channels_last, gscam_model **out)
{
    struct gscam_model *m;
    uint64_t max_tensors, max_bytes;
    int fold;
    char why[GS_MSG_SIZE];
    gscam_status st;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_model_load: path is NULL");
    if (!device || !*device)
        device = "cpu";
    if ((st = read_options(options, &max_tensors, &max_bytes, &fold)) != GSCAM_OK)
        return st;
    if (strlen(device) >= sizeof m->device)
        return gs_fail(NULL, GSCAM_ERR_DEVICE, "device name is %zu bytes long, too long", strlen(device));
    if (gsx_device_check(device, why, sizeof why) != GSX_OK)
        return gs_fail(NULL, GSCAM_ERR_DEVICE, "%s", why);

    m = calloc(1, sizeof *m);
    if (!m || !(m->weights = gsx_ctx_new())) {
        free(m);
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);
    }
    m->magic = GS_MAGIC_MODEL;
    m->channels_last = channels_last != 0;
    snprintf(m->device, sizeof m->device, "%s", device);

    st = load_into(m, path, max_tensors, max_bytes, fold);
    if (st != GSCAM_OK) {
        gscam_model_free(m);
        return st;
    }
    name_model(m);
    gs_log("loaded %s: %s, input %d px, %d target channels", path, m->architecture, m->arch.input_resolution,
           m->arch.target_channels);
    *out = m;
    return GSCAM_OK;
}

void gscam_model_free(gscam_model *m)
{
    if (!m || m->magic != GS_MAGIC_MODEL)
        return;
    m->magic = GS_MAGIC_DEAD;
    free(m->resnet.blocks);
    gs_transformer_free(&m->vit.tower);
    gs_transformer_free(&m->text.tower);
    gsx_ctx_free(m->weights);
    free(m);
}

gscam_status gscam_model_info(const gscam_model *m, int32_t key, int64_t *value)
{
    gscam_status st = gs_model_check(m);

    if (st != GSCAM_OK)
        return st;
    if (!value)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_model_info: value is NULL");
    switch (key) {
    case GSCAM_INFO_INPUT_RESOLUTION: *value = m->arch.input_resolution; break;
    case GSCAM_INFO_EMBED_DIM: *value = m->arch.embed_dim; break;
    case GSCAM_INFO_CONTEXT_LENGTH: *value = m->arch.context_length; break;
    case GSCAM_INFO_VOCAB_SIZE: *value = m->arch.vocab_size; break;
    case GSCAM_INFO_TARGET_CHANNELS: *value = m->arch.target_channels; break;
    case GSCAM_INFO_GRID: *value = m->arch.grid; break;
    case GSCAM_INFO_IS_VIT: *value = m->arch.is_vit; break;
    case GSCAM_INFO_VISION_WIDTH: *value = m->arch.vision_width; break;
    case GSCAM_INFO_VISION_LAYERS: *value = m->arch.vision_layers; break;
    case GSCAM_INFO_TEXT_WIDTH: *value = m->arch.text_width; break;
    case GSCAM_INFO_TEXT_LAYERS: *value = m->arch.text_layers; break;
    default:
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_model_info: unknown key %d", (int)key);
    }
    return GSCAM_OK;
}

const char *gscam_model_architecture(const gscam_model *m)
{
    return gs_model_check(m) == GSCAM_OK ? m->architecture : "";
}

const char *gscam_model_target_layer(const gscam_model *m)
{
    return gs_model_check(m) == GSCAM_OK ? m->target_layer : "";
}

const char *gscam_model_message(const gscam_model *m)
{
    return gs_model_check(m) == GSCAM_OK ? m->message : "";
}

/* ---- embeddings and logits ----------------------------------------------- */

gsx_tensor *gs_image_embed(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *x)
{
    size_t mark = gsx_mark(ctx);
    gsx_tensor *e;

    if (m->arch.is_vit)
        e = gs_vit_head(ctx, m, gs_vit_trunk(ctx, m, x, NULL));
    else
        e = gs_resnet_attnpool(ctx, m, gs_resnet_trunk(ctx, m, x));
    return gsx_release_to(ctx, mark, e);
}

gsx_tensor *gs_logits(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *image_emb,
                      const gsx_tensor *text_emb)
{
    size_t mark = gsx_mark(ctx);
    gsx_tensor *img = gsx_l2_normalize(ctx, image_emb, 1);
    gsx_tensor *txt = gsx_l2_normalize(ctx, text_emb, 1);
    gsx_tensor *cos = gsx_matmul(ctx, img, gsx_transpose(ctx, txt, 0, 1));
    const int64_t flat = -1;

    cos = gsx_reshape(ctx, cos, &flat, 1);
    return gsx_release_to(ctx, mark, gsx_mul_scalar(ctx, cos, m->logit_scale_exp));
}
