/*
 * inputs.c - the model, vocabulary and image that map and score both load.
 */
#include "cli.h"

int cli_load_inputs(const struct cli_options *o, struct cli_inputs *in)
{
    gscam_status st;

    in->model = NULL;
    in->tok = NULL;
    in->img = NULL;
    in->context = 0;
    if ((st = gscam_model_load(o->model, o->device, NULL, &in->model)) != GSCAM_OK)
        return cli_fail_status("model", st);
    if ((st = gscam_tokenizer_load(o->vocab, &in->tok)) != GSCAM_OK)
        return cli_fail_status("vocabulary", st);
    if ((st = cli_load_image(o, &in->img)) != GSCAM_OK)
        return cli_fail_status("image", st);
    gscam_model_info(in->model, GSCAM_INFO_CONTEXT_LENGTH, &in->context);
    return 0;
}

void cli_free_inputs(struct cli_inputs *in)
{
    gscam_image_free(in->img);
    gscam_tokenizer_free(in->tok);
    gscam_model_free(in->model);
}
