/*
 * cmd_model.c - `gscorecam info` and `gscorecam score`.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static void print_info_line(const gscam_model *m, const char *key, int32_t info)
{
    int64_t v = 0;

    gscam_model_info(m, info, &v);
    printf("%s: %lld\n", key, (long long)v);
}

int cmd_info(const struct cli_options *o)
{
    gscam_model *m = NULL;
    gscam_status st;
    int64_t grid = 0, is_vit = 0;

    if (!o->model)
        return cli_usage_error("info: --model is required");
    if ((st = gscam_model_load(o->model, o->device, NULL, &m)) != GSCAM_OK)
        return cli_fail_status("model", st);
    gscam_model_info(m, GSCAM_INFO_GRID, &grid);
    gscam_model_info(m, GSCAM_INFO_IS_VIT, &is_vit);
    printf("architecture: %s\n", gscam_model_architecture(m));
    printf("family: %s\n", is_vit ? "vit" : "resnet");
    print_info_line(m, "input_resolution", GSCAM_INFO_INPUT_RESOLUTION);
    print_info_line(m, "embed_dim", GSCAM_INFO_EMBED_DIM);
    printf("target_layer: %s\n", gscam_model_target_layer(m));
    print_info_line(m, "target_channels", GSCAM_INFO_TARGET_CHANNELS);
    printf("grid: %lld\n", (long long)grid);
    print_info_line(m, "vision_width", GSCAM_INFO_VISION_WIDTH);
    print_info_line(m, "vision_layers", GSCAM_INFO_VISION_LAYERS);
    print_info_line(m, "context_length", GSCAM_INFO_CONTEXT_LENGTH);
    print_info_line(m, "vocab_size", GSCAM_INFO_VOCAB_SIZE);
    print_info_line(m, "text_width", GSCAM_INFO_TEXT_WIDTH);
    print_info_line(m, "text_layers", GSCAM_INFO_TEXT_LAYERS);
    printf("methods: gscorecam scorecam gradcam gradcam++%s\n", is_vit ? " hilacam" : "");
    gscam_model_free(m);
    return 0;
}

/* Prints "logit<TAB>probability<TAB>prompt" per prompt, the probability being
 * the softmax of the logits over the given prompts. */
static void print_scores(const struct cli_options *o, const float *logits)
{
    double top = logits[0], sum = 0.0;

    for (int i = 1; i < o->n_texts; i++)
        if (logits[i] > top)
            top = logits[i];
    for (int i = 0; i < o->n_texts; i++)
        sum += exp(logits[i] - top);
    for (int i = 0; i < o->n_texts; i++)
        printf("%.4f\t%.6f\t%s\n", logits[i], exp(logits[i] - top) / sum, o->texts[i]);
}

int cmd_score(const struct cli_options *o)
{
    struct cli_inputs in;
    gscam_cam *cam = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    gscam_status st;
    int rc;

    if (!o->model || !o->vocab || !o->image || o->n_texts < 1)
        return cli_usage_error("score: --model, --vocab, --image and at least one --text are required");
    if ((rc = cli_load_inputs(o, &in)) != 0)
        goto done;
    ids = calloc((size_t)in.context * (size_t)o->n_texts, sizeof *ids);
    logits = calloc((size_t)o->n_texts, sizeof *logits);
    if (!ids || !logits) {
        rc = cli_fail("score", "out of memory");
        goto done;
    }
    for (int i = 0; i < o->n_texts; i++) {
        if ((st = cli_tokenize(in.tok, o->texts[i], (size_t)in.context, o->truncate, ids + i * in.context)) != GSCAM_OK) {
            rc = cli_fail_status("--text", st);
            goto done;
        }
    }
    if ((st = gscam_cam_create(in.model, &cam)) != GSCAM_OK || (st = gscam_cam_set(cam, GSCAM_OPT_FIT, o->fit)) != GSCAM_OK ||
        (st = gscam_cam_set(cam, GSCAM_OPT_THREADS, o->threads)) != GSCAM_OK ||
        (st = gscam_cam_score(cam, in.img, ids, (size_t)o->n_texts, (size_t)in.context, logits)) != GSCAM_OK) {
        rc = cli_fail_status("score", st);
        goto done;
    }
    print_scores(o, logits);
done:
    free(ids);
    free(logits);
    gscam_cam_free(cam);
    cli_free_inputs(&in);
    return rc;
}
