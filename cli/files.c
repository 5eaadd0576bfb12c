/*
 * files.c - output files of the command-line program, written atomically.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_write_file(const char *path, const void *data, size_t size, char *why, size_t why_size)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    FILE *f;
    int ok;

    if (!tmp) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    snprintf(tmp, len + 32, "%s.tmp%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        snprintf(why, why_size, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    ok = fwrite(data, 1, size, f) == size;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        snprintf(why, why_size, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

/* .npy format 1.0: magic, version, header length, a dict padded with spaces
 * and a newline so the data starts on a 64-byte boundary, then the data. */
int cli_write_npy(const char *path, const float *map, uint32_t width, uint32_t height, char *why, size_t why_size)
{
    char header[128];
    size_t data_size = (size_t)width * height * sizeof *map;
    size_t hlen, total;
    unsigned char *buf;
    int rc;

    hlen = (size_t)snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u), }",
                            height, width);
    /* 10 bytes of preamble, the dict, then padding and '\n' to a multiple of 64. */
    total = (10 + hlen + 1 + 63) / 64 * 64;
    buf = malloc(total + data_size);
    if (!buf) {
        snprintf(why, why_size, "out of memory for a %u x %u map", width, height);
        return -1;
    }
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((total - 10) & 0xff);
    buf[9] = (unsigned char)((total - 10) >> 8);
    memcpy(buf + 10, header, hlen);
    memset(buf + 10 + hlen, ' ', total - 10 - hlen - 1);
    buf[total - 1] = '\n';
    /* Little-endian float32, as '<f4' specifies. NOTE: the bytes are copied as they are, so a big-endian host would write wrong values. */
    memcpy(buf + total, map, data_size);
    rc = cli_write_file(path, buf, total + data_size, why, why_size);
    free(buf);
    return rc;
}
