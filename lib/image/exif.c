/*
 * exif.c - the EXIF orientation tag and the eight rotations and flips it
 * stands for.
 */
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "image/image.h"

#define TAG_ORIENTATION 0x0112
#define TIFF_TYPE_SHORT 3
#define TIFF_TYPE_LONG 4
#define IFD_ENTRY_SIZE 12

static uint32_t read_u16(const uint8_t *p, int big_endian)
{
    return big_endian ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t read_u32(const uint8_t *p, int big_endian)
{
    return big_endian ? read_u16(p, 1) << 16 | read_u16(p + 2, 1) : read_u16(p + 2, 0) << 16 | read_u16(p, 0);
}

int gs_exif_orientation(const uint8_t *data, size_t size)
{
    int big_endian;
    uint32_t ifd, count;

    if (size >= 6 && memcmp(data, "Exif\0\0", 6) == 0) {
        data += 6;
        size -= 6;
    }
    if (size < 8)
        return GS_ORIENT_NORMAL;
    if (memcmp(data, "MM\0*", 4) == 0)
        big_endian = 1;
    else if (memcmp(data, "II*\0", 4) == 0)
        big_endian = 0;
    else
        return GS_ORIENT_NORMAL;

    ifd = read_u32(data + 4, big_endian);
    if (ifd > size - 2)
        return GS_ORIENT_NORMAL;
    count = read_u16(data + ifd, big_endian);

    for (uint32_t i = 0; i < count; i++) {
        size_t at = (size_t)ifd + 2 + (size_t)i * IFD_ENTRY_SIZE;
        uint32_t tag, type, value;

        if (at + IFD_ENTRY_SIZE > size)
            break;
        tag = read_u16(data + at, big_endian);
        if (tag != TAG_ORIENTATION)
            continue;
        type = read_u16(data + at + 2, big_endian);
        if (read_u32(data + at + 4, big_endian) != 1)
            return GS_ORIENT_NORMAL;
        /* A value of 4 bytes or less sits in the entry's last 4 bytes. */
        if (type == TIFF_TYPE_SHORT)
            value = read_u16(data + at + 8, big_endian);
        else if (type == TIFF_TYPE_LONG)
            value = read_u32(data + at + 8, big_endian);
        else
            return GS_ORIENT_NORMAL;
        return value >= 1 && value <= 8 ? (int)value : GS_ORIENT_NORMAL;
    }
    return GS_ORIENT_NORMAL;
}

/* Maps output pixel (x, y) of an out_w x out_h result to the source pixel it
 * copies, for each orientation. Names follow Pillow's Image.transpose:
 * 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
 * 6 ROTATE_270 (a quarter turn clockwise), 7 TRANSVERSE, 8 ROTATE_90. */
static void source_of(int orientation, uint32_t x, uint32_t y, uint32_t src_w, uint32_t src_h,
                      uint32_t *sx, uint32_t *sy)
{
    switch (orientation) {
    case 2: *sx = src_w - 1 - x; *sy = y; break;
    case 3: *sx = src_w - 1 - x; *sy = src_h - 1 - y; break;
    case 4: *sx = x; *sy = src_h - 1 - y; break;
    case 5: *sx = y; *sy = x; break;
    case 6: *sx = y; *sy = src_h - 1 - x; break;
    case 7: *sx = src_w - 1 - y; *sy = src_h - 1 - x; break;
    case 8: *sx = src_w - 1 - y; *sy = x; break;
    default: *sx = x; *sy = y; break;
    }
}

gscam_status gs_image_apply_orientation(gscam_image *img, int orientation)
{
    uint32_t src_w = img->width, src_h = img->height;
    uint32_t out_w = src_w, out_h = src_h;
    uint8_t *rotated;

    if (orientation < 2 || orientation > 8)
        return GSCAM_OK;
    if (orientation >= 5) {
        out_w = src_h;
        out_h = src_w;
    }

    rotated = malloc((size_t)out_w * out_h * 3);
    if (!rotated)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY,
                       "cannot allocate %zu bytes to apply EXIF orientation %d to a %u x %u image",
                       (size_t)out_w * out_h * 3, orientation, src_w, src_h);
    for (uint32_t y = 0; y < out_h; y++) {
        for (uint32_t x = 0; x < out_w; x++) {
            uint32_t sx, sy;
            source_of(orientation, x, y, src_w, src_h, &sx, &sy);
            memcpy(rotated + ((size_t)y * out_w + x) * 3, img->pixels + ((size_t)sy * src_w + sx) * 3, 3);
        }
    }

    free(img->pixels);
    img->pixels = rotated;
    img->width = out_w;
    img->height = out_h;
    return GSCAM_OK;
}
