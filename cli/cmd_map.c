/*
 * cmd_map.c - `gscorecam map`: the map of an image for a prompt, as an
 * overlay PNG and a float32 .npy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Weight of the map in the overlay. */
#define OVERLAY_ALPHA 0.5f

struct progress_state {
    int tty;
    int last_tenth;
};

/* Progress on stderr: a line rewritten in place on a terminal, otherwise a
 * line at every tenth of the work. */
static int show_progress(void *user, int64_t done, int64_t total)
{
    struct progress_state *p = user;
    int tenth = (int)(done * 10 / total);

    if (p->tty) {
        fprintf(stderr, "\rscoring masked images: %lld/%lld", (long long)done, (long long)total);
        if (done == total)
            fputc('\n', stderr);
    } else if (tenth != p->last_tenth) {
        fprintf(stderr, "scoring masked images: %lld/%lld\n", (long long)done, (long long)total);
        p->last_tenth = tenth;
    }
    fflush(stderr);
    return 0;
}

static int check_usage(const struct cli_options *o)
{
    char why[512];

    if (!o->model || !o->vocab || !o->image)
        return cli_usage_error("map: --model, --vocab and --image are required");
    if (o->n_texts != 1)
        return cli_usage_error("map: give exactly one --text");
    /* Fail before minutes of work, not after, when an output cannot be written. */
    if (o->npy && cli_check_output("--npy", o->npy, why, sizeof why) != 0)
        return cli_fail("--npy", why);
    if (o->out && cli_check_output("--out", o->out, why, sizeof why) != 0)
        return cli_fail("--out", why);
    return 0;
}

static gscam_status configure(gscam_cam *cam, const struct cli_options *o, struct progress_state *progress)
{
    gscam_status st;

    if ((st = gscam_cam_set(cam, GSCAM_OPT_METHOD, o->method)) != GSCAM_OK ||
        (st = gscam_cam_set(cam, GSCAM_OPT_TOPK, o->topk)) != GSCAM_OK ||
        (st = gscam_cam_set(cam, GSCAM_OPT_BATCH, o->batch)) != GSCAM_OK ||
        (st = gscam_cam_set(cam, GSCAM_OPT_FIT, o->fit)) != GSCAM_OK ||
        (st = gscam_cam_set(cam, GSCAM_OPT_THREADS, o->threads)) != GSCAM_OK)
        return st;
    if (o->quiet)
        return GSCAM_OK;
    return gscam_cam_set_progress(cam, show_progress, progress);
}

static void print_peak(const float *map, uint32_t width, uint32_t height, gscam_cam *cam)
{
    size_t best = 0, n = (size_t)width * height;
    double logit = 0.0;

    for (size_t i = 1; i < n; i++)
        if (map[i] > map[best])
            best = i;
    gscam_cam_last_logit(cam, &logit);
    printf("map %u x %u, peak at x %zu y %zu, logit %.4f\n", width, height, best % width, best / width, logit);
}

static int write_outputs(const struct cli_options *o, const gscam_image *img, const float *map)
{
    uint32_t w = gscam_image_width(img), h = gscam_image_height(img);
    char why[512];
    gscam_image *overlay = NULL;
    gscam_status st;

    if (o->npy && cli_write_npy(o->npy, map, w, h, why, sizeof why) != 0)
        return cli_fail("--npy", why);
    if (!o->out)
        return 0;
    st = gscam_image_overlay(img, map, (size_t)w * h, OVERLAY_ALPHA, &overlay);
    if (st == GSCAM_OK)
        st = gscam_image_save_png(overlay, o->out);
    gscam_image_free(overlay);
    return st == GSCAM_OK ? 0 : cli_fail_status("--out", st);
}

int cmd_map(const struct cli_options *o)
{
    struct progress_state progress = {isatty(2), -1};
    struct cli_inputs in;
    gscam_cam *cam = NULL;
    int32_t *ids = NULL;
    float *map = NULL;
    gscam_status st;
    int rc = check_usage(o);

    if (rc != 0)
        return rc;
    if ((rc = cli_load_inputs(o, &in)) != 0)
        goto done;
    ids = calloc((size_t)in.context, sizeof *ids);
    map = malloc((size_t)gscam_image_width(in.img) * gscam_image_height(in.img) * sizeof *map);
    if (!ids || !map) {
        rc = cli_fail("map", "out of memory");
        goto done;
    }
    if ((st = cli_tokenize(in.tok, o->texts[0], (size_t)in.context, o->truncate, ids)) != GSCAM_OK) {
        rc = cli_fail_status("--text", st);
        goto done;
    }
    if ((st = gscam_cam_create(in.model, &cam)) != GSCAM_OK || (st = configure(cam, o, &progress)) != GSCAM_OK) {
        rc = cli_fail_status("map", st);
        goto done;
    }
    st = gscam_cam_compute(cam, in.img, ids, (size_t)in.context, map, (size_t)gscam_image_width(in.img) * gscam_image_height(in.img));
    if (gscam_is_error(st)) {
        rc = cli_fail_status("map", st);
        goto done;
    }
    if (st == GSCAM_FLAT_MAP)
        fprintf(stderr, "gscorecam: map: the weighted activations vanish; the map is all zero\n");
    rc = write_outputs(o, in.img, map);
    if (rc == 0)
        print_peak(map, gscam_image_width(in.img), gscam_image_height(in.img), cam);
done:
    free(ids);
    free(map);
    gscam_cam_free(cam);
    cli_free_inputs(&in);
    return rc;
}
