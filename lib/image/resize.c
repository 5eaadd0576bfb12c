/*
 * resize.c - bicubic resize that reproduces Pillow 9.4's ImagingResample
 * (Image.resize with Image.BICUBIC on an RGB image) bit for bit.
 *
 * The algorithm, as Pillow's libImaging/Resample.c implements it (the tests
 * compare the output with Pillow 9.4 byte for byte):
 * - The filter is Keys' cubic with a = -0.5 and support 2. When shrinking by
 *   a factor s, the support grows to 2 * s and the filter is stretched by s.
 * - Output pixel i has its centre at (i + 0.5) * scale in the source, with
 *   scale = in / out. Its taps are the source pixels from
 *   (int)(centre - support + 0.5) to (int)(centre + support + 0.5), clamped
 *   to the image, weighted by filter((j - centre + 0.5) / s) and normalised
 *   to sum 1, all in double precision.
 * - The weights become integers scaled by 2^22, rounded half away from zero.
 *   Each pass sums pixel * weight from 2^21 (so the shift rounds), shifts
 *   right by 22 and clamps to 0..255.
 * - Horizontal pass first, over only the source rows the vertical pass
 *   reads, then the vertical pass. A pass whose size does not change is
 *   skipped.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "image/image.h"

#define FILTER_SUPPORT 2.0
#define PRECISION_BITS 22

/* Taps and fixed-point weights of a run of output pixels along one axis. */
struct taps {
    int ksize;       /* weights stored per output pixel */
    int *first;      /* first source index of each output pixel */
    int *count;      /* number of source pixels it reads */
    int32_t *weight; /* ksize weights per output pixel */
};

static double bicubic(double x)
{
    const double a = -0.5;

    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static void free_taps(struct taps *t)
{
    free(t->first);
    free(t->count);
    free(t->weight);
}

/* Computes the taps of output pixels [win, win + n) of a resize of in_size
 * source pixels to out_size. */
static gscam_status compute_taps(uint32_t in_size, uint32_t out_size, uint32_t win, uint32_t n,
                                 struct taps *t)
{
    double scale, filterscale, support;
    double *w = NULL;

    memset(t, 0, sizeof *t);
    /* Pillow stores the source box as float, which is exact for every size here. */
    filterscale = scale = (double)(float)in_size / out_size;
    if (filterscale < 1.0)
        filterscale = 1.0;
    support = FILTER_SUPPORT * filterscale;
    t->ksize = (int)ceil(support) * 2 + 1;

    t->first = malloc(sizeof *t->first * n);
    t->count = malloc(sizeof *t->count * n);
    t->weight = malloc(sizeof *t->weight * n * (size_t)t->ksize);
    w = malloc(sizeof *w * (size_t)t->ksize);
    if (!t->first || !t->count || !t->weight || !w) {
        free(w);
        free_taps(t);
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "cannot allocate resize weights for %u pixels", n);
    }

    for (uint32_t i = 0; i < n; i++) {
        double center = ((double)(win + i) + 0.5) * scale;
        double total = 0.0;
        double ss = 1.0 / filterscale;
        int32_t *k = t->weight + (size_t)i * t->ksize;
        int xmin = (int)(center - support + 0.5);
        int xmax = (int)(center + support + 0.5);
        int x;

        if (xmin < 0)
            xmin = 0;
        if (xmax > (int)in_size)
            xmax = (int)in_size;
        xmax -= xmin;

        for (x = 0; x < xmax; x++) {
            w[x] = bicubic((x + xmin - center + 0.5) * ss);
            total += w[x];
        }
        for (x = 0; x < xmax; x++) {
            double v = total != 0.0 ? w[x] / total : w[x];
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        for (; x < t->ksize; x++)
            k[x] = 0;
        t->first[i] = xmin;
        t->count[i] = xmax;
    }
    free(w);
    return GSCAM_OK;
}

static uint8_t clip8(int32_t sum)
{
    int32_t v = sum >> PRECISION_BITS;

    if (v < 0)
        return 0;
    if (v > 255)
        return 255;
    return (uint8_t)v;
}

/* Resamples rows [row0, row0 + rows) of src along x into dst (rows x n). */
static void pass_horizontal(const uint8_t *src, uint32_t src_w, uint32_t row0, uint32_t rows,
                            const struct taps *t, uint32_t n, uint8_t *dst)
{
    for (uint32_t y = 0; y < rows; y++) {
        const uint8_t *line = src + (size_t)(row0 + y) * src_w * 3;
        uint8_t *out = dst + (size_t)y * n * 3;

        for (uint32_t i = 0; i < n; i++) {
            const int32_t *k = t->weight + (size_t)i * t->ksize;
            const uint8_t *p = line + (size_t)t->first[i] * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;

            for (int x = 0; x < t->count[i]; x++) {
                s0 += p[3 * x + 0] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            out[3 * i + 0] = clip8(s0);
            out[3 * i + 1] = clip8(s1);
            out[3 * i + 2] = clip8(s2);
        }
    }
}

/* Resamples src (width columns, rows starting at source row row0) along y
 * into dst (n rows x width). */
static void pass_vertical(const uint8_t *src, uint32_t width, uint32_t row0, const struct taps *t,
                          uint32_t n, uint8_t *dst)
{
    for (uint32_t i = 0; i < n; i++) {
        const int32_t *k = t->weight + (size_t)i * t->ksize;
        const uint8_t *top = src + (size_t)(t->first[i] - (int)row0) * width * 3;
        uint8_t *out = dst + (size_t)i * width * 3;

        for (uint32_t x = 0; x < width; x++) {
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;

            for (int y = 0; y < t->count[i]; y++) {
                const uint8_t *p = top + ((size_t)y * width + x) * 3;
                s0 += p[0] * k[y];
                s1 += p[1] * k[y];
                s2 += p[2] * k[y];
            }
            out[3 * x + 0] = clip8(s0);
            out[3 * x + 1] = clip8(s1);
            out[3 * x + 2] = clip8(s2);
        }
    }
}

/* Copies a window of an image that needs no resampling. */
static void copy_window(const uint8_t *src, uint32_t src_w, uint32_t x0, uint32_t y0, uint32_t w,
                        uint32_t h, uint8_t *dst)
{
    for (uint32_t y = 0; y < h; y++)
        memcpy(dst + (size_t)y * w * 3, src + ((size_t)(y0 + y) * src_w + x0) * 3, (size_t)w * 3);
}

gscam_status gs_resize_bicubic(const uint8_t *src, uint32_t src_w, uint32_t src_h, uint32_t out_w,
                               uint32_t out_h, uint32_t win_x, uint32_t win_y, uint32_t win_w,
                               uint32_t win_h, uint8_t *dst)
{
    int need_x = out_w != src_w, need_y = out_h != src_h;
    struct taps tx = {0}, ty = {0};
    uint8_t *temp = NULL;
    uint32_t row0 = win_y, rows = win_h;
    gscam_status st = GSCAM_OK;

    if (src_w == 0 || src_h == 0 || out_w > INT_MAX || out_h > INT_MAX || win_w == 0 || win_h == 0 ||
        win_w > out_w || win_h > out_h || win_x > out_w - win_w || win_y > out_h - win_h)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "cannot resize %u x %u to %u x %u with a %u x %u window at (%u, %u)", src_w, src_h,
                       out_w, out_h, win_w, win_h, win_x, win_y);

    if (need_x)
        st = compute_taps(src_w, out_w, win_x, win_w, &tx);
    if (st == GSCAM_OK && need_y) {
        st = compute_taps(src_h, out_h, win_y, win_h, &ty);
        if (st == GSCAM_OK) {
            row0 = (uint32_t)ty.first[0];
            rows = (uint32_t)(ty.first[win_h - 1] + ty.count[win_h - 1]) - row0;
        }
    }

    /* The first step writes straight to dst when no vertical pass follows. */
    if (st == GSCAM_OK && need_y) {
        temp = malloc((size_t)rows * win_w * 3);
        if (!temp)
            st = gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "cannot allocate a %u x %u resize buffer", win_w,
                         rows);
    }
    if (st == GSCAM_OK) {
        uint8_t *step = need_y ? temp : dst;

        if (need_x)
            pass_horizontal(src, src_w, row0, rows, &tx, win_w, step);
        else
            copy_window(src, src_w, win_x, row0, win_w, rows, step);
        if (need_y)
            pass_vertical(temp, win_w, row0, &ty, win_h, dst);
    }

    free(temp);
    free_taps(&tx);
    free_taps(&ty);
    return st;
}
