/*
 * cmd_image.c - `gscorecam decode` and `gscorecam preprocess`: the pixels
 * the library decodes and the input it gives the model.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

gscam_status cli_load_image(const struct cli_options *o, gscam_image **out)
{
    const gscam_option_list options[] = {GSCAM_IMAGE_EXIF, o->exif, 0};

    return gscam_image_load(o->image, options, out);
}

int cmd_decode(const struct cli_options *o)
{
    gscam_image *img = NULL;
    gscam_status st;
    char why[512];
    int rc = 0;

    if (!o->image || !o->out || !*o->out)
        return cli_usage_error("decode: --image and a non-empty --out are required");
    if ((st = cli_load_image(o, &img)) != GSCAM_OK)
        return cli_fail_status("image", st);
    if (cli_write_file(o->out, gscam_image_pixels(img),
                       (size_t)gscam_image_width(img) * gscam_image_height(img) * 3, why, sizeof why) != 0)
        rc = cli_fail("--out", why);
    else
        printf("%u %u\n", gscam_image_width(img), gscam_image_height(img));
    gscam_image_free(img);
    return rc;
}

int cmd_preprocess(const struct cli_options *o)
{
    gscam_image *img = NULL;
    uint8_t *input;
    size_t size;
    gscam_status st;
    char why[512];
    int rc = 0;

    if (!o->image || !o->out || !*o->out || o->size <= 0)
        return cli_usage_error("preprocess: --image, --size and a non-empty --out are required");
    if ((st = cli_load_image(o, &img)) != GSCAM_OK)
        return cli_fail_status("image", st);
    size = (size_t)o->size * (size_t)o->size * 3;
    input = malloc(size);
    if (!input)
        rc = cli_fail("preprocess", "out of memory");
    else if ((st = gscam_image_preprocess(img, (uint32_t)o->size, o->fit, input, size)) != GSCAM_OK)
        rc = cli_fail_status("image", st);
    else if (cli_write_file(o->out, input, size, why, sizeof why) != 0)
        rc = cli_fail("--out", why);
    free(input);
    gscam_image_free(img);
    return rc;
}
