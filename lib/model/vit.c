/*
 * vit.c - CLIP's ViT visual tower: patch embedding by a strided convolution
 * without bias, the class token, positional embedding, ln_pre, residual
 * blocks, then ln_post on the class token and the projection.
 *
 * Tokens are kept batch-first (N x L x width) inside the library; CLIP's own
 * code runs sequence-first, which changes nothing in the values.
 */
#include "model/model.h"

#define LN_EPS 1e-5

gscam_status gs_vit_build(struct gscam_model *m, const struct gs_weights *w)
{
    const struct gs_arch *a = &m->arch;
    struct gs_vit *v = &m->vit;
    const int64_t width = a->vision_width;
    const int64_t conv[4] = {width, 3, a->patch, a->patch};
    const int64_t pos[2] = {(int64_t)a->grid * a->grid + 1, width};
    const int64_t proj[2] = {width, a->embed_dim};
    gscam_status st;

    v->patch = a->patch;
    st = gs_model_take(m, w, "visual.conv1.weight", conv, 4, &v->conv_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.class_embedding", &width, 1, &v->class_embedding);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.positional_embedding", pos, 2, &v->pos_embedding);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.ln_pre.weight", &width, 1, &v->ln_pre_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.ln_pre.bias", &width, 1, &v->ln_pre_b);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.ln_post.weight", &width, 1, &v->ln_post_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.ln_post.bias", &width, 1, &v->ln_post_b);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "visual.proj", proj, 2, &v->proj);
    if (st == GSCAM_OK)
        st = gs_transformer_build(m, &v->tower, w, "visual.transformer.resblocks", a->vision_width,
                                  a->vision_heads, a->vision_layers);
    return st;
}

gsx_tensor *gs_vit_trunk(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *x, gsx_tensor **probs)
{
    const struct gs_vit *v = &m->vit;
    const int64_t n = gsx_size(x, 0), width = m->arch.vision_width;
    const int64_t cells = (int64_t)m->arch.grid * m->arch.grid;
    const int64_t flat[3] = {n, width, cells};
    const int64_t to_tokens[3] = {0, 2, 1};
    const int64_t cls_shape[3] = {1, 1, width};
    const int64_t cls_reps[3] = {n, 1, 1};
    size_t mark = gsx_mark(ctx);
    gsx_tensor *patches, *parts[2], *tokens;

    patches = gsx_conv2d(ctx, x, v->conv_w, NULL, v->patch, 0);
    patches = gsx_permute(ctx, gsx_reshape(ctx, patches, flat, 3), to_tokens, 3);
    parts[0] = gsx_repeat(ctx, gsx_reshape(ctx, v->class_embedding, cls_shape, 3), cls_reps, 3);
    parts[1] = patches;
    tokens = gsx_add(ctx, gsx_cat(ctx, parts, 2, 1), v->pos_embedding);
    tokens = gsx_layer_norm(ctx, tokens, v->ln_pre_w, v->ln_pre_b, LN_EPS);
    if (!probs)
        tokens = gsx_release_to(ctx, mark, tokens);
    return gs_transformer_forward(ctx, &v->tower, tokens, NULL, probs);
}

gsx_tensor *gs_vit_head(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *tokens)
{
    const struct gs_vit *v = &m->vit;
    size_t mark = gsx_mark(ctx);
    gsx_tensor *cls = gsx_select(ctx, tokens, 1, 0);

    cls = gsx_layer_norm(ctx, cls, v->ln_post_w, v->ln_post_b, LN_EPS);
    return gsx_release_to(ctx, mark, gsx_matmul(ctx, cls, v->proj));
}
