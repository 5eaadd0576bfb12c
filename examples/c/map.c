/*
 * map.c - the smallest complete libgscorecam program: the gScoreCAM map of an
 * image for a prompt, and where it peaks.
 *
 *     cc map.c $(pkg-config --cflags --libs gscorecam) -o map
 *     ./map RN50.pt bpe_simple_vocab_16e6.txt.gz cat.jpg "a cat"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gscorecam.h>

/* The context length of every released CLIP model. */
#define CONTEXT 77

/* Prints the failure with the library's message and returns 1. */
static int report(const char *what, gscam_status status)
{
    fprintf(stderr, "map: %s: %s (%s)\n", what, gscam_last_error(), gscam_status_name(status));
    return 1;
}

int main(int argc, char **argv)
{
    gscam_model *model = NULL;
    gscam_tokenizer *tok = NULL;
    gscam_image *img = NULL;
    gscam_cam *cam = NULL;
    int32_t ids[CONTEXT];
    size_t n_ids, n_pixels, peak = 0;
    uint32_t width;
    float *map = NULL;
    gscam_status st;
    int rc = 1;

    if (argc != 5) {
        fprintf(stderr, "usage: map MODEL.pt VOCAB.txt.gz IMAGE TEXT\n");
        return 2;
    }

    if ((st = gscam_model_load(argv[1], "cpu", NULL, &model)) != GSCAM_OK)
        rc = report(argv[1], st);
    else if ((st = gscam_tokenizer_load(argv[2], &tok)) != GSCAM_OK)
        rc = report(argv[2], st);
    else if ((st = gscam_image_load(argv[3], NULL, &img)) != GSCAM_OK)
        rc = report(argv[3], st);
    else if ((st = gscam_tokenizer_encode(tok, argv[4], strlen(argv[4]), CONTEXT, 0, ids, &n_ids)) != GSCAM_OK)
        rc = report("text", st);
    else if ((st = gscam_cam_create(model, &cam)) != GSCAM_OK)
        rc = report("CAM context", st);
    if (!cam)
        goto done;

    width = gscam_image_width(img);
    n_pixels = (size_t)width * gscam_image_height(img);
    map = malloc(n_pixels * sizeof *map);
    if (!map) {
        fprintf(stderr, "map: out of memory for a %zu-pixel map\n", n_pixels);
        goto done;
    }

    st = gscam_cam_compute(cam, img, ids, CONTEXT, map, n_pixels);
    if (gscam_is_error(st)) {
        rc = report("map", st);
        goto done;
    }
    for (size_t i = 1; i < n_pixels; i++)
        if (map[i] > map[peak])
            peak = i;
    printf("map %u x %u, peak %.3f at x %zu y %zu\n", width, gscam_image_height(img), map[peak],
           peak % width, peak / width);
    rc = 0;

done:
    free(map);
    gscam_cam_free(cam);
    gscam_image_free(img);
    gscam_tokenizer_free(tok);
    gscam_model_free(model);
    return rc;
}
