/*
 * transformer.c - residual attention blocks, shared by the text tower and
 * the ViT visual tower: x + attn(ln_1(x)), then x + mlp(ln_2(x)), with
 * QuickGELU in the MLP.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

/* LayerNorm epsilon of every CLIP transformer. */
#define LN_EPS 1e-5
/* QuickGELU: x * sigmoid(1.702 x). */
#define QUICK_GELU_SCALE 1.702

static gscam_status build_block(struct gscam_model *m, const struct gs_weights *w, const char *prefix, int64_t width,
                                struct gs_resblock *b)
{
    const int64_t in_w[2] = {3 * width, width}, in_b = 3 * width;
    const int64_t out_w[2] = {width, width};
    const int64_t fc_w[2] = {4 * width, width}, fc_b = 4 * width;
    const int64_t proj_w[2] = {width, 4 * width};
    struct {
        const char *suffix;
        const int64_t *shape;
        int ndim;
        gsx_tensor **dst;
    } parts[] = {
        {"ln_1.weight", &width, 1, &b->ln1_w},       {"ln_1.bias", &width, 1, &b->ln1_b},
        {"attn.in_proj_weight", in_w, 2, &b->in_w},  {"attn.in_proj_bias", &in_b, 1, &b->in_b},
        {"attn.out_proj.weight", out_w, 2, &b->out_w}, {"attn.out_proj.bias", &width, 1, &b->out_b},
        {"ln_2.weight", &width, 1, &b->ln2_w},       {"ln_2.bias", &width, 1, &b->ln2_b},
        {"mlp.c_fc.weight", fc_w, 2, &b->fc_w},      {"mlp.c_fc.bias", &fc_b, 1, &b->fc_b},
        {"mlp.c_proj.weight", proj_w, 2, &b->proj_w}, {"mlp.c_proj.bias", &width, 1, &b->proj_b},
    };
    char name[160];
    gscam_status st = GSCAM_OK;

    for (size_t i = 0; st == GSCAM_OK && i < sizeof parts / sizeof parts[0]; i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, parts[i].suffix);
        st = gs_model_take(m, w, name, parts[i].shape, parts[i].ndim, parts[i].dst);
    }
    return st;
}

gscam_status gs_transformer_build(struct gscam_model *m, struct gs_transformer *t, const struct gs_weights *w,
                                  const char *prefix, int width, int heads, int n_layers)
{
    char name[128];
    gscam_status st = GSCAM_OK;

    t->width = width;
    t->heads = heads;
    t->n_layers = n_layers;
    t->blocks = calloc((size_t)n_layers, sizeof *t->blocks);
    if (!t->blocks)
        return gs_fail(m->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for %d blocks", n_layers);
    for (int i = 0; st == GSCAM_OK && i < n_layers; i++) {
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        st = build_block(m, w, name, width, &t->blocks[i]);
    }
    return st;
}

void gs_transformer_free(struct gs_transformer *t)
{
    free(t->blocks);
    t->blocks = NULL;
}

/* Multi-head self-attention on x (N x L x width). */
static gsx_tensor *self_attention(gsx_ctx *ctx, const struct gs_transformer *t, const struct gs_resblock *b,
                                  const gsx_tensor *x, const gsx_tensor *mask, gsx_tensor **probs)
{
    const int64_t n = gsx_size(x, 0), len = gsx_size(x, 1), width = t->width;
    const int64_t d = width / t->heads;
    const int64_t split[4] = {n, len, t->heads, d};
    const int64_t heads_first[4] = {0, 2, 1, 3};
    const int64_t merged[3] = {n, len, width};
    gsx_tensor *qkv, *q, *k, *v, *att;

    qkv = gsx_linear(ctx, x, b->in_w, b->in_b);
    q = gsx_permute(ctx, gsx_reshape(ctx, gsx_slice(ctx, qkv, 2, 0, width), split, 4), heads_first, 4);
    k = gsx_permute(ctx, gsx_reshape(ctx, gsx_slice(ctx, qkv, 2, width, 2 * width), split, 4), heads_first, 4);
    v = gsx_permute(ctx, gsx_reshape(ctx, gsx_slice(ctx, qkv, 2, 2 * width, 3 * width), split, 4), heads_first, 4);
    att = gsx_attention(ctx, q, k, v, mask, 1.0 / sqrt((double)d), probs);
    att = gsx_reshape(ctx, gsx_permute(ctx, att, heads_first, 4), merged, 3);
    return gsx_linear(ctx, att, b->out_w, b->out_b);
}

static gsx_tensor *mlp(gsx_ctx *ctx, const struct gs_resblock *b, const gsx_tensor *x)
{
    gsx_tensor *h = gsx_linear(ctx, x, b->fc_w, b->fc_b);

    h = gsx_mul(ctx, h, gsx_sigmoid(ctx, gsx_mul_scalar(ctx, h, QUICK_GELU_SCALE)));
    return gsx_linear(ctx, h, b->proj_w, b->proj_b);
}

gsx_tensor *gs_transformer_forward(gsx_ctx *ctx, const struct gs_transformer *t, const gsx_tensor *x,
                                   const gsx_tensor *mask, gsx_tensor **probs)
{
    gsx_tensor *h = (gsx_tensor *)x;

    for (int i = 0; i < t->n_layers; i++) {
        const struct gs_resblock *b = &t->blocks[i];
        gsx_tensor **p = probs ? &probs[i] : NULL;
        size_t mark = gsx_mark(ctx);
        gsx_tensor *y;

        y = gsx_add(ctx, h, self_attention(ctx, t, b, gsx_layer_norm(ctx, h, b->ln1_w, b->ln1_b, LN_EPS), mask, p));
        y = gsx_add(ctx, y, mlp(ctx, b, gsx_layer_norm(ctx, y, b->ln2_w, b->ln2_b, LN_EPS)));
        /* Attention probabilities are kept (HilaCAM needs them); the rest goes. */
        if (!probs)
            y = gsx_release_to(ctx, mark, y);
        h = y;
    }
    return h;
}
