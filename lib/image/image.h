/*
 * image.h - the image handle and the internal functions of the image module:
 * decoders, EXIF orientation, Pillow-compatible bicubic resize and the
 * model-input preparation that the CAM code uses.
 */
#ifndef GS_IMAGE_H
#define GS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "gscorecam.h"

/* A decoded image: width x height RGB8 pixels in tightly packed rows. Other
 * modules read width, height and pixels directly. */
struct gscam_image {
    uint32_t magic; /* GS_MAGIC_IMAGE while alive, GS_MAGIC_DEAD once freed */
    uint32_t width;
    uint32_t height;
    uint8_t *pixels; /* width * height * 3 bytes, owned by the image */
};

/* Decoding settings, filled from a gscam_option_list by gs_decode_settings. */
struct gs_decode_settings {
    int apply_exif;      /* GSCAM_IMAGE_EXIF */
    uint64_t max_pixels; /* GSCAM_IMAGE_MAX_PIXELS */
    uint64_t max_side;   /* GSCAM_IMAGE_MAX_SIDE */
    uint64_t max_scans;  /* GSCAM_IMAGE_MAX_SCANS */
};

/* EXIF orientation values (TIFF tag 0x0112); 1 is "as stored". */
#define GS_ORIENT_NORMAL 1

/* Checks a decoder's claimed size against the settings before anything is
 * allocated. source names the input in the message ("image 'a.png'").
 * Returns GSCAM_OK, or fails with GSCAM_ERR_LIMIT naming the limit. */
gscam_status gs_image_check_limits(const struct gs_decode_settings *settings, const char *source,
                                   uint64_t width, uint64_t height);

/* Allocates an image handle with uninitialised pixels. */
gscam_status gs_image_new(uint32_t width, uint32_t height, gscam_image **out);

/* Decoders. Each decodes a whole in-memory file to RGB8, stores the EXIF
 * orientation it found (GS_ORIENT_NORMAL when none) in *orientation, and
 * fails with GSCAM_ERR_IMAGE, GSCAM_ERR_LIMIT or GSCAM_ERR_OUT_OF_MEMORY. */
gscam_status gs_png_decode(const uint8_t *data, size_t size, const struct gs_decode_settings *settings,
                           const char *source, gscam_image **out, int *orientation);
gscam_status gs_jpeg_decode(const uint8_t *data, size_t size, const struct gs_decode_settings *settings,
                            const char *source, gscam_image **out, int *orientation);

/* Reads the orientation tag from EXIF data: a TIFF header and IFD0, with or
 * without the "Exif\0\0" prefix of a JPEG APP1 segment. Returns 1..8, or
 * GS_ORIENT_NORMAL when the data is malformed or contains no valid tag. */
int gs_exif_orientation(const uint8_t *data, size_t size);

/* Rotates and flips the image in place to undo an EXIF orientation, as
 * Pillow's ImageOps.exif_transpose does.
 * Values outside 2..8 leave it unchanged. */
gscam_status gs_image_apply_orientation(gscam_image *img, int orientation);

/* Resizes src (src_w x src_h RGB8) to out_w x out_h with Pillow 9.4's
 * bicubic filter, but computes only the window of win_w x win_h output
 * pixels whose top-left corner is (win_x, win_y), writing it tightly packed
 * into dst. The window's pixels equal those of a full resize. */
gscam_status gs_resize_bicubic(const uint8_t *src, uint32_t src_w, uint32_t src_h, uint32_t out_w,
                               uint32_t out_h, uint32_t win_x, uint32_t win_y, uint32_t win_w,
                               uint32_t win_h, uint8_t *dst);

/* Prepares the model input: writes the size x size x 3 RGB8 pixels of img
 * fitted with fit (GSCAM_FIT_SQUASH or GSCAM_FIT_CROP) into out, which has
 * room for size * size * 3 bytes.
 *
 * The crop_* outputs (each may be NULL) give the rectangle of img, in its own
 * pixels, that the input shows. To place a size x size map back onto the
 * image, resize it to crop_w x crop_h and put its top-left corner at
 * (crop_x, crop_y); pixels outside the rectangle get 0. With squash fit the
 * rectangle is the whole image. With crop fit the edges are the crop's
 * edges in the resized image scaled back to img and rounded to the nearest
 * pixel. */
gscam_status gs_image_input(const gscam_image *img, uint32_t size, int32_t fit, uint8_t *out,
                            int32_t *crop_x, int32_t *crop_y, int32_t *crop_w, int32_t *crop_h);

#endif
