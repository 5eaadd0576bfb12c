/*
 * model.h - CLIP models written over the shim's tensor operations.
 *
 * A model owns one shim context holding its weights (float32, on its device,
 * batch norm folded into the convolutions when asked). Forward functions take
 * a separate work context for everything they create, so a loaded model is
 * read-only and many CAM contexts may share it.
 */
#ifndef GS_MODEL_H
#define GS_MODEL_H

#include "core/common.h"
#include "gsx.h"

/* A convolution without bias, or with the bias batch-norm folding produced. */
struct gs_conv {
    gsx_tensor *weight;
    gsx_tensor *bias; /* NULL unless batch norm was folded in */
    int stride;
    int padding;
};

/* Batch norm in inference mode; all NULL once folded into a convolution. */
struct gs_bn {
    gsx_tensor *weight, *bias, *mean, *var;
};

struct gs_bottleneck {
    struct gs_conv conv1, conv2, conv3, down;
    struct gs_bn bn1, bn2, bn3, down_bn;
    int stride;        /* 1, or 2 for the first block of stages 2-4 */
    int has_downsample;
};

struct gs_resnet {
    struct gs_conv stem[3];
    struct gs_bn stem_bn[3];
    int blocks_per_stage[4];
    int n_blocks;
    struct gs_bottleneck *blocks;
    /* attention pooling */
    gsx_tensor *pos_embedding; /* (hw + 1) x C */
    gsx_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *c_w, *c_b;
    int heads;
};

/* One residual attention block of a transformer (text tower or ViT). */
struct gs_resblock {
    gsx_tensor *ln1_w, *ln1_b, *in_w, *in_b, *out_w, *out_b;
    gsx_tensor *ln2_w, *ln2_b, *fc_w, *fc_b, *proj_w, *proj_b;
};

struct gs_transformer {
    int width;
    int heads;
    int n_layers;
    struct gs_resblock *blocks;
};

struct gs_vit {
    gsx_tensor *conv_w;          /* width x 3 x patch x patch */
    gsx_tensor *class_embedding; /* width */
    gsx_tensor *pos_embedding;   /* (grid^2 + 1) x width */
    gsx_tensor *ln_pre_w, *ln_pre_b, *ln_post_w, *ln_post_b;
    gsx_tensor *proj;            /* width x embed */
    struct gs_transformer tower;
    int patch;
};

struct gs_text {
    gsx_tensor *token_embedding;  /* vocab x width */
    gsx_tensor *pos_embedding;    /* context x width */
    gsx_tensor *ln_final_w, *ln_final_b;
    gsx_tensor *projection;       /* width x embed */
    gsx_tensor *causal_mask;      /* context x context, -inf above the diagonal */
    struct gs_transformer tower;
};

/* Integer facts inferred from the state dict. */
struct gs_arch {
    int is_vit;
    int input_resolution;
    int embed_dim;
    int vision_width;
    int vision_layers; /* ViT blocks, or total Bottlenecks */
    int vision_heads;
    int patch;         /* ViT only */
    int grid;          /* h = w of the target layer */
    int target_channels;
    int context_length;
    int vocab_size;
    int text_width;
    int text_heads;
    int text_layers;
    int blocks_per_stage[4];
};

struct gscam_model {
    uint32_t magic;
    gsx_ctx *weights;
    struct gs_arch arch;
    struct gs_resnet resnet;
    struct gs_vit vit;
    struct gs_text text;
    float logit_scale_exp; /* exp(logit_scale) */
    int folded;            /* batch norm folded into convolutions */
    int channels_last;     /* ResNet trunk in channels-last memory format */
    char device[32];
    char architecture[32];
    char target_layer[64];
    char message[GS_MSG_SIZE];
};

/* ---- weights.c: named tensors of an archive ------------------------------ */

struct gs_weights; /* name -> tensor table, built while loading */

/* Loads every named tensor of the archive into ctx, floats converted to
 * float32 and checked to be finite. Fails with a message in msg. */
gscam_status gs_weights_load(gsx_ctx *ctx, const char *path, size_t max_tensors, uint64_t max_bytes,
                             struct gs_weights **out, char *msg);
void gs_weights_free(struct gs_weights *w);
/* The tensor called name, or NULL. */
gsx_tensor *gs_weights_find(const struct gs_weights *w, const char *name);
/* Number of distinct N in names "<prefix>.N.<...>". */
int gs_weights_count_indexed(const struct gs_weights *w, const char *prefix);
/* The tensor called name, checked against the expected shape (ndim values,
 * -1 matching anything). Fails with GSCAM_ERR_MODEL naming the tensor. */
gscam_status gs_weights_get(const struct gs_weights *w, const char *name, const int64_t *shape,
                            int ndim, gsx_tensor **out, char *msg);
/* Integer value of a scalar tensor (the archive's metadata), if present. */
int gs_weights_scalar_i64(const struct gs_weights *w, gsx_ctx *ctx, const char *name, int64_t *value);

/* ---- arch.c: architecture inference -------------------------------------- */

gscam_status gs_arch_infer(const struct gs_weights *w, gsx_ctx *ctx, struct gs_arch *arch, char *msg);
/* Release name ("RN50", "ViT-B/32", ...) or the family name. */
const char *gs_arch_name(const struct gs_arch *arch);

/* ---- resnet.c, vit.c, text.c: towers ------------------------------------- */

gscam_status gs_resnet_build(struct gscam_model *m, const struct gs_weights *w, int fold_bn);
/* Stem and the four stages: N x 3 x R x R -> N x C x R/32 x R/32. */
gsx_tensor *gs_resnet_trunk(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *x);
/* Attention pooling: N x C x h x w -> N x embed. */
gsx_tensor *gs_resnet_attnpool(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *a);

gscam_status gs_vit_build(struct gscam_model *m, const struct gs_weights *w);
/* Patch embedding and every residual block: N x 3 x R x R -> N x (g^2 + 1) x width
 * (batch-first: N x (g^2 + 1) x width). When probs is not NULL it receives one
 * attention-probability tensor per block (N x heads x L x L). */
gsx_tensor *gs_vit_trunk(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *x, gsx_tensor **probs);
/* ln_post on the class token and the projection: N x L x width -> N x embed. */
gsx_tensor *gs_vit_head(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *tokens);

gscam_status gs_transformer_build(struct gscam_model *m, struct gs_transformer *t, const struct gs_weights *w,
                                  const char *prefix, int width, int heads, int n_layers);
void gs_transformer_free(struct gs_transformer *t);
/* Runs every block on x (N x L x width, batch-first); mask may be NULL. */
gsx_tensor *gs_transformer_forward(gsx_ctx *ctx, const struct gs_transformer *t, const gsx_tensor *x,
                                   const gsx_tensor *mask, gsx_tensor **probs);

gscam_status gs_text_build(struct gscam_model *m, const struct gs_weights *w);
/* Text embedding (1 x embed, not normalised) of context-length ids. */
gsx_tensor *gs_text_embed(gsx_ctx *ctx, const struct gscam_model *m, const int32_t *ids, size_t n_ids);

/* ---- model.c ------------------------------------------------------------- */

/* gscam_model_load() with the ResNet trunk's memory format chosen by the
 * caller: channels_last 1 (what gscam_model_load picks) or 0 (NCHW), so tests
 * can compare the two paths. */
gscam_status gs_model_load(const char *path, const char *device, const gscam_option_list *options,
                           int channels_last, gscam_model **out);

/* Image embedding of a batch, N x 3 x R x R -> N x embed (not normalised). */
gsx_tensor *gs_image_embed(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *x);
/* exp(logit_scale) * cos: image embeddings N x E against one text embedding
 * 1 x E, normalised inside -> N. */
gsx_tensor *gs_logits(gsx_ctx *ctx, const struct gscam_model *m, const gsx_tensor *image_emb,
                      const gsx_tensor *text_emb);
/* Keeps tensor t (from the load context) in the model's weights context, on
 * the model's device. */
gscam_status gs_model_keep(struct gscam_model *m, const gsx_tensor *t, gsx_tensor **out);
/* gs_weights_get() then gs_model_keep(). */
gscam_status gs_model_take(struct gscam_model *m, const struct gs_weights *w, const char *name,
                           const int64_t *shape, int ndim, gsx_tensor **out);
/* Validates a model handle: GSCAM_OK or GSCAM_ERR_MISUSE. */
gscam_status gs_model_check(const struct gscam_model *m);

#endif
