/*
 * fuzz_image.c - libFuzzer harness: decodes arbitrary bytes as an image with
 * gscam_image_decode, then prepares a small model input from what decoded.
 *
 * The pixel limit is lowered from its default so that each input decodes in
 * milliseconds. Larger claims stop at the same check (gs_image_check_limits)
 * that the default limit goes through.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gscorecam.h"

/* 4 megapixels: 12 MB of RGB8 output, the same paths as 100 megapixels. */
#define FUZZ_MAX_PIXELS 4000000

/* Model input side: small, so the resize dominates no run. */
#define FUZZ_INPUT_SIDE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gscam_option_list options[] = {GSCAM_IMAGE_MAX_PIXELS, FUZZ_MAX_PIXELS, 0};
    uint8_t input[FUZZ_INPUT_SIDE * FUZZ_INPUT_SIDE * 3];
    gscam_image *img = NULL;

    if (gscam_image_decode(data, size, options, &img) != GSCAM_OK)
        return 0;

    /* The first byte picks the fit, so both code paths of the resize run. */
    gscam_image_preprocess(img, FUZZ_INPUT_SIDE, size > 0 && (data[0] & 1) ? GSCAM_FIT_CROP : GSCAM_FIT_SQUASH,
                           input, sizeof input);
    gscam_image_free(img);
    return 0;
}
