/*
 * pngwrite.c - writing an image as an 8-bit RGB PNG.
 *
 * The PNG goes to a temporary file in the destination's folder, which is
 * renamed over the destination once complete, so a failed or interrupted
 * write never leaves a partial file under the requested name.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "core/common.h"
#include "image/image.h"

/* Attempts at a free temporary name before giving up. */
#define TEMP_NAME_ATTEMPTS 100

struct png_writer {
    char error[200];
    jmp_buf jump;
};

static atomic_uint temp_counter;

static void on_png_error(png_structp png, png_const_charp message)
{
    struct png_writer *writer = png_get_error_ptr(png);

    snprintf(writer->error, sizeof writer->error, "%s", message ? message : "unknown libpng error");
    longjmp(writer->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

/* Creates "<path>.<pid>.<n>.tmp" exclusively; the mode is 0666 less the
 * umask, as for a file fopen would create. */
static FILE *create_temp(const char *path, char *temp, size_t temp_size)
{
    for (int attempt = 0; attempt < TEMP_NAME_ATTEMPTS; attempt++) {
        int fd;
        FILE *f;

        snprintf(temp, temp_size, "%s.%ld.%u.tmp", path, (long)getpid(),
                 atomic_fetch_add(&temp_counter, 1u));
        fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return NULL;
        }
        f = fdopen(fd, "wb");
        if (!f) {
            int err = errno;
            close(fd);
            unlink(temp);
            errno = err;
        }
        return f;
    }
    errno = EEXIST;
    return NULL;
}

/* Encodes the image into f; returns 0, or -1 with writer->error set. */
static int encode(const gscam_image *img, FILE *f, struct png_writer *writer)
{
    png_structp png;
    png_infop info = NULL;
    volatile int result = -1;

    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, writer, on_png_error, on_png_warning);
    if (!png) {
        snprintf(writer->error, sizeof writer->error, "cannot create a libpng writer");
        return -1;
    }
    info = png_create_info_struct(png);
    if (!info) {
        snprintf(writer->error, sizeof writer->error, "cannot create a libpng writer");
        png_destroy_write_struct(&png, NULL);
        return -1;
    }

    if (setjmp(writer->jump) == 0) {
        png_init_io(png, f);
        png_set_IHDR(png, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (uint32_t y = 0; y < img->height; y++)
            png_write_row(png, img->pixels + (size_t)y * img->width * 3);
        png_write_end(png, info);
        result = 0;
    }
    png_destroy_write_struct(&png, &info);
    return result;
}

gscam_status gscam_image_save_png(const gscam_image *img, const char *path)
{
    char temp[4096];
    char reason[128];
    struct png_writer writer;
    struct stat existing;
    FILE *f;
    int failed;

    if (!img)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_save_png: image is NULL");
    if (img->magic != GS_MAGIC_IMAGE)
        return gs_fail(NULL, GSCAM_ERR_MISUSE, "gscam_image_save_png: image handle is freed or not an image");
    if (!path || !*path)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_save_png: path is NULL or empty");
    if (strlen(path) + 32 > sizeof temp)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_save_png: path is longer than %zu bytes",
                       sizeof temp - 32);

    /* rename() would replace a device, FIFO or symbolic link by a file. */
    if (lstat(path, &existing) == 0 && !S_ISREG(existing.st_mode))
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot write PNG '%s': it exists and is not a regular file", path);
    f = create_temp(path, temp, sizeof temp);
    if (!f)
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot create a temporary file beside '%s' to write a PNG: %s", path,
                       strerror_r(errno, reason, sizeof reason));

    memset(&writer, 0, sizeof writer);
    failed = encode(img, f, &writer);
    if (failed) {
        fclose(f);
        unlink(temp);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot write PNG '%s': %s", path, writer.error);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
        int err = errno;
        fclose(f);
        unlink(temp);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot write PNG '%s': %s", path,
                       strerror_r(err, reason, sizeof reason));
    }
    if (fclose(f) != 0 || rename(temp, path) != 0) {
        int err = errno;
        unlink(temp);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot write PNG '%s': %s", path,
                       strerror_r(err, reason, sizeof reason));
    }
    return GSCAM_OK;
}
