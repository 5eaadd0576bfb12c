/*
 * fuzz_archive.c - libFuzzer harness: writes arbitrary bytes to a temporary
 * file and loads it as a model with gscam_model_load.
 *
 * libtorch (Debian's build) is not instrumented, so coverage feedback comes
 * from this library's code only: the zip directory checks in the shim, the
 * tensor checks and the architecture inference. Crashes inside libtorch are
 * still caught, by the signal handlers of libFuzzer and AddressSanitizer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gscorecam.h"

/* Limits well below the defaults keep one input's memory small: 64 MB of
 * tensor data, and at most 4,096 tensors. */
#define FUZZ_MAX_BYTES (64 << 20)
#define FUZZ_MAX_TENSORS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The one temporary file every input is written to, removed at exit. */
static char path[64];

static void remove_temp_file(void)
{
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gscam_option_list options[] = {GSCAM_LOAD_MAX_BYTES, FUZZ_MAX_BYTES, GSCAM_LOAD_MAX_TENSORS,
                                                FUZZ_MAX_TENSORS, 0};
    gscam_model *model = NULL;
    FILE *f;

    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        int fd;

        snprintf(path, sizeof path, "%s/fuzz-archive-XXXXXX", dir && *dir ? dir : "/tmp");
        fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_temp_file);
    }

    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();

    if (gscam_model_load(path, "cpu", options, &model) == GSCAM_OK)
        gscam_model_free(model);
    return 0;
}
