/*
 * jpeg.c - JPEG decoding to RGB8 with libjpeg(-turbo).
 *
 * Decoding uses libjpeg's defaults (ISLOW inverse DCT, fancy upsampling, block
 * smoothing), which Pillow 9.4 also uses. The tests compare the decoded pixels
 * with Pillow's on the same library. Four-channel files (CMYK, or YCCK that libjpeg turns into CMYK)
 * are read as Adobe-inverted CMYK and converted the way Pillow converts CMYK
 * to RGB. libjpeg's error_exit longjmps back here and its messages are
 * discarded, so nothing is printed.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "core/common.h"
#include "image/image.h"

#define APP1_MARKER (JPEG_APP0 + 1)

struct jpeg_guard {
    struct jpeg_error_mgr manager; /* first, so a j_common_ptr's err converts to this struct */
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    uint64_t max_scans;
    int too_many_scans;
    char error[JMSG_LENGTH_MAX];
};

static void on_jpeg_error(j_common_ptr cinfo)
{
    struct jpeg_guard *guard = (struct jpeg_guard *)cinfo->err;

    cinfo->err->format_message(cinfo, guard->error);
    longjmp(guard->jump, 1);
}

/* When the data ends early, libjpeg only warns and fills the rest of the
 * image with zero coefficients. That warning is fatal here, because Pillow
 * also rejects a truncated file. Other warnings, such as extraneous bytes
 * before a marker, are ignored. */
static void on_jpeg_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF)
        on_jpeg_error(cinfo);
}

static void on_jpeg_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* Called before each step of input; input_scan_number counts the scans
 * started so far. */
static void on_jpeg_progress(j_common_ptr cinfo)
{
    struct jpeg_guard *guard = (struct jpeg_guard *)cinfo->err;
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;

    if ((uint64_t)dinfo->input_scan_number > guard->max_scans) {
        guard->too_many_scans = 1;
        longjmp(guard->jump, 1);
    }
}

static int orientation_of(j_decompress_ptr cinfo)
{
    static const uint8_t exif_prefix[6] = {'E', 'x', 'i', 'f', 0, 0};

    /* Pillow reads the first APP1 segment that starts with "Exif\0\0". */
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == APP1_MARKER && m->data_length >= sizeof exif_prefix &&
            memcmp(m->data, exif_prefix, sizeof exif_prefix) == 0)
            return gs_exif_orientation(m->data, m->data_length);
    }
    return GS_ORIENT_NORMAL;
}

/* Pillow's CMYK to RGB conversion: each channel is
 * (255 - k) - (255 - k) * c / 255, the division rounded as Pillow's MULDIV255
 * does. The samples arrive inverted (Adobe convention), so c = 255 - raw. */
static void cmyk_row_to_rgb(const uint8_t *cmyk, uint8_t *rgb, uint32_t width)
{
    for (uint32_t x = 0; x < width; x++) {
        int nk = cmyk[4 * x + 3];
        for (int c = 0; c < 3; c++) {
            int ink = 255 - cmyk[4 * x + c];
            int product = ink * nk + 128;
            int v = nk - (((product >> 8) + product) >> 8);

            /* v is in 0..255 already, but Pillow clamps it too. */
            if (v < 0)
                v = 0;
            if (v > 255)
                v = 255;
            rgb[3 * x + c] = (uint8_t)v;
        }
    }
}

static void grey_row_to_rgb(const uint8_t *grey, uint8_t *rgb, uint32_t width)
{
    for (uint32_t x = 0; x < width; x++) {
        rgb[3 * x + 0] = grey[x];
        rgb[3 * x + 1] = grey[x];
        rgb[3 * x + 2] = grey[x];
    }
}

static void choose_output_colour(j_decompress_ptr cinfo)
{
    switch (cinfo->num_components) {
    case 1:
        cinfo->out_color_space = JCS_GRAYSCALE;
        break;
    case 4:
        cinfo->out_color_space = JCS_CMYK;
        break;
    default:
        cinfo->out_color_space = JCS_RGB;
        break;
    }
}

/* Runs libjpeg; every failure inside it lands on the setjmp below. The
 * volatile locals survive the longjmp. */
static gscam_status decode(struct jpeg_decompress_struct *cinfo, struct jpeg_guard *guard,
                           const uint8_t *data, size_t size, const struct gs_decode_settings *settings,
                           const char *source, gscam_image **out, int *orientation)
{
    gscam_image *volatile img = NULL;
    uint8_t *volatile row = NULL;
    volatile gscam_status st = GSCAM_OK;
    uint32_t width, height;

    if (setjmp(guard->jump)) {
        if (st != GSCAM_OK)
            goto done;
        if (guard->too_many_scans) {
            st = gs_fail(NULL, GSCAM_ERR_LIMIT,
                         "%s: progressive JPEG has more than %llu scans, above the limit "
                         "(GSCAM_IMAGE_MAX_SCANS)",
                         source, (unsigned long long)guard->max_scans);
            goto done;
        }
        /* libjpeg rejects sides above 65,500 itself, before the caller's
         * limits could be checked; report the limit the size breaks first. */
        if (guard->manager.msg_code == JERR_IMAGE_TOO_BIG) {
            st = gs_image_check_limits(settings, source, cinfo->image_width, cinfo->image_height);
            if (st != GSCAM_OK)
                goto done;
        }
        st = gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: invalid JPEG: %s", source, guard->error);
        goto done;
    }

    jpeg_create_decompress(cinfo);
    cinfo->progress = &guard->progress;
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    jpeg_save_markers(cinfo, APP1_MARKER, 0xffff);
    jpeg_read_header(cinfo, TRUE);

    st = gs_image_check_limits(settings, source, cinfo->image_width, cinfo->image_height);
    if (st != GSCAM_OK)
        goto done;
    if (cinfo->num_components != 1 && cinfo->num_components != 3 && cinfo->num_components != 4) {
        st = gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: unsupported JPEG with %d components, expected 1, 3 or 4",
                     source, cinfo->num_components);
        goto done;
    }
    choose_output_colour(cinfo);
    *orientation = orientation_of(cinfo);

    jpeg_start_decompress(cinfo);
    width = cinfo->output_width;
    height = cinfo->output_height;
    st = gs_image_new(width, height, (gscam_image **)&img);
    if (st != GSCAM_OK)
        goto done;
    row = malloc((size_t)width * (size_t)cinfo->output_components);
    if (!row) {
        st = gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "%s: cannot allocate a row of %u pixels", source,
                     width);
        goto done;
    }

    while (cinfo->output_scanline < height) {
        uint8_t *dst = img->pixels + (size_t)cinfo->output_scanline * width * 3;
        JSAMPROW target = cinfo->output_components == 3 ? dst : row;

        if (jpeg_read_scanlines(cinfo, &target, 1) != 1) {
            st = gs_fail(NULL, GSCAM_ERR_IMAGE, "%s: invalid JPEG: decoding stopped at row %u of %u",
                         source, (unsigned)cinfo->output_scanline, (unsigned)height);
            goto done;
        }
        if (cinfo->output_components == 1)
            grey_row_to_rgb(row, dst, width);
        else if (cinfo->output_components == 4)
            cmyk_row_to_rgb(row, dst, width);
    }

    /* Reading to the end-of-image marker turns a file cut after its last
     * row into an error too. */
    jpeg_finish_decompress(cinfo);
    if ((uint64_t)cinfo->input_scan_number > settings->max_scans)
        st = gs_fail(NULL, GSCAM_ERR_LIMIT,
                     "%s: JPEG has more than %llu scans, above the limit (GSCAM_IMAGE_MAX_SCANS)", source,
                     (unsigned long long)settings->max_scans);

done:
    jpeg_destroy_decompress(cinfo);
    free(row);
    if (st != GSCAM_OK) {
        gscam_image_free(img);
        return st;
    }
    *out = img;
    return GSCAM_OK;
}

gscam_status gs_jpeg_decode(const uint8_t *data, size_t size, const struct gs_decode_settings *settings,
                            const char *source, gscam_image **out, int *orientation)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_guard guard;

    memset(&cinfo, 0, sizeof cinfo);
    memset(&guard, 0, sizeof guard);
    cinfo.err = jpeg_std_error(&guard.manager);
    guard.manager.error_exit = on_jpeg_error;
    guard.manager.emit_message = on_jpeg_message;
    guard.manager.output_message = on_jpeg_output;
    guard.progress.progress_monitor = on_jpeg_progress;
    guard.max_scans = settings->max_scans;
    *orientation = GS_ORIENT_NORMAL;
    return decode(&cinfo, &guard, data, size, settings, source, out, orientation);
}
