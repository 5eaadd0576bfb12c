/*
 * image.c - image handles, decoding options and limits, and the choice of
 * decoder by magic bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "image/image.h"

/* Defaults of the decoding options, as documented in gscorecam.h. */
#define DEFAULT_MAX_PIXELS 100000000u /* 300 MB of RGB8 output at most */
#define DEFAULT_MAX_SIDE 65535u       /* the largest side a JPEG header can state */
#define DEFAULT_MAX_SCANS 1000u       /* real progressive files use about 10 */

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static gscam_status read_settings(const gscam_option_list *options, struct gs_decode_settings *settings)
{
    static const int64_t allowed[] = {GSCAM_IMAGE_EXIF, GSCAM_IMAGE_MAX_PIXELS, GSCAM_IMAGE_MAX_SIDE,
                                      GSCAM_IMAGE_MAX_SCANS};
    gscam_status st;
    int64_t value;

    st = gs_option_check(options, allowed, sizeof allowed / sizeof allowed[0]);
    if (st != GSCAM_OK)
        return st;

    settings->apply_exif = 1;
    settings->max_pixels = DEFAULT_MAX_PIXELS;
    settings->max_side = DEFAULT_MAX_SIDE;
    settings->max_scans = DEFAULT_MAX_SCANS;

    if (gs_option_find(options, GSCAM_IMAGE_EXIF, &value)) {
        if (value != 0 && value != 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                           "option GSCAM_IMAGE_EXIF is %lld, expected 0 or 1", (long long)value);
        settings->apply_exif = (int)value;
    }
    if (gs_option_find(options, GSCAM_IMAGE_MAX_PIXELS, &value)) {
        if (value < 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                           "option GSCAM_IMAGE_MAX_PIXELS is %lld, expected at least 1", (long long)value);
        settings->max_pixels = (uint64_t)value;
    }
    if (gs_option_find(options, GSCAM_IMAGE_MAX_SIDE, &value)) {
        if (value < 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                           "option GSCAM_IMAGE_MAX_SIDE is %lld, expected at least 1", (long long)value);
        settings->max_side = (uint64_t)value;
    }
    if (gs_option_find(options, GSCAM_IMAGE_MAX_SCANS, &value)) {
        if (value < 1)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                           "option GSCAM_IMAGE_MAX_SCANS is %lld, expected at least 1", (long long)value);
        settings->max_scans = (uint64_t)value;
    }
    return GSCAM_OK;
}

gscam_status gs_image_check_limits(const struct gs_decode_settings *settings, const char *source,
                                   uint64_t width, uint64_t height)
{
    if (width == 0 || height == 0)
        return gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: image is %llu x %llu pixels, expected at least 1 x 1",
                       source, (unsigned long long)width, (unsigned long long)height);
    if (width > settings->max_side || height > settings->max_side)
        return gs_fail(NULL, GSCAM_ERR_LIMIT,
                       "%s: image is %llu x %llu pixels, a side above the limit of %llu pixels "
                       "(GSCAM_IMAGE_MAX_SIDE)",
                       source, (unsigned long long)width, (unsigned long long)height,
                       (unsigned long long)settings->max_side);
    /* Both sides are below 2^32 here, so the product cannot overflow. */
    if (width * height > settings->max_pixels)
        return gs_fail(NULL, GSCAM_ERR_LIMIT,
                       "%s: image is %llu x %llu pixels, above the limit of %llu pixels "
                       "(GSCAM_IMAGE_MAX_PIXELS)",
                       source, (unsigned long long)width, (unsigned long long)height,
                       (unsigned long long)settings->max_pixels);
    return GSCAM_OK;
}

gscam_status gs_image_new(uint32_t width, uint32_t height, gscam_image **out)
{
    gscam_image *img;
    size_t bytes;

    if ((uint64_t)width * height > SIZE_MAX / 3)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "image of %u x %u pixels does not fit in memory",
                       width, height);
    bytes = (size_t)width * height * 3;

    img = calloc(1, sizeof *img);
    if (!img)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "cannot allocate an image handle");
    img->pixels = malloc(bytes ? bytes : 1);
    if (!img->pixels) {
        free(img);
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes for a %u x %u image",
                       bytes, width, height);
    }
    img->magic = GS_MAGIC_IMAGE;
    img->width = width;
    img->height = height;
    *out = img;
    return GSCAM_OK;
}

static int image_is_valid(const gscam_image *img)
{
    return img && img->magic == GS_MAGIC_IMAGE;
}

static gscam_status decode_with_settings(const uint8_t *bytes, size_t size,
                                         const struct gs_decode_settings *settings, const char *source,
                                         gscam_image **out)
{
    gscam_image *img = NULL;
    int orientation = GS_ORIENT_NORMAL;
    gscam_status st;

    if (size == 0)
        return gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: file is empty (0 bytes)", source);

    if (size >= sizeof png_signature && memcmp(bytes, png_signature, sizeof png_signature) == 0) {
        st = gs_png_decode(bytes, size, settings, source, &img, &orientation);
    } else if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) {
        st = gs_jpeg_decode(bytes, size, settings, source, &img, &orientation);
    } else {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0; i < size && i < 8; i++)
            snprintf(hex + 3 * i, sizeof hex - 3 * i, "%s%02x", i ? " " : "", bytes[i]);
        return gs_fail(NULL, GSCAM_ERR_IMAGE,
                       "%s: not a PNG or JPEG file (first bytes: %s); only PNG and JPEG are supported",
                       source, hex);
    }
    if (st != GSCAM_OK)
        return st;

    if (settings->apply_exif && orientation != GS_ORIENT_NORMAL) {
        st = gs_image_apply_orientation(img, orientation);
        if (st != GSCAM_OK) {
            gscam_image_free(img);
            return st;
        }
    }
    *out = img;
    return GSCAM_OK;
}

gscam_status gscam_image_decode(const void *data, size_t size, const gscam_option_list *options,
                                gscam_image **out)
{
    struct gs_decode_settings settings;
    gscam_status st;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_decode: out is NULL");
    *out = NULL;
    if (!data && size > 0)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_decode: data is NULL");
    st = read_settings(options, &settings);
    if (st != GSCAM_OK)
        return st;
    return decode_with_settings(data, size, &settings, "image data", out);
}

/* Reads a whole file into a malloc'd buffer. */
static gscam_status read_file(const char *path, uint8_t **data, size_t *size)
{
    char reason[128];
    struct stat info;
    uint8_t *buf;
    size_t got = 0;
    FILE *f;
    int fd;

    /* O_NONBLOCK so that a FIFO cannot block the open; it is rejected below
     * as not a regular file, and regular files ignore the flag. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int err = errno;

        if (fd >= 0)
            close(fd);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot open image '%s': %s", path,
                       strerror_r(err, reason, sizeof reason));
    }
    if (fstat(fileno(f), &info) != 0 || !S_ISREG(info.st_mode)) {
        fclose(f);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot read image '%s': not a regular file", path);
    }
    if ((uint64_t)info.st_size > SIZE_MAX - 1) {
        fclose(f);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot read image '%s': file too large", path);
    }

    buf = malloc((size_t)info.st_size + 1);
    if (!buf) {
        fclose(f);
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "cannot allocate %lld bytes to read image '%s'",
                       (long long)info.st_size, path);
    }
    got = fread(buf, 1, (size_t)info.st_size, f);
    if (got != (size_t)info.st_size || ferror(f)) {
        int err = errno;
        free(buf);
        fclose(f);
        return gs_fail(NULL, GSCAM_ERR_IO, "cannot read image '%s': %s", path,
                       err ? strerror_r(err, reason, sizeof reason) : "file shrank while reading");
    }
    fclose(f);
    *data = buf;
    *size = got;
    return GSCAM_OK;
}

gscam_status gscam_image_load(const char *path, const gscam_option_list *options, gscam_image **out)
{
    struct gs_decode_settings settings;
    char source[GS_MSG_SIZE / 2];
    uint8_t *data = NULL;
    size_t size = 0;
    gscam_status st;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_load: out is NULL");
    *out = NULL;
    if (!path)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_load: path is NULL");
    st = read_settings(options, &settings);
    if (st != GSCAM_OK)
        return st;

    st = read_file(path, &data, &size);
    if (st != GSCAM_OK)
        return st;
    snprintf(source, sizeof source, "image '%s'", path);
    st = decode_with_settings(data, size, &settings, source, out);
    free(data);
    return st;
}

gscam_status gscam_image_from_rgb8(const uint8_t *pixels, uint32_t width, uint32_t height, size_t stride,
                                   gscam_image **out)
{
    struct gs_decode_settings limits;
    gscam_image *img;
    gscam_status st;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_from_rgb8: out is NULL");
    *out = NULL;
    if (!pixels)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_image_from_rgb8: pixels is NULL");
    if (width == 0 || height == 0)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_image_from_rgb8: image is %u x %u pixels, expected at least 1 x 1", width,
                       height);
    if (stride / 3 < width)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_image_from_rgb8: stride %zu is below the row size of %llu bytes", stride,
                       (unsigned long long)width * 3);
    /* The default decoding limits apply to pixels handed over directly too. */
    st = read_settings(NULL, &limits);
    if (st == GSCAM_OK)
        st = gs_image_check_limits(&limits, "gscam_image_from_rgb8", width, height);
    if (st != GSCAM_OK)
        return st;

    st = gs_image_new(width, height, &img);
    if (st != GSCAM_OK)
        return st;
    for (uint32_t y = 0; y < height; y++)
        memcpy(img->pixels + (size_t)y * width * 3, pixels + (size_t)y * stride, (size_t)width * 3);
    *out = img;
    return GSCAM_OK;
}

void gscam_image_free(gscam_image *img)
{
    if (!image_is_valid(img))
        return;
    free(img->pixels);
    img->pixels = NULL;
    img->magic = GS_MAGIC_DEAD;
    free(img);
}

uint32_t gscam_image_width(const gscam_image *img)
{
    return image_is_valid(img) ? img->width : 0;
}

uint32_t gscam_image_height(const gscam_image *img)
{
    return image_is_valid(img) ? img->height : 0;
}

const uint8_t *gscam_image_pixels(const gscam_image *img)
{
    return image_is_valid(img) ? img->pixels : NULL;
}
