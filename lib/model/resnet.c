/*
 * resnet.c - CLIP's ResNet visual tower ("ModifiedResNet").
 *
 * A stem of three 3x3 convolutions and 2x2 average pooling, four stages of
 * Bottleneck blocks whose strides are done by average pooling, and attention
 * pooling with the mean token as the only query.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/model.h"

/* Batch norm epsilon of every CLIP ResNet. */
#define BN_EPS 1e-5
#define EXPANSION 4

/* Raw tensors of one convolution and the batch norm after it. */
struct conv_bn_raw {
    gsx_tensor *weight;
    gsx_tensor *bn[4]; /* weight, bias, running mean, running variance */
};

static gscam_status get_conv_bn(struct gscam_model *m, const struct gs_weights *w, const char *conv_name,
                                const char *bn_prefix, int64_t out, int64_t in, int64_t k,
                                struct conv_bn_raw *raw)
{
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    const int64_t shape[4] = {out, in, k, k};
    char name[128];
    gscam_status st;

    st = gs_weights_get(w, conv_name, shape, 4, &raw->weight, m->message);
    for (int i = 0; st == GSCAM_OK && i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", bn_prefix, parts[i]);
        st = gs_weights_get(w, name, &out, 1, &raw->bn[i], m->message);
    }
    return st;
}

/* Keeps a convolution weight, in channels-last memory format when the model
 * runs its trunk that way. */
static gscam_status keep_conv_weight(struct gscam_model *m, const gsx_tensor *weight, gsx_tensor **out)
{
    gsx_ctx *scratch;
    gscam_status st;

    if (!m->channels_last)
        return gs_model_keep(m, weight, out);
    scratch = gsx_ctx_new();
    if (!scratch)
        return gs_fail(m->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory converting a convolution weight");
    weight = gsx_channels_last(scratch, weight);
    if (weight)
        st = gs_model_keep(m, weight, out);
    else
        st = gs_fail(m->message, GSCAM_ERR_BACKEND, "converting a convolution weight: %s", gsx_message(scratch));
    gsx_ctx_free(scratch);
    return st;
}

/* Folds inference-mode batch norm into the convolution before it, so the
 * forward pass runs one operation instead of two:
 * w' = w * g / sqrt(v + eps) per output channel, b' = b - mean * g / sqrt(v + eps). */
static gscam_status fold(struct gscam_model *m, const struct conv_bn_raw *raw, struct gs_conv *conv)
{
    const int64_t column[4] = {-1, 1, 1, 1};
    gsx_ctx *scratch = gsx_ctx_new();
    gsx_tensor *scale, *weight, *bias;
    gscam_status st = GSCAM_OK;

    if (!scratch)
        return gs_fail(m->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory folding batch norm");
    scale = gsx_mul(scratch, raw->bn[0], gsx_rsqrt(scratch, gsx_add_scalar(scratch, raw->bn[3], BN_EPS)));
    weight = gsx_mul(scratch, raw->weight, gsx_reshape(scratch, scale, column, 4));
    bias = gsx_sub(scratch, raw->bn[1], gsx_mul(scratch, raw->bn[2], scale));
    if (gsx_status(scratch) != GSX_OK)
        st = gs_fail(m->message, GSCAM_ERR_BACKEND, "folding batch norm: %s", gsx_message(scratch));
    if (st == GSCAM_OK)
        st = keep_conv_weight(m, weight, &conv->weight);
    if (st == GSCAM_OK)
        st = gs_model_keep(m, bias, &conv->bias);
    gsx_ctx_free(scratch);
    return st;
}

/* Keeps a convolution and its batch norm as they are (no folding). */
static gscam_status keep_unfolded(struct gscam_model *m, const struct conv_bn_raw *raw, struct gs_conv *conv,
                                  struct gs_bn *bn)
{
    gsx_tensor **dst[4] = {&bn->weight, &bn->bias, &bn->mean, &bn->var};
    gscam_status st = keep_conv_weight(m, raw->weight, &conv->weight);

    conv->bias = NULL;
    for (int i = 0; st == GSCAM_OK && i < 4; i++)
        st = gs_model_keep(m, raw->bn[i], dst[i]);
    return st;
}

static gscam_status build_conv_bn(struct gscam_model *m, const struct gs_weights *w, const char *conv_name,
                                  const char *bn_prefix, int64_t out, int64_t in, int64_t k, int stride,
                                  struct gs_conv *conv, struct gs_bn *bn)
{
    struct conv_bn_raw raw;
    gscam_status st = get_conv_bn(m, w, conv_name, bn_prefix, out, in, k, &raw);

    if (st != GSCAM_OK)
        return st;
    conv->stride = stride;
    conv->padding = (int)(k / 2);
    if (m->folded)
        return fold(m, &raw, conv);
    return keep_unfolded(m, &raw, conv, bn);
}

static gscam_status build_stem(struct gscam_model *m, const struct gs_weights *w)
{
    const int64_t width = m->arch.vision_width;
    const int64_t outs[3] = {width / 2, width / 2, width};
    const int64_t ins[3] = {3, width / 2, width / 2};
    const int strides[3] = {2, 1, 1};
    char conv_name[64], bn_name[64];
    gscam_status st = GSCAM_OK;

    for (int i = 0; st == GSCAM_OK && i < 3; i++) {
        snprintf(conv_name, sizeof conv_name, "visual.conv%d.weight", i + 1);
        snprintf(bn_name, sizeof bn_name, "visual.bn%d", i + 1);
        st = build_conv_bn(m, w, conv_name, bn_name, outs[i], ins[i], 3, strides[i], &m->resnet.stem[i],
                           &m->resnet.stem_bn[i]);
    }
    return st;
}

static gscam_status build_block(struct gscam_model *m, const struct gs_weights *w, int stage, int index,
                                int64_t inplanes, int64_t planes, struct gs_bottleneck *b)
{
    char p[64], conv[96], bn[96];
    gscam_status st;

    snprintf(p, sizeof p, "visual.layer%d.%d", stage + 1, index);
    b->stride = (stage > 0 && index == 0) ? 2 : 1;
    b->has_downsample = b->stride > 1 || inplanes != planes * EXPANSION;

    snprintf(conv, sizeof conv, "%s.conv1.weight", p);
    snprintf(bn, sizeof bn, "%s.bn1", p);
    st = build_conv_bn(m, w, conv, bn, planes, inplanes, 1, 1, &b->conv1, &b->bn1);
    if (st == GSCAM_OK) {
        snprintf(conv, sizeof conv, "%s.conv2.weight", p);
        snprintf(bn, sizeof bn, "%s.bn2", p);
        st = build_conv_bn(m, w, conv, bn, planes, planes, 3, 1, &b->conv2, &b->bn2);
    }
    if (st == GSCAM_OK) {
        snprintf(conv, sizeof conv, "%s.conv3.weight", p);
        snprintf(bn, sizeof bn, "%s.bn3", p);
        st = build_conv_bn(m, w, conv, bn, planes * EXPANSION, planes, 1, 1, &b->conv3, &b->bn3);
    }
    if (st == GSCAM_OK && b->has_downsample) {
        snprintf(conv, sizeof conv, "%s.downsample.0.weight", p);
        snprintf(bn, sizeof bn, "%s.downsample.1", p);
        st = build_conv_bn(m, w, conv, bn, planes * EXPANSION, inplanes, 1, 1, &b->down, &b->down_bn);
    }
    return st;
}

static gscam_status build_attnpool(struct gscam_model *m, const struct gs_weights *w)
{
    struct gs_resnet *r = &m->resnet;
    const int64_t c = m->arch.target_channels;
    const int64_t e = m->arch.embed_dim;
    const int64_t pos[2] = {(int64_t)m->arch.grid * m->arch.grid + 1, c};
    const int64_t square[2] = {c, c};
    const int64_t out[2] = {e, c};
    gscam_status st;

    r->heads = m->arch.vision_heads;
    st = gs_model_take(m, w, "visual.attnpool.positional_embedding", pos, 2, &r->pos_embedding);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.q_proj.weight", square, 2, &r->q_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.q_proj.bias", &c, 1, &r->q_b);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.k_proj.weight", square, 2, &r->k_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.k_proj.bias", &c, 1, &r->k_b);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.v_proj.weight", square, 2, &r->v_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.v_proj.bias", &c, 1, &r->v_b);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.c_proj.weight", out, 2, &r->c_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.attnpool.c_proj.bias", &e, 1, &r->c_b);
    return st;
}

gscam_status gs_resnet_build(struct gscam_model *m, const struct gs_weights *w, int fold_bn)
{
    struct gs_resnet *r = &m->resnet;
    int64_t inplanes = m->arch.vision_width;
    gscam_status st;
    int n = 0;

    m->folded = fold_bn;
    for (int s = 0; s < 4; s++) {
        r->blocks_per_stage[s] = m->arch.blocks_per_stage[s];
        r->n_blocks += r->blocks_per_stage[s];
    }
    r->blocks = calloc((size_t)r->n_blocks, sizeof *r->blocks);
    if (!r->blocks)
        return gs_fail(m->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for %d blocks", r->n_blocks);

    st = build_stem(m, w);
    for (int s = 0; st == GSCAM_OK && s < 4; s++) {
        int64_t planes = (int64_t)m->arch.vision_width << s;

        for (int i = 0; st == GSCAM_OK && i < r->blocks_per_stage[s]; i++) {
            st = build_block(m, w, s, i, inplanes, planes, &r->blocks[n++]);
            inplanes = planes * EXPANSION;
        }
    }
    if (st == GSCAM_OK)
        st = build_attnpool(m, w);
    return st;
}

/* ---- forward ------------------------------------------------------------- */

static gsx_tensor *conv_bn(gsx_ctx *ctx, const struct gs_conv *conv, const struct gs_bn *bn, const gsx_tensor *x)
{
    gsx_tensor *y = gsx_conv2d(ctx, x, conv->weight, conv->bias, conv->stride, conv->padding);

    if (bn->weight)
        y = gsx_batch_norm(ctx, y, bn->weight, bn->bias, bn->mean, bn->var, BN_EPS);
    return y;
}

/* Returns conv_bn followed by a ReLU. The trunk runs without autograd, so the
 * ReLU and the residual addition below work in place, and each saves one
 * activation's allocation. */
static gsx_tensor *conv_bn_relu(gsx_ctx *ctx, const struct gs_conv *conv, const struct gs_bn *bn, const gsx_tensor *x)
{
    gsx_tensor *y = conv_bn(ctx, conv, bn, x);

    gsx_relu_in_place(ctx, y);
    return y;
}

static gsx_tensor *bottleneck(gsx_ctx *ctx, const struct gs_bottleneck *b, const gsx_tensor *x)
{
    size_t mark = gsx_mark(ctx);
    gsx_tensor *out, *identity = (gsx_tensor *)x;

    out = conv_bn_relu(ctx, &b->conv1, &b->bn1, x);
    out = conv_bn_relu(ctx, &b->conv2, &b->bn2, out);
    if (b->stride > 1)
        out = gsx_avg_pool2d(ctx, out, b->stride);
    out = conv_bn(ctx, &b->conv3, &b->bn3, out);

    if (b->has_downsample) {
        gsx_tensor *pooled = b->stride > 1 ? gsx_avg_pool2d(ctx, x, b->stride) : (gsx_tensor *)x;
        identity = conv_bn(ctx, &b->down, &b->down_bn, pooled);
    }
    gsx_add_in_place(ctx, out, identity);
    gsx_relu_in_place(ctx, out);
    return gsx_release_to(ctx, mark, out);
}

gsx_tensor *gs_resnet_trunk(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *x)
{
    const struct gs_resnet *r = &m->resnet;
    size_t mark = gsx_mark(ctx);
    gsx_tensor *h = m->channels_last ? gsx_channels_last(ctx, x) : (gsx_tensor *)x;

    for (int i = 0; i < 3; i++)
        h = conv_bn_relu(ctx, &r->stem[i], &r->stem_bn[i], h);
    h = gsx_release_to(ctx, mark, gsx_avg_pool2d(ctx, h, 2));

    for (int i = 0; i < r->n_blocks; i++) {
        size_t before = gsx_mark(ctx);
        gsx_tensor *next = bottleneck(ctx, &r->blocks[i], h);

        /* Drop the block's input as soon as its output exists. */
        h = gsx_release_to(ctx, before - 1, next);
    }
    return h;
}

gsx_tensor *gs_resnet_attnpool(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *a)
{
    const struct gs_resnet *r = &m->resnet;
    const int64_t n = gsx_size(a, 0), c = gsx_size(a, 1);
    const int64_t hw = gsx_size(a, 2) * gsx_size(a, 3);
    const int64_t d = c / r->heads;
    const int64_t flat[3] = {n, c, hw};
    const int64_t to_tokens[3] = {0, 2, 1};
    const int64_t mean_dim = 1;
    const int64_t heads_q[4] = {n, 1, r->heads, d};
    const int64_t heads_kv[4] = {n, hw + 1, r->heads, d};
    const int64_t split[4] = {0, 2, 1, 3};
    const int64_t merged[2] = {n, c};
    size_t mark = gsx_mark(ctx);
    gsx_tensor *tokens, *parts[2], *q, *k, *v, *att;

    /* Tokens N x (1 + hw) x C: the mean token first, then every position. */
    tokens = gsx_permute(ctx, gsx_reshape(ctx, a, flat, 3), to_tokens, 3);
    parts[0] = gsx_mean(ctx, tokens, &mean_dim, 1, 1);
    parts[1] = tokens;
    tokens = gsx_add(ctx, gsx_cat(ctx, parts, 2, 1), r->pos_embedding);

    q = gsx_linear(ctx, gsx_slice(ctx, tokens, 1, 0, 1), r->q_w, r->q_b);
    k = gsx_linear(ctx, tokens, r->k_w, r->k_b);
    v = gsx_linear(ctx, tokens, r->v_w, r->v_b);
    q = gsx_permute(ctx, gsx_reshape(ctx, q, heads_q, 4), split, 4);
    k = gsx_permute(ctx, gsx_reshape(ctx, k, heads_kv, 4), split, 4);
    v = gsx_permute(ctx, gsx_reshape(ctx, v, heads_kv, 4), split, 4);

    att = gsx_attention(ctx, q, k, v, NULL, 1.0 / sqrt((double)d), NULL);
    att = gsx_reshape(ctx, gsx_permute(ctx, att, split, 4), merged, 2);
    return gsx_release_to(ctx, mark, gsx_linear(ctx, att, r->c_w, r->c_b));
}
