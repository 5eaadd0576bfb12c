/*
 * files.c - output files of the command-line program, written atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_write_file(const char *path, const void *data, size_t size, char *why, size_t why_size)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    struct stat existing;
    FILE *f = NULL;
    int fd = -1, ok;

    if (!tmp) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    /* rename() would replace a device, FIFO or symbolic link by a file. */
    if (lstat(path, &existing) == 0 && !S_ISREG(existing.st_mode)) {
        snprintf(why, why_size, "%s exists and is not a regular file; not replacing it", path);
        free(tmp);
        return -1;
    }
    /* O_EXCL: never write through a file or link someone put at the name. */
    for (unsigned attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, len + 32, "%s.%ld.%u.tmp", path, (long)getpid(), attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd >= 0 && !(f = fdopen(fd, "wb")))
        close(fd);
    if (!f) {
        snprintf(why, why_size, "cannot create a temporary file beside %s: %s", path, strerror(errno));
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

int cli_check_output(const char *option, const char *path, char *why, size_t why_size)
{
    char *dir;
    char *slash;
    int ok;

    if (!*path) {
        snprintf(why, why_size, "%s: the path is empty", option);
        return -1;
    }
    dir = strdup(path);
    if (!dir) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    ok = access(dir, W_OK | X_OK) == 0;
    if (!ok)
        snprintf(why, why_size, "cannot write %s into folder %s: %s", path, dir, strerror(errno));
    free(dir);
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
