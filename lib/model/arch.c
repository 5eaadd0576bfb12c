/*
 * arch.c - architecture inference from a CLIP state dict.
 *
 * No archive records its architecture; like OpenAI's loader, the sizes are
 * read off the tensor shapes, and attention heads follow the fixed rule of
 * 64 channels per head.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/model.h"

/* Channels per attention head in every CLIP model. */
#define HEAD_CHANNELS 64

struct release {
    const char *name;
    int is_vit;
    int width;
    int layers[4]; /* ResNet blocks per stage; ViT: layers[0] blocks */
    int patch;
    int resolution;
    int embed_dim;
};

/* OpenAI's released models, to name an archive of the same layout. */
static const struct release releases[] = {
    {"RN50", 0, 64, {3, 4, 6, 3}, 0, 224, 1024},
    {"RN101", 0, 64, {3, 4, 23, 3}, 0, 224, 512},
    {"RN50x4", 0, 80, {4, 6, 10, 6}, 0, 288, 640},
    {"RN50x16", 0, 96, {6, 8, 18, 8}, 0, 384, 768},
    {"RN50x64", 0, 128, {3, 15, 36, 10}, 0, 448, 1024},
    {"ViT-B/32", 1, 768, {12}, 32, 224, 512},
    {"ViT-B/16", 1, 768, {12}, 16, 224, 512},
    {"ViT-L/14", 1, 1024, {24}, 14, 224, 768},
    {"ViT-L/14@336px", 1, 1024, {24}, 14, 336, 768},
};

/* Returns the integer square root of n, or -1 if n is not a perfect square. */
static int exact_sqrt(int64_t n)
{
    int64_t r;

    if (n < 1)
        return -1;
    r = (int64_t)llround(sqrt((double)n));
    return r * r == n ? (int)r : -1;
}

static gscam_status dim_of(const struct gs_weights *w, const char *name, int d, int ndim, int64_t *out,
                           char *msg)
{
    gsx_tensor *t = gs_weights_find(w, name);

    if (!t)
        return gs_fail(msg, GSCAM_ERR_MODEL, "tensor %s is missing from the archive", name);
    if (gsx_ndim(t) != ndim)
        return gs_fail(msg, GSCAM_ERR_MODEL, "tensor %s has %d dimensions, expected %d", name,
                       gsx_ndim(t), ndim);
    *out = gsx_size(t, d);
    if (*out < 1 || *out > (1 << 20))
        return gs_fail(msg, GSCAM_ERR_MODEL, "tensor %s has an implausible size %lld", name,
                       (long long)*out);
    return GSCAM_OK;
}

static gscam_status infer_resnet(const struct gs_weights *w, struct gs_arch *a, char *msg)
{
    int64_t width, pos_rows;
    gscam_status st;
    char prefix[32];
    int side;

    a->vision_layers = 0;
    for (int s = 0; s < 4; s++) {
        snprintf(prefix, sizeof prefix, "visual.layer%d", s + 1);
        a->blocks_per_stage[s] = gs_weights_count_indexed(w, prefix);
        if (a->blocks_per_stage[s] < 1 && s == 0)
            return gs_fail(msg, GSCAM_ERR_MODEL,
                           "archive is not a CLIP model: it has neither visual.proj (ViT) nor blocks under "
                           "visual.layer1 (ResNet)");
        if (a->blocks_per_stage[s] < 1)
            return gs_fail(msg, GSCAM_ERR_MODEL, "ResNet archive has no blocks under %s", prefix);
        a->vision_layers += a->blocks_per_stage[s];
    }
    if ((st = dim_of(w, "visual.layer1.0.conv1.weight", 0, 4, &width, msg)) != GSCAM_OK)
        return st;
    if ((st = dim_of(w, "visual.attnpool.positional_embedding", 0, 2, &pos_rows, msg)) != GSCAM_OK)
        return st;
    side = exact_sqrt(pos_rows - 1);
    if (side < 0)
        return gs_fail(msg, GSCAM_ERR_MODEL,
                       "visual.attnpool.positional_embedding has %lld rows, not a square plus one",
                       (long long)pos_rows);
    if ((32 * width) % HEAD_CHANNELS != 0)
        return gs_fail(msg, GSCAM_ERR_MODEL, "vision width %lld gives %lld attention-pool channels, "
                       "not a multiple of %d", (long long)width, (long long)(32 * width), HEAD_CHANNELS);
    a->vision_width = (int)width;
    a->vision_heads = (int)(32 * width / HEAD_CHANNELS);
    a->grid = side;
    a->input_resolution = 32 * side;
    a->target_channels = (int)(32 * width);
    return GSCAM_OK;
}

static gscam_status infer_vit(const struct gs_weights *w, struct gs_arch *a, char *msg)
{
    int64_t width, patch, pos_rows;
    gscam_status st;

    if ((st = dim_of(w, "visual.conv1.weight", 0, 4, &width, msg)) != GSCAM_OK)
        return st;
    if ((st = dim_of(w, "visual.conv1.weight", 3, 4, &patch, msg)) != GSCAM_OK)
        return st;
    if ((st = dim_of(w, "visual.positional_embedding", 0, 2, &pos_rows, msg)) != GSCAM_OK)
        return st;
    a->grid = exact_sqrt(pos_rows - 1);
    if (a->grid < 0)
        return gs_fail(msg, GSCAM_ERR_MODEL,
                       "visual.positional_embedding has %lld rows, not a square plus one",
                       (long long)pos_rows);
    if (width % HEAD_CHANNELS != 0)
        return gs_fail(msg, GSCAM_ERR_MODEL, "vision width %lld is not a multiple of %d",
                       (long long)width, HEAD_CHANNELS);
    a->vision_layers = gs_weights_count_indexed(w, "visual.transformer.resblocks");
    if (a->vision_layers < 1)
        return gs_fail(msg, GSCAM_ERR_MODEL, "archive has visual.proj but no visual.transformer.resblocks");
    a->is_vit = 1;
    a->vision_width = (int)width;
    a->vision_heads = (int)(width / HEAD_CHANNELS);
    a->patch = (int)patch;
    a->input_resolution = (int)(patch * a->grid);
    a->target_channels = (int)width;
    return GSCAM_OK;
}

static gscam_status infer_text(const struct gs_weights *w, struct gs_arch *a, char *msg)
{
    int64_t embed, context, vocab, width;
    gscam_status st;

    if ((st = dim_of(w, "text_projection", 1, 2, &embed, msg)) != GSCAM_OK ||
        (st = dim_of(w, "positional_embedding", 0, 2, &context, msg)) != GSCAM_OK ||
        (st = dim_of(w, "token_embedding.weight", 0, 2, &vocab, msg)) != GSCAM_OK ||
        (st = dim_of(w, "ln_final.weight", 0, 1, &width, msg)) != GSCAM_OK)
        return st;
    if (width % HEAD_CHANNELS != 0)
        return gs_fail(msg, GSCAM_ERR_MODEL, "text width %lld is not a multiple of %d", (long long)width,
                       HEAD_CHANNELS);
    a->embed_dim = (int)embed;
    a->context_length = (int)context;
    a->vocab_size = (int)vocab;
    a->text_width = (int)width;
    a->text_heads = (int)(width / HEAD_CHANNELS);
    a->text_layers = gs_weights_count_indexed(w, "transformer.resblocks");
    if (a->text_layers < 1)
        return gs_fail(msg, GSCAM_ERR_MODEL, "archive has no transformer.resblocks (text tower)");
    return GSCAM_OK;
}

/* Compares an optional metadata scalar with the value read off the shapes. */
static gscam_status check_metadata(const struct gs_weights *w, gsx_ctx *ctx, const char *name,
                                   int inferred, const char *source, char *msg)
{
    int64_t value;

    if (!gs_weights_scalar_i64(w, ctx, name, &value) || value == inferred)
        return GSCAM_OK;
    return gs_fail(msg, GSCAM_ERR_MODEL, "archive metadata %s is %lld but %s gives %d", name,
                   (long long)value, source, inferred);
}

gscam_status gs_arch_infer(const struct gs_weights *w, gsx_ctx *ctx, struct gs_arch *arch, char *msg)
{
    gscam_status st;

    memset(arch, 0, sizeof *arch);
    if (gs_weights_find(w, "visual.proj"))
        st = infer_vit(w, arch, msg);
    else
        st = infer_resnet(w, arch, msg);
    if (st == GSCAM_OK)
        st = infer_text(w, arch, msg);
    if (st == GSCAM_OK)
        st = check_metadata(w, ctx, "input_resolution", arch->input_resolution,
                            "the positional embedding", msg);
    if (st == GSCAM_OK)
        st = check_metadata(w, ctx, "context_length", arch->context_length, "positional_embedding", msg);
    if (st == GSCAM_OK)
        st = check_metadata(w, ctx, "vocab_size", arch->vocab_size, "token_embedding.weight", msg);
    return st;
}

const char *gs_arch_name(const struct gs_arch *a)
{
    for (size_t i = 0; i < sizeof releases / sizeof releases[0]; i++) {
        const struct release *r = &releases[i];
        int same = r->is_vit == a->is_vit && r->width == a->vision_width &&
                   r->resolution == a->input_resolution && r->embed_dim == a->embed_dim;

        if (same && a->is_vit)
            same = r->patch == a->patch && r->layers[0] == a->vision_layers;
        for (int s = 0; same && !a->is_vit && s < 4; s++)
            same = r->layers[s] == a->blocks_per_stage[s];
        if (same)
            return r->name;
    }
    return a->is_vit ? "ViT" : "ResNet";
}
