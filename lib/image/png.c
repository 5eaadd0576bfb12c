/*
 * png.c - PNG decoding to RGB8 with libpng.
 *
 * Every PNG colour type and bit depth is expanded to 8-bit RGB. Palette and
 * grey become RGB, and 16-bit samples become round(v / 257). Alpha and tRNS
 * transparency are dropped without compositing onto a background, as
 * Pillow's convert("RGB") does. libpng reports errors through a handler that
 * longjmps back here and its warnings are discarded, so nothing is printed.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "core/common.h"
#include "image/image.h"

/* zlib's documentation gives 1032:1 as deflate's maximum compression ratio,
 * so a file smaller than raw_size / 1032 cannot contain the image it claims. */
#define DEFLATE_MAX_RATIO 1032u

struct png_reader {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char error[200];
    jmp_buf jump;
};

static void on_png_error(png_structp png, png_const_charp message)
{
    struct png_reader *reader = png_get_error_ptr(png);

    snprintf(reader->error, sizeof reader->error, "%s", message ? message : "unknown libpng error");
    longjmp(reader->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

static void read_from_memory(png_structp png, png_bytep out, size_t length)
{
    struct png_reader *reader = png_get_io_ptr(png);

    if (length > reader->size - reader->offset)
        png_error(png, "file is truncated");
    memcpy(out, reader->data + reader->offset, length);
    reader->offset += length;
}

/* Adds the libpng transformations that turn any PNG into 8-bit RGB rows. */
static void request_rgb8(png_structp png, png_infop info)
{
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);

    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    /* png_set_scale_16 rounds v * 255 / 65535 to the nearest integer, which
     * equals round(v / 257). The tests check all 65,536 values. */
    if (bit_depth == 16)
        png_set_scale_16(png);
    /* Expanding a palette or low-depth grey turns a tRNS chunk into an
     * alpha channel, which is dropped like a stored one. */
    if ((color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

static int orientation_of(png_structp png, png_infop info)
{
#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 length = 0;

    if (png_get_eXIf_1(png, info, &length, &exif) && exif)
        return gs_exif_orientation(exif, length);
#endif
    return GS_ORIENT_NORMAL;
}

/* Runs libpng; every exit through png_error lands on the setjmp below. The
 * volatile locals survive the longjmp. */
static gscam_status decode(struct png_reader *reader, const struct gs_decode_settings *settings,
                           const char *source, gscam_image **out, int *orientation)
{
    png_structp png;
    png_infop info = NULL;
    gscam_image *volatile img = NULL;
    png_bytep *volatile rows = NULL;
    volatile gscam_status st = GSCAM_OK;
    png_uint_32 width, height;
    uint64_t raw_bits;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader, on_png_error, on_png_warning);
    if (!png)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "%s: cannot create a libpng reader", source);
    info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "%s: cannot create a libpng reader", source);
    }

    if (setjmp(reader->jump)) {
        if (st == GSCAM_OK)
            st = gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: invalid PNG: %s", source, reader->error);
        goto done;
    }

    png_set_read_fn(png, reader, read_from_memory);
    /* Our own limits apply, not libpng's default of 1,000,000 per side. */
    png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
    /* A bad CRC fails the decode, in ancillary chunks as in critical ones. */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);

    width = png_get_image_width(png, info);
    height = png_get_image_height(png, info);
    st = gs_image_check_limits(settings, source, width, height);
    if (st != GSCAM_OK)
        goto done;
    raw_bits = (uint64_t)width * height * png_get_channels(png, info) * png_get_bit_depth(png, info);
    if (raw_bits / 8 / DEFLATE_MAX_RATIO > reader->size) {
        st = gs_fail(NULL, GSCAM_ERR_IMAGE,
                     "%s: invalid PNG: %u x %u pixels need %llu bytes of image data, more than a "
                     "%zu-byte file can hold",
                     source, (unsigned)width, (unsigned)height, (unsigned long long)(raw_bits / 8),
                     reader->size);
        goto done;
    }

    request_rgb8(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) {
        st = gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: invalid PNG: rows decode to %zu bytes, expected %zu",
                     source, (size_t)png_get_rowbytes(png, info), (size_t)width * 3);
        goto done;
    }

    st = gs_image_new(width, height, (gscam_image **)&img);
    if (st != GSCAM_OK)
        goto done;
    rows = malloc(sizeof *rows * height);
    if (!rows) {
        st = gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "%s: cannot allocate %u row pointers", source,
                     (unsigned)height);
        goto done;
    }
    for (png_uint_32 y = 0; y < height; y++)
        rows[y] = img->pixels + (size_t)y * width * 3;
    png_read_image(png, rows);

    /* Reading to IEND catches truncation and bad CRCs after the last row,
     * and picks up an eXIf chunk stored after the image data. */
    png_read_end(png, info);
    *orientation = orientation_of(png, info);

done:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (st != GSCAM_OK) {
        gscam_image_free(img);
        return st;
    }
    *out = img;
    return GSCAM_OK;
}

gscam_status gs_png_decode(const uint8_t *data, size_t size, const struct gs_decode_settings *settings,
                           const char *source, gscam_image **out, int *orientation)
{
    struct png_reader reader;

    memset(&reader, 0, sizeof reader);
    reader.data = data;
    reader.size = size;
    *orientation = GS_ORIENT_NORMAL;
    return decode(&reader, settings, source, out, orientation);
}
