/*
 * text.c - CLIP's text tower: token and positional embeddings, residual
 * blocks with a causal mask, ln_final, the features at the end token and the
 * text projection.
 */
#include <math.h>
#include <stdlib.h>

#include "model/model.h"

#define LN_EPS 1e-5

/* Additive causal mask: position i attends to 0..i only. */
static gscam_status build_causal_mask(struct gscam_model *m)
{
    const int64_t n = m->arch.context_length;
    const int64_t shape[2] = {n, n};
    float *mask = malloc((size_t)(n * n) * sizeof *mask);
    gsx_ctx *scratch = gsx_ctx_new();
    gscam_status st;

    if (!mask || !scratch) {
        free(mask);
        gsx_ctx_free(scratch);
        return gs_fail(m->message, GSCAM_ERR_OUT_OF_MEMORY, "out of memory for the causal mask");
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++)
            mask[i * n + j] = j > i ? -INFINITY : 0.0f;
    st = gs_model_keep(m, gsx_from_f32(scratch, mask, shape, 2), &m->text.causal_mask);
    free(mask);
    gsx_ctx_free(scratch);
    return st;
}

gscam_status gs_text_build(struct gscam_model *m, const struct gs_weights *w)
{
    const struct gs_arch *a = &m->arch;
    struct gs_text *t = &m->text;
    const int64_t tok[2] = {a->vocab_size, a->text_width};
    const int64_t pos[2] = {a->context_length, a->text_width};
    const int64_t width = a->text_width;
    const int64_t proj[2] = {a->text_width, a->embed_dim};
    gscam_status st;

    st = gs_model_take(m, w, "token_embedding.weight", tok, 2, &t->token_embedding);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "positional_embedding", pos, 2, &t->pos_embedding);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "ln_final.weight", &width, 1, &t->ln_final_w);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "ln_final.bias", &width, 1, &t->ln_final_b);
    if (st == GSCAM_OK)
        st = gs_model_take(m, w, "text_projection", proj, 2, &t->projection);
    if (st == GSCAM_OK)
        st = gs_transformer_build(m, &t->tower, w, "transformer.resblocks", a->text_width, a->text_heads,
                                  a->text_layers);
    if (st == GSCAM_OK)
        st = build_causal_mask(m);
    return st;
}

gsx_tensor *gs_text_embed(gsx_ctx *ctx, const struct gscam_model *m, const int32_t *ids, size_t n_ids)
{
    const struct gs_text *t = &m->text;
    const int64_t len = (int64_t)n_ids;
    const int64_t batched[3] = {1, len, m->arch.text_width};
    size_t mark = gsx_mark(ctx);
    int64_t *ids64 = malloc(n_ids * sizeof *ids64);
    size_t end = 0;
    gsx_tensor *x, *index;

    if (!ids64) {
        gsx_fail(ctx, GSX_ERR_NOMEM, "out of memory for token ids");
        return NULL;
    }
    /* The end token has the largest id, as in CLIP's own vocabulary. */
    for (size_t i = 0; i < n_ids; i++) {
        ids64[i] = ids[i];
        if (ids[i] > ids[end])
            end = i;
    }
    index = gsx_from_i64(ctx, ids64, &len, 1);
    free(ids64);

    x = gsx_add(ctx, gsx_index_select(ctx, t->token_embedding, 0, index), t->pos_embedding);
    x = gsx_reshape(ctx, x, batched, 3);
    x = gs_transformer_forward(ctx, &t->tower, x, t->causal_mask, NULL);
    x = gsx_layer_norm(ctx, x, t->ln_final_w, t->ln_final_b, LN_EPS);
    x = gsx_select(ctx, gsx_select(ctx, x, 0, 0), 0, (int64_t)end);
    x = gsx_unsqueeze(ctx, gsx_matmul(ctx, x, t->projection), 0);
    return gsx_release_to(ctx, mark, x);
}
