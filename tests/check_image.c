/*
 * check_image.c - image decoding, preprocessing, overlay and PNG writing.
 *
 * Reference data: the shared test vectors (decoded SHA-256 and crop-fit
 * inputs), and Pillow through /usr/bin/python3 (or $PYTHON) for resize and
 * EXIF parity. Hostile inputs are built at test time in a temporary folder.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "core/common.h"
#include "image/image.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4), for comparing decoded pixels with the manifest.    */
/* ------------------------------------------------------------------------ */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], v[8];

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t s1 = ROTR(v[4], 6) ^ ROTR(v[4], 11) ^ ROTR(v[4], 25);
        uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + s1 + ch + sha_k[i] + w[i];
        uint32_t s0 = ROTR(v[0], 2) ^ ROTR(v[0], 13) ^ ROTR(v[0], 22);
        uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        uint32_t t2 = s0 + maj;
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

/* Writes the hex digest of data into hex (65 bytes). */
static void sha256_hex(const uint8_t *data, size_t size, char hex[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    uint8_t tail[128] = {0};
    size_t full = size / 64 * 64, rest = size - full, tail_len;
    uint64_t bits = (uint64_t)size * 8;

    for (size_t i = 0; i < full; i += 64)
        sha256_block(h, data + i);
    memcpy(tail, data + full, rest);
    tail[rest] = 0x80;
    tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t i = 0; i < tail_len; i += 64)
        sha256_block(h, tail + i);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", h[i]);
}

/* ------------------------------------------------------------------------ */
/* Helpers: temporary folder, files, random data, PNG and JPEG encoders.     */
/* ------------------------------------------------------------------------ */

static char temp_dir[256];

static void make_temp_dir(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/check_image.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
}

static void remove_temp_dir(void)
{
    DIR *d = opendir(temp_dir);
    struct dirent *e;
    char path[512];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", temp_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(temp_dir);
}

static const char *temp_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", temp_dir, name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

static uint32_t rng_state = 12345;

static uint32_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Random RGB8 pixels mixing gradients and noise, to test resize on both. */
static uint8_t *random_pixels(uint32_t w, uint32_t h)
{
    uint8_t *p = malloc((size_t)w * h * 3);

    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        p[i] = (next_random() % 4 == 0) ? (uint8_t)next_random() : (uint8_t)(i * 7 / 3);
    return p;
}

struct membuf {
    uint8_t *data;
    size_t size;
};

static void membuf_write(png_structp png, png_bytep data, size_t length)
{
    struct membuf *m = png_get_io_ptr(png);

    m->data = realloc(m->data, m->size + length);
    ck_assert_ptr_nonnull(m->data);
    memcpy(m->data + m->size, data, length);
    m->size += length;
}

static void membuf_flush(png_structp png)
{
    (void)png;
}

/* Encodes rows (tightly packed at the given type and depth) as a PNG. */
static struct membuf encode_png(uint32_t w, uint32_t h, int color_type, int bit_depth, int interlace,
                                const uint8_t *rows, const png_color *palette, int palette_size,
                                const uint8_t *trns, int trns_count, int with_text)
{
    struct membuf m = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    size_t rowbytes;

    ck_assert_int_eq(setjmp(png_jmpbuf(png)), 0);
    png_set_write_fn(png, &m, membuf_write, membuf_flush);
    png_set_IHDR(png, info, w, h, bit_depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette)
        png_set_PLTE(png, info, palette, palette_size);
    if (trns)
        png_set_tRNS(png, info, trns, trns_count, NULL);
    if (with_text) {
        png_text text = {0};
        text.compression = PNG_TEXT_COMPRESSION_NONE;
        text.key = (char *)"Comment";
        text.text = (char *)"a test image";
        png_set_text(png, info, &text, 1);
    }
    png_write_info(png, info);
    rowbytes = png_get_rowbytes(png, info);
    {
        png_bytep *pointers = malloc(sizeof *pointers * h);
        for (uint32_t y = 0; y < h; y++)
            pointers[y] = (png_bytep)rows + (size_t)y * rowbytes;
        png_write_image(png, pointers);
        free(pointers);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return m;
}

static struct membuf encode_rgb_png(uint32_t w, uint32_t h, const uint8_t *rgb)
{
    return encode_png(w, h, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0, 0);
}

/* Encodes RGB8 pixels as a JPEG (quality 90), progressive if asked. */
static struct membuf encode_jpeg(uint32_t w, uint32_t h, const uint8_t *rgb, int progressive)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long out_size = 0;
    struct membuf m;

    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &out, &out_size);
    cinfo.image_width = w;
    cinfo.image_height = h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    if (progressive)
        jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < h) {
        JSAMPROW row = (JSAMPROW)rgb + (size_t)cinfo.next_scanline * w * 3;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    m.data = malloc(out_size);
    memcpy(m.data, out, out_size);
    m.size = out_size;
    free(out);
    return m;
}

/* CRC-32 as PNG chunks use it (ISO 3309 polynomial, bit by bit). */
static uint32_t chunk_crc(const uint8_t *data, size_t size)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < size; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
}

/* Appends a PNG chunk with its CRC. */
static size_t put_chunk(uint8_t *at, const char *type, const uint8_t *data, uint32_t length)
{
    uint32_t crc;

    at[0] = (uint8_t)(length >> 24);
    at[1] = (uint8_t)(length >> 16);
    at[2] = (uint8_t)(length >> 8);
    at[3] = (uint8_t)length;
    memcpy(at + 4, type, 4);
    if (length)
        memcpy(at + 8, data, length);
    crc = chunk_crc(at + 4, length + 4);
    at[8 + length] = (uint8_t)(crc >> 24);
    at[9 + length] = (uint8_t)(crc >> 16);
    at[10 + length] = (uint8_t)(crc >> 8);
    at[11 + length] = (uint8_t)crc;
    return 12 + length;
}

/* A PNG whose IHDR claims w x h RGBA16 pixels, with a tiny IDAT holding a
 * valid zlib stream of 64 zero bytes (one stored block). Returns its size. */
static size_t claim_png(uint8_t *buf, uint32_t w, uint32_t h)
{
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        16, 6, 0, 0, 0};
    /* zlib header, stored block of 64 bytes, zeros, Adler-32 of the zeros. */
    uint8_t packed[2 + 5 + 64 + 4] = {0x78, 0x01, 0x01, 0x40, 0x00, 0xbf, 0xff};
    const uint32_t packed_size = sizeof packed;
    size_t n = 0;

    packed[sizeof packed - 4] = 0x00;
    packed[sizeof packed - 3] = 0x40;
    packed[sizeof packed - 2] = 0x00;
    packed[sizeof packed - 1] = 0x01;
    memcpy(buf, signature, 8);
    n = 8;
    n += put_chunk(buf + n, "IHDR", ihdr, 13);
    n += put_chunk(buf + n, "IDAT", packed, packed_size);
    n += put_chunk(buf + n, "IEND", NULL, 0);
    return n;
}

/* Asserts a failure with the expected status and a non-empty message. */
#define ASSERT_FAILS(call, status)                                                      \
    do {                                                                               \
        gscam_status st_ = (call);                                                     \
        ck_assert_msg(st_ == (status), "%s returned %s, expected %s (message: %s)", #call, \
                      gscam_status_name(st_), gscam_status_name(status), gscam_last_error()); \
        ck_assert_msg(gscam_last_error()[0] != '\0', "%s left no message", #call);     \
    } while (0)

/* Decodes bytes that must be rejected with status. */
static void expect_decode_failure(const uint8_t *data, size_t size, gscam_status status, const char *input_name)
{
    gscam_image *img = (gscam_image *)0x1;
    gscam_status st = gscam_image_decode(data, size, NULL, &img);

    ck_assert_msg(st == status, "%s: status %s, expected %s (message: %s)", input_name, gscam_status_name(st),
                  gscam_status_name(status), gscam_last_error());
    ck_assert_msg(gscam_last_error()[0] != '\0', "%s: no message", input_name);
    ck_assert_ptr_null(img);
}

static const char *python_path(void)
{
    const char *p = getenv("PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

/* Runs a Python script that needs Pillow; returns 0 on success, 1 when
 * Python or Pillow is missing. */
static int run_python(const char *script_name, const char *script)
{
    char path[512], command[1200], probe[600];

    snprintf(probe, sizeof probe, "%s -c 'import PIL, numpy' >/dev/null 2>&1", python_path());
    if (system(probe) != 0)
        return 1;
    temp_path(script_name, path, sizeof path);
    write_file(path, script, strlen(script));
    snprintf(command, sizeof command, "cd %s && %s %s", temp_dir, python_path(), path);
    ck_assert_msg(system(command) == 0, "Python script %s failed", script_name);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Shared test vectors.                                                      */
/* ------------------------------------------------------------------------ */

START_TEST(manifest_rows_decode_and_crop)
{
    char manifest_path[512], line[1024];
    FILE *f;
    int rows = 0;

    if (!tu_shared_path("vectors/preprocess/manifest.tsv", manifest_path, sizeof manifest_path))
        TU_SKIP("shared test data not found (set GSCAM_SHARED)");
    f = fopen(manifest_path, "r");
    ck_assert_ptr_nonnull(f);

    while (fgets(line, sizeof line, f)) {
        char name[128], width_s[32], height_s[32], sha[80], npx_s[32], crop_file[160];
        char rel[256], path[512], hex[65];
        int exif;
        gscam_option_list options[3] = {GSCAM_IMAGE_EXIF, 0, 0};
        gscam_image *img = NULL;
        gscam_status st;
        int fields;

        if (line[0] == '#' || line[0] == '\n')
            continue;
        memset(crop_file, 0, sizeof crop_file);
        fields = sscanf(line, "%127[^\t]\t%d\t%31[^\t]\t%31[^\t\n]\t%79[^\t\n]\t%31[^\t\n]\t%159[^\t\n]", name,
                        &exif, width_s, height_s, sha, npx_s, crop_file);
        ck_assert_int_ge(fields, 3);
        options[1] = exif;
        snprintf(rel, sizeof rel, "images/%s", name);
        tu_shared_path(rel, path, sizeof path);
        st = gscam_image_load(path, options, &img);
        rows++;

        if (strcmp(width_s, "error") == 0) {
            ck_assert_msg(st == GSCAM_ERR_IMAGE, "%s: status %s, expected GSCAM_ERR_IMAGE", name,
                          gscam_status_name(st));
            ck_assert_msg(strstr(gscam_last_error(), name) != NULL, "%s: message '%s' does not name the file",
                          name, gscam_last_error());
            ck_assert_msg(strstr(gscam_last_error(), "Premature end") != NULL,
                          "%s: message '%s' does not say the file ends early", name, gscam_last_error());
            continue;
        }

        ck_assert_msg(st == GSCAM_OK, "%s: %s", name, gscam_last_error());
        ck_assert_uint_eq(gscam_image_width(img), (uint32_t)atoi(width_s));
        ck_assert_uint_eq(gscam_image_height(img), (uint32_t)atoi(height_s));
        sha256_hex(gscam_image_pixels(img), (size_t)img->width * img->height * 3, hex);
        ck_assert_msg(strcmp(hex, sha) == 0, "%s (exif %d): decoded SHA-256 %s, expected %s", name, exif, hex,
                      sha);

        {
            uint32_t size = (uint32_t)atoi(npx_s);
            size_t bytes = (size_t)size * size * 3, ref_size = 0;
            uint8_t *input = malloc(bytes);
            unsigned char *ref;
            int max_diff = 0;

            snprintf(rel, sizeof rel, "vectors/preprocess/%s", crop_file);
            tu_shared_path(rel, path, sizeof path);
            ref = tu_read_file(path, &ref_size);
            ck_assert_ptr_nonnull(ref);
            ck_assert_uint_eq(ref_size, bytes);
            ck_assert_int_eq(gscam_image_preprocess(img, size, GSCAM_FIT_CROP, input, bytes), GSCAM_OK);
            for (size_t i = 0; i < bytes; i++) {
                int d = abs((int)input[i] - (int)ref[i]);
                if (d > max_diff)
                    max_diff = d;
            }
            ck_assert_msg(max_diff <= 1, "%s at %u: crop input differs by up to %d levels", name, size,
                          max_diff);
            free(ref);
            free(input);
        }
        gscam_image_free(img);
    }
    fclose(f);
    ck_assert_int_ge(rows, 19);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Parity with Pillow, computed at test time.                                */
/* ------------------------------------------------------------------------ */

struct resize_case {
    uint32_t w, h, out_w, out_h;
};

static const struct resize_case resize_cases[] = {
    {640, 427, 224, 224}, {97, 61, 224, 224}, {1, 1, 7, 5},     {3, 200, 224, 224}, {512, 512, 384, 384},
    {301, 299, 37, 411},  {15, 9, 16, 8},     {255, 3, 1, 1},   {64, 64, 64, 32},   {33, 47, 33, 13},
    {1000, 7, 224, 224},  {20, 30, 501, 497}, {451, 300, 335, 224},
};

#define RESIZE_CASES (sizeof resize_cases / sizeof resize_cases[0])

START_TEST(resize_matches_pillow_bicubic)
{
    char path[512];
    FILE *list;
    uint8_t *inputs[RESIZE_CASES];
    static const char script[] =
        "from PIL import Image\n"
        "for i, line in enumerate(open('cases.txt')):\n"
        "    w, h, ow, oh = map(int, line.split())\n"
        "    im = Image.frombytes('RGB', (w, h), open('in%d.rgb' % i, 'rb').read())\n"
        "    open('out%d.rgb' % i, 'wb').write(im.resize((ow, oh), Image.BICUBIC).tobytes())\n";

    make_temp_dir();
    list = fopen(temp_path("cases.txt", path, sizeof path), "w");
    for (size_t i = 0; i < RESIZE_CASES; i++) {
        const struct resize_case *c = &resize_cases[i];
        char name[32];

        inputs[i] = random_pixels(c->w, c->h);
        snprintf(name, sizeof name, "in%zu.rgb", i);
        write_file(temp_path(name, path, sizeof path), inputs[i], (size_t)c->w * c->h * 3);
        fprintf(list, "%u %u %u %u\n", c->w, c->h, c->out_w, c->out_h);
    }
    fclose(list);
    if (run_python("resize.py", script)) {
        remove_temp_dir();
        TU_SKIP("Python with Pillow and numpy not found");
    }

    for (size_t i = 0; i < RESIZE_CASES; i++) {
        const struct resize_case *c = &resize_cases[i];
        size_t bytes = (size_t)c->out_w * c->out_h * 3, ref_size = 0;
        uint8_t *mine = malloc(bytes);
        unsigned char *ref;
        char name[32];

        snprintf(name, sizeof name, "out%zu.rgb", i);
        ref = tu_read_file(temp_path(name, path, sizeof path), &ref_size);
        ck_assert_ptr_nonnull(ref);
        ck_assert_uint_eq(ref_size, bytes);
        ck_assert_int_eq(gs_resize_bicubic(inputs[i], c->w, c->h, c->out_w, c->out_h, 0, 0, c->out_w, c->out_h,
                                           mine),
                         GSCAM_OK);
        for (size_t j = 0; j < bytes; j++)
            ck_assert_msg(mine[j] == ref[j], "%u x %u -> %u x %u: byte %zu is %d, Pillow has %d", c->w, c->h,
                          c->out_w, c->out_h, j, mine[j], ref[j]);

        /* A window of the same resize equals that part of the full result. */
        if (c->out_w > 4 && c->out_h > 4) {
            uint32_t wx = c->out_w / 3, wy = c->out_h / 4, ww = c->out_w / 2, wh = c->out_h / 2;
            uint8_t *window = malloc((size_t)ww * wh * 3);
            ck_assert_int_eq(gs_resize_bicubic(inputs[i], c->w, c->h, c->out_w, c->out_h, wx, wy, ww, wh, window),
                             GSCAM_OK);
            for (uint32_t y = 0; y < wh; y++)
                ck_assert_msg(memcmp(window + (size_t)y * ww * 3, ref + ((size_t)(wy + y) * c->out_w + wx) * 3,
                                     (size_t)ww * 3) == 0,
                              "%u x %u -> %u x %u: window row %u differs", c->w, c->h, c->out_w, c->out_h, y);
            free(window);
        }
        free(ref);
        free(mine);
        free(inputs[i]);
    }
    remove_temp_dir();
}
END_TEST

START_TEST(squash_and_crop_fit_match_pillow)
{
    static const uint32_t sizes[][2] = {{640, 427}, {300, 451}, {224, 224}, {100, 100}, {5, 3}, {1, 40}};
    static const char script[] =
        "from PIL import Image\n"
        "for i, line in enumerate(open('cases.txt')):\n"
        "    w, h, R = map(int, line.split())\n"
        "    im = Image.frombytes('RGB', (w, h), open('in%d.rgb' % i, 'rb').read())\n"
        "    open('squash%d.rgb' % i, 'wb').write(im.resize((R, R), Image.BICUBIC).tobytes())\n"
        "    s, l = (w, h) if w <= h else (h, w)\n"
        "    nl = int(R * l / s)\n"
        "    nw, nh = (R, nl) if w <= h else (nl, R)\n"
        "    r = im.resize((nw, nh), Image.BICUBIC)\n"
        "    t, le = int(round((nh - R) / 2.0)), int(round((nw - R) / 2.0))\n"
        "    open('crop%d.rgb' % i, 'wb').write(r.crop((le, t, le + R, t + R)).tobytes())\n";
    const uint32_t R = 224;
    char path[512];
    FILE *list;

    make_temp_dir();
    list = fopen(temp_path("cases.txt", path, sizeof path), "w");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = random_pixels(sizes[i][0], sizes[i][1]);
        char name[32];
        snprintf(name, sizeof name, "in%zu.rgb", i);
        write_file(temp_path(name, path, sizeof path), p, (size_t)sizes[i][0] * sizes[i][1] * 3);
        fprintf(list, "%u %u %u\n", sizes[i][0], sizes[i][1], R);
        free(p);
    }
    fclose(list);
    if (run_python("fit.py", script)) {
        remove_temp_dir();
        TU_SKIP("Python with Pillow and numpy not found");
    }

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        static const char *const fit_names[] = {"squash", "crop"};
        size_t in_size = 0;
        char name[32];
        unsigned char *raw;
        gscam_image *img = NULL;

        snprintf(name, sizeof name, "in%zu.rgb", i);
        raw = tu_read_file(temp_path(name, path, sizeof path), &in_size);
        ck_assert_int_eq(gscam_image_from_rgb8(raw, sizes[i][0], sizes[i][1], (size_t)sizes[i][0] * 3, &img),
                         GSCAM_OK);
        for (int fit = 0; fit < 2; fit++) {
            uint8_t input[224 * 224 * 3];
            unsigned char *ref;
            size_t ref_size = 0;

            snprintf(name, sizeof name, "%s%zu.rgb", fit_names[fit], i);
            ref = tu_read_file(temp_path(name, path, sizeof path), &ref_size);
            ck_assert_uint_eq(ref_size, sizeof input);
            ck_assert_int_eq(gscam_image_preprocess(img, R, fit, input, sizeof input), GSCAM_OK);
            ck_assert_msg(memcmp(input, ref, sizeof input) == 0, "%s fit of %u x %u differs from Pillow",
                          fit_names[fit], sizes[i][0], sizes[i][1]);
            free(ref);
        }
        gscam_image_free(img);
        free(raw);
    }
    remove_temp_dir();
}
END_TEST

START_TEST(exif_orientations_match_pillow)
{
    static const char script[] =
        "from PIL import Image, ImageOps\n"
        "import numpy as np\n"
        "rng = np.random.default_rng(3)\n"
        "base = Image.fromarray(rng.integers(0, 256, (5, 8, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1))\n"
        "open('raw.rgb', 'wb').write(base.tobytes())\n"
        "for o in range(1, 9):\n"
        "    exif = Image.Exif()\n"
        "    exif[0x0112] = o\n"
        "    base.save('o%d.png' % o, exif=exif.tobytes())\n"
        "    base.save('o%d.jpg' % o, exif=exif.tobytes(), quality=95)\n"
        "    for ext in ('png', 'jpg'):\n"
        "        im = Image.open('o%d.%s' % (o, ext))\n"
        "        assert im.getexif().get(0x0112) == o\n"
        "        plain = im.convert('RGB')\n"
        "        turned = ImageOps.exif_transpose(im).convert('RGB')\n"
        "        open('o%d.%s.plain' % (o, ext), 'wb').write(plain.tobytes())\n"
        "        open('o%d.%s.turned' % (o, ext), 'wb').write(turned.tobytes())\n"
        "        open('o%d.%s.size' % (o, ext), 'w').write('%d %d' % turned.size)\n";
    char path[512];

    make_temp_dir();
    if (run_python("exif.py", script)) {
        remove_temp_dir();
        TU_SKIP("Python with Pillow and numpy not found");
    }

    for (int o = 1; o <= 8; o++) {
        static const char *const formats[] = {"png", "jpg"};
        for (int fmt = 0; fmt < 2; fmt++) {
            gscam_option_list exif_off[] = {GSCAM_IMAGE_EXIF, 0, 0};
            gscam_image *turned = NULL, *plain = NULL;
            unsigned char *ref_turned, *ref_plain, *size_text;
            size_t n = 0, n_plain = 0;
            unsigned w = 0, h = 0;
            char name[64], file[512];

            snprintf(name, sizeof name, "o%d.%s", o, formats[fmt]);
            temp_path(name, file, sizeof file);
            ck_assert_msg(gscam_image_load(file, NULL, &turned) == GSCAM_OK, "%s: %s", name, gscam_last_error());
            ck_assert_msg(gscam_image_load(file, exif_off, &plain) == GSCAM_OK, "%s: %s", name, gscam_last_error());

            snprintf(name, sizeof name, "o%d.%s.size", o, formats[fmt]);
            size_text = tu_read_file(temp_path(name, path, sizeof path), &n);
            ck_assert_int_eq(sscanf((char *)size_text, "%u %u", &w, &h), 2);
            ck_assert_msg(turned->width == w && turned->height == h, "orientation %d (%s): %u x %u, Pillow %u x %u",
                          o, formats[fmt], turned->width, turned->height, w, h);
            snprintf(name, sizeof name, "o%d.%s.turned", o, formats[fmt]);
            ref_turned = tu_read_file(temp_path(name, path, sizeof path), &n);
            ck_assert_msg(memcmp(turned->pixels, ref_turned, (size_t)w * h * 3) == 0,
                          "orientation %d (%s): pixels differ from ImageOps.exif_transpose", o, formats[fmt]);

            snprintf(name, sizeof name, "o%d.%s.plain", o, formats[fmt]);
            ref_plain = tu_read_file(temp_path(name, path, sizeof path), &n_plain);
            ck_assert_uint_eq(plain->width, 32);
            ck_assert_uint_eq(plain->height, 20);
            ck_assert_msg(memcmp(plain->pixels, ref_plain, n_plain) == 0,
                          "orientation %d (%s) with EXIF off: pixels differ from the stored image", o,
                          formats[fmt]);
            free(size_text);
            free(ref_turned);
            free(ref_plain);
            gscam_image_free(turned);
            gscam_image_free(plain);
        }
    }
    remove_temp_dir();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* PNG formats.                                                              */
/* ------------------------------------------------------------------------ */

START_TEST(png_16bit_rounds_every_value)
{
    uint8_t *rows = malloc(256 * 256 * 2);
    gscam_image *img = NULL;
    struct membuf png;

    for (uint32_t v = 0; v < 65536; v++) {
        rows[2 * v] = (uint8_t)(v >> 8);
        rows[2 * v + 1] = (uint8_t)v;
    }
    for (int interlace = 0; interlace < 2; interlace++) {
        png = encode_png(256, 256, PNG_COLOR_TYPE_GRAY, 16, interlace, rows, NULL, 0, NULL, 0, 0);
        ck_assert_int_eq(gscam_image_decode(png.data, png.size, NULL, &img), GSCAM_OK);
        for (uint32_t v = 0; v < 65536; v++) {
            uint32_t expected = (2 * v + 257) / (2 * 257); /* round(v / 257); no ties, 257 is odd */
            ck_assert_msg(img->pixels[3 * v] == expected && img->pixels[3 * v + 1] == expected &&
                              img->pixels[3 * v + 2] == expected,
                          "16-bit value %u became %d, expected %u", v, img->pixels[3 * v], expected);
        }
        gscam_image_free(img);
        free(png.data);
    }
    free(rows);
}
END_TEST

START_TEST(png_low_bit_grey_scales_to_255)
{
    for (int depth = 1; depth <= 4; depth *= 2) {
        uint32_t levels = 1u << depth, w = 16;
        uint8_t row[16] = {0};
        gscam_image *img = NULL;
        struct membuf png;

        /* One row holding 0, 1, ..., levels - 1 repeated, packed MSB first. */
        for (uint32_t x = 0; x < w; x++) {
            uint32_t v = x % levels, bit = x * depth;
            row[bit / 8] |= (uint8_t)(v << (8 - depth - bit % 8));
        }
        png = encode_png(w, 1, PNG_COLOR_TYPE_GRAY, depth, 0, row, NULL, 0, NULL, 0, 0);
        ck_assert_int_eq(gscam_image_decode(png.data, png.size, NULL, &img), GSCAM_OK);
        for (uint32_t x = 0; x < w; x++)
            ck_assert_msg(img->pixels[3 * x] == (x % levels) * 255 / (levels - 1),
                          "%d-bit grey value %u became %d", depth, x % levels, img->pixels[3 * x]);
        gscam_image_free(img);
        free(png.data);
    }
}
END_TEST

START_TEST(png_colour_types_decode_to_same_rgb)
{
    const uint32_t w = 13, h = 11;
    uint8_t *rgb = random_pixels(w, h);
    uint8_t *rgba = malloc(w * h * 4), *rgb16 = malloc(w * h * 6), *rgba16 = malloc(w * h * 8);
    gscam_image *img = NULL;

    for (size_t i = 0; i < (size_t)w * h; i++) {
        for (int c = 0; c < 3; c++) {
            rgba[4 * i + c] = rgb[3 * i + c];
            rgb16[6 * i + 2 * c] = rgb16[6 * i + 2 * c + 1] = rgb[3 * i + c];
            rgba16[8 * i + 2 * c] = rgba16[8 * i + 2 * c + 1] = rgb[3 * i + c];
        }
        rgba[4 * i + 3] = (uint8_t)i;
        rgba16[8 * i + 6] = rgba16[8 * i + 7] = (uint8_t)i;
    }

    for (int variant = 0; variant < 5; variant++) {
        struct membuf png;
        switch (variant) {
        case 0: png = encode_png(w, h, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0, 0); break;
        case 1: png = encode_png(w, h, PNG_COLOR_TYPE_RGB, 8, 1, rgb, NULL, 0, NULL, 0, 0); break;
        case 2: png = encode_png(w, h, PNG_COLOR_TYPE_RGBA, 8, 0, rgba, NULL, 0, NULL, 0, 0); break;
        case 3: png = encode_png(w, h, PNG_COLOR_TYPE_RGB, 16, 1, rgb16, NULL, 0, NULL, 0, 0); break;
        default: png = encode_png(w, h, PNG_COLOR_TYPE_RGBA, 16, 0, rgba16, NULL, 0, NULL, 0, 0); break;
        }
        ck_assert_int_eq(gscam_image_decode(png.data, png.size, NULL, &img), GSCAM_OK);
        ck_assert_msg(memcmp(img->pixels, rgb, (size_t)w * h * 3) == 0, "PNG variant %d decodes differently",
                      variant);
        gscam_image_free(img);
        free(png.data);
    }
    free(rgb);
    free(rgba);
    free(rgb16);
    free(rgba16);
}
END_TEST

START_TEST(palette_png_with_trns_drops_alpha)
{
    const png_color palette[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    const uint8_t trns[4] = {0, 128, 255, 7};
    const uint8_t indices[2 * 3] = {0, 1, 2, 3, 2, 1};
    gscam_image *img = NULL;
    struct membuf png = encode_png(3, 2, PNG_COLOR_TYPE_PALETTE, 8, 0, indices, palette, 4, trns, 4, 0);

    ck_assert_int_eq(gscam_image_decode(png.data, png.size, NULL, &img), GSCAM_OK);
    ck_assert_uint_eq(img->width, 3);
    ck_assert_uint_eq(img->height, 2);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(img->pixels[3 * i + 0], palette[indices[i]].red);
        ck_assert_int_eq(img->pixels[3 * i + 1], palette[indices[i]].green);
        ck_assert_int_eq(img->pixels[3 * i + 2], palette[indices[i]].blue);
    }
    gscam_image_free(img);
    free(png.data);
}
END_TEST

START_TEST(one_by_20000_image_decodes_and_fits)
{
    uint8_t *rows = malloc(20000);
    uint8_t input[224 * 224 * 3];
    int32_t cx, cy, cw, ch;
    gscam_image *img = NULL;
    struct membuf png;

    for (int i = 0; i < 20000; i++)
        rows[i] = (uint8_t)(i / 79);
    png = encode_png(1, 20000, PNG_COLOR_TYPE_GRAY, 8, 0, rows, NULL, 0, NULL, 0, 0);
    ck_assert_int_eq(gscam_image_decode(png.data, png.size, NULL, &img), GSCAM_OK);
    ck_assert_uint_eq(img->width, 1);
    ck_assert_uint_eq(img->height, 20000);

    ck_assert_int_eq(gs_image_input(img, 224, GSCAM_FIT_SQUASH, input, &cx, &cy, &cw, &ch), GSCAM_OK);
    ck_assert_int_eq(cx, 0);
    ck_assert_int_eq(cw, 1);
    ck_assert_int_eq(ch, 20000);
    /* Crop fit resizes to 224 x 4,480,000 but computes only the crop. */
    ck_assert_int_eq(gs_image_input(img, 224, GSCAM_FIT_CROP, input, &cx, &cy, &cw, &ch), GSCAM_OK);
    ck_assert_int_eq(cx, 0);
    ck_assert_int_eq(cw, 1);
    ck_assert_int_eq(cy, 10000);
    ck_assert_int_eq(ch, 1);
    ck_assert_int_eq(input[0], rows[10000]);
    gscam_image_free(img);
    free(png.data);
    free(rows);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hostile and broken inputs.                                                */
/* ------------------------------------------------------------------------ */

START_TEST(truncated_png_fails_at_every_cut)
{
    uint8_t *rgb = random_pixels(40, 30);
    struct membuf png = encode_rgb_png(40, 30, rgb);
    const size_t cuts[] = {1, 7, 8, 20, 33, 40, png.size / 2, png.size - 13, png.size - 12, png.size - 1};

    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char input_name[64];
        snprintf(input_name, sizeof input_name, "PNG cut at %zu of %zu bytes", cuts[i], png.size);
        expect_decode_failure(png.data, cuts[i], GSCAM_ERR_IMAGE, input_name);
    }
    free(png.data);
    free(rgb);
}
END_TEST

START_TEST(truncated_jpeg_fails_at_every_cut)
{
    uint8_t *rgb = random_pixels(64, 48);

    for (int progressive = 0; progressive < 2; progressive++) {
        struct membuf jpg = encode_jpeg(64, 48, rgb, progressive);
        const size_t cuts[] = {3, 4, 20, 100, 300, jpg.size / 2, jpg.size - 100, jpg.size - 2, jpg.size - 1};
        gscam_image *img = NULL;

        ck_assert_int_eq(gscam_image_decode(jpg.data, jpg.size, NULL, &img), GSCAM_OK);
        gscam_image_free(img);
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
            char input_name[80];
            snprintf(input_name, sizeof input_name, "%s JPEG cut at %zu of %zu bytes", progressive ? "progressive" : "baseline",
                     cuts[i], jpg.size);
            expect_decode_failure(jpg.data, cuts[i], GSCAM_ERR_IMAGE, input_name);
        }
        free(jpg.data);
    }
    free(rgb);
}
END_TEST

START_TEST(png_bad_crc_fails)
{
    uint8_t *rgb = random_pixels(20, 20);
    struct membuf png = encode_png(20, 20, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0, 1);
    size_t at = 8;

    /* Break the CRC of each chunk in turn: IHDR, tEXt, IDAT and IEND. */
    while (at + 12 <= png.size) {
        uint32_t length = (uint32_t)png.data[at] << 24 | (uint32_t)png.data[at + 1] << 16 |
                          (uint32_t)png.data[at + 2] << 8 | png.data[at + 3];
        size_t crc_at = at + 8 + length;
        char input_name[64];

        snprintf(input_name, sizeof input_name, "PNG with a bad %.4s CRC", (const char *)png.data + at + 4);
        png.data[crc_at] ^= 0x55;
        expect_decode_failure(png.data, png.size, GSCAM_ERR_IMAGE, input_name);
        png.data[crc_at] ^= 0x55;
        at = crc_at + 4;
    }
    free(png.data);
    free(rgb);
}
END_TEST

START_TEST(jpeg_claiming_65535_square_hits_pixel_limit)
{
    /* SOI, SOF0 for 65535 x 65535 with 3 components, SOS, a little data. */
    static const uint8_t jpg[] = {
        0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03, 0x01, 0x11, 0x00,
        0x02, 0x11, 0x00, 0x03, 0x11, 0x00, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x00,
        0x03, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xd9,
    };

    expect_decode_failure(jpg, sizeof jpg, GSCAM_ERR_LIMIT, "JPEG claiming 65535 x 65535");
    ck_assert_msg(strstr(gscam_last_error(), "65535 x 65535") && strstr(gscam_last_error(), "100000000") &&
                      strstr(gscam_last_error(), "GSCAM_IMAGE_MAX_PIXELS"),
                  "message '%s' does not name the size and the limit", gscam_last_error());
}
END_TEST

/* Builds an 8 x 8 grey progressive JPEG whose DC scan is repeated scans
 * times; every pixel decodes to 128. Returns its size. */
static size_t many_scan_jpeg(uint8_t *buf, int scans)
{
    static const uint8_t head[] = {
        0xff, 0xd8,                                                   /* SOI */
        0xff, 0xc2, 0x00, 0x0b, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00, /* SOF2 8x8 grey */
        0xff, 0xc4, 0x00, 0x14, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, /* DC table */
    };
    static const uint8_t scan[] = {0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x7f};
    size_t n = 0;

    memcpy(buf, head, sizeof head);
    n = sizeof head;
    buf[n++] = 0xff; /* DQT: table 0, all ones */
    buf[n++] = 0xdb;
    buf[n++] = 0x00;
    buf[n++] = 0x43;
    buf[n++] = 0x00;
    memset(buf + n, 1, 64);
    n += 64;
    for (int i = 0; i < scans; i++) {
        memcpy(buf + n, scan, sizeof scan);
        n += sizeof scan;
    }
    buf[n++] = 0xff;
    buf[n++] = 0xd9;
    return n;
}

START_TEST(progressive_jpeg_scan_limit)
{
    const int scans = 5000;
    uint8_t *buf = malloc(200 + (size_t)scans * 11);
    size_t n = many_scan_jpeg(buf, scans);
    gscam_option_list more_scans[] = {GSCAM_IMAGE_MAX_SCANS, 10000, 0};
    gscam_image *img = NULL;

    expect_decode_failure(buf, n, GSCAM_ERR_LIMIT, "JPEG with 5000 scans");
    ck_assert_msg(strstr(gscam_last_error(), "GSCAM_IMAGE_MAX_SCANS") && strstr(gscam_last_error(), "1000"),
                  "message '%s' does not name the limit", gscam_last_error());

    /* The same file decodes under a higher limit, so the limit is what failed. */
    ck_assert_msg(gscam_image_decode(buf, n, more_scans, &img) == GSCAM_OK, "%s", gscam_last_error());
    ck_assert_uint_eq(img->width, 8);
    ck_assert_uint_eq(img->height, 8);
    ck_assert_int_eq(img->pixels[0], 128);
    gscam_image_free(img);
    free(buf);
}
END_TEST

START_TEST(png_claiming_gigabytes_fails_before_allocating)
{
    uint8_t buf[512];
    size_t n;

    /* 30000 x 30000 RGBA16 would decompress to 7.2 GB. */
    n = claim_png(buf, 30000, 30000);
    expect_decode_failure(buf, n, GSCAM_ERR_LIMIT, "PNG claiming 30000 x 30000");
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "GSCAM_IMAGE_MAX_PIXELS"));

    /* Within the limits, but far more than a tiny file can inflate to. */
    n = claim_png(buf, 9000, 9000);
    expect_decode_failure(buf, n, GSCAM_ERR_IMAGE, "PNG claiming 9000 x 9000");
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "more than a"));

    n = claim_png(buf, 70000, 1);
    expect_decode_failure(buf, n, GSCAM_ERR_LIMIT, "PNG claiming 70000 x 1");
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "GSCAM_IMAGE_MAX_SIDE"));
}
END_TEST

START_TEST(decode_options_set_limits)
{
    uint8_t *rgb = random_pixels(64, 64);
    struct membuf png = encode_rgb_png(64, 64, rgb);
    gscam_option_list few_pixels[] = {GSCAM_IMAGE_MAX_PIXELS, 4095, 0};
    gscam_option_list short_side[] = {GSCAM_IMAGE_MAX_SIDE, 63, 0};
    gscam_option_list exact[] = {GSCAM_IMAGE_MAX_PIXELS, 4096, GSCAM_IMAGE_MAX_SIDE, 64, 0};
    gscam_option_list unknown[] = {0x7777, 1, 0};
    gscam_option_list bad_exif[] = {GSCAM_IMAGE_EXIF, 2, 0};
    gscam_option_list zero_scans[] = {GSCAM_IMAGE_MAX_SCANS, 0, 0};
    gscam_image *img = NULL;

    ASSERT_FAILS(gscam_image_decode(png.data, png.size, few_pixels, &img), GSCAM_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "64 x 64 pixels, above the limit of 4095 pixels"));
    ASSERT_FAILS(gscam_image_decode(png.data, png.size, short_side, &img), GSCAM_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "GSCAM_IMAGE_MAX_SIDE"));
    ASSERT_FAILS(gscam_image_decode(png.data, png.size, unknown, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_decode(png.data, png.size, bad_exif, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_decode(png.data, png.size, zero_scans, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_image_decode(png.data, png.size, exact, &img), GSCAM_OK);
    gscam_image_free(img);
    free(png.data);
    free(rgb);
}
END_TEST

START_TEST(junk_files_fail_cleanly)
{
    static const char text[] = "This is a text file, not an image.\n";
    char path[512];
    uint8_t junk[4096];
    gscam_image *img = NULL;

    make_temp_dir();
    write_file(temp_path("empty.png", path, sizeof path), "", 0);
    ASSERT_FAILS(gscam_image_load(path, NULL, &img), GSCAM_ERR_IMAGE);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "empty"));

    write_file(temp_path("notes.jpg", path, sizeof path), text, strlen(text));
    ASSERT_FAILS(gscam_image_load(path, NULL, &img), GSCAM_ERR_IMAGE);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "not a PNG or JPEG"));
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "notes.jpg"));

    ASSERT_FAILS(gscam_image_load(temp_path("missing.png", path, sizeof path), NULL, &img), GSCAM_ERR_IO);
    ASSERT_FAILS(gscam_image_load(temp_dir, NULL, &img), GSCAM_ERR_IO);
    ck_assert_ptr_null(img);
    remove_temp_dir();

    /* Random bytes, alone and behind a PNG or JPEG signature. */
    for (int round = 0; round < 60; round++) {
        static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        static const uint8_t jpeg_sig[3] = {0xff, 0xd8, 0xff};
        size_t n = 1 + next_random() % sizeof junk;
        gscam_status st;

        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)next_random();
        if (round % 3 == 1 && n > 8)
            memcpy(junk, png_sig, 8);
        if (round % 3 == 2 && n > 3)
            memcpy(junk, jpeg_sig, 3);
        st = gscam_image_decode(junk, n, NULL, &img);
        ck_assert_msg(st == GSCAM_ERR_IMAGE || st == GSCAM_ERR_LIMIT, "random bytes (round %d): status %s", round,
                      gscam_status_name(st));
        ck_assert_ptr_null(img);
        ck_assert(gscam_last_error()[0] != '\0');
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Handles, preprocessing arguments, overlay and PNG writing.                */
/* ------------------------------------------------------------------------ */

START_TEST(from_rgb8_checks_arguments)
{
    uint8_t pixels[4 * 3 * 2] = {0};
    gscam_image *img = NULL;

    for (int i = 0; i < (int)sizeof pixels; i++)
        pixels[i] = (uint8_t)i;
    ASSERT_FAILS(gscam_image_from_rgb8(pixels, 0, 0, 0, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "0 x 0"));
    ASSERT_FAILS(gscam_image_from_rgb8(pixels, 3, 0, 9, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_from_rgb8(pixels, 4, 2, 11, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_from_rgb8(NULL, 4, 2, 12, &img), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(img);

    /* A stride wider than the row skips the padding. */
    ck_assert_int_eq(gscam_image_from_rgb8(pixels, 3, 2, 12, &img), GSCAM_OK);
    ck_assert_uint_eq(gscam_image_width(img), 3);
    ck_assert_uint_eq(gscam_image_height(img), 2);
    ck_assert_int_eq(gscam_image_pixels(img)[9], 12);
    gscam_image_free(img);
}
END_TEST

START_TEST(foreign_handle_is_misuse)
{
    struct gscam_image fake = {0};
    uint8_t input[8 * 8 * 3];
    gscam_image *out = NULL;
    float map = 0.0f;

    fake.magic = GS_MAGIC_DEAD;
    fake.width = 8;
    fake.height = 8;
    ck_assert_uint_eq(gscam_image_width(&fake), 0);
    ck_assert_uint_eq(gscam_image_height(&fake), 0);
    ck_assert_ptr_null(gscam_image_pixels(&fake));
    ASSERT_FAILS(gscam_image_preprocess(&fake, 8, GSCAM_FIT_SQUASH, input, sizeof input), GSCAM_ERR_MISUSE);
    ASSERT_FAILS(gscam_image_overlay(&fake, &map, 1, 0.5f, &out), GSCAM_ERR_MISUSE);
    ASSERT_FAILS(gscam_image_save_png(&fake, "/nonexistent/x.png"), GSCAM_ERR_MISUSE);
    gscam_image_free(&fake); /* ignored: not a live image */
    gscam_image_free(NULL);
    ck_assert_uint_eq(gscam_image_width(NULL), 0);
}
END_TEST

START_TEST(preprocess_checks_arguments)
{
    uint8_t pixels[6 * 4 * 3] = {0};
    uint8_t input[16 * 16 * 3];
    gscam_image *img = NULL;

    ck_assert_int_eq(gscam_image_from_rgb8(pixels, 6, 4, 18, &img), GSCAM_OK);
    ASSERT_FAILS(gscam_image_preprocess(img, 16, GSCAM_FIT_SQUASH, input, sizeof input - 1),
                 GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_preprocess(img, 0, GSCAM_FIT_SQUASH, input, sizeof input), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_preprocess(img, 16, 7, input, sizeof input), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_preprocess(NULL, 16, GSCAM_FIT_SQUASH, input, sizeof input), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_image_preprocess(img, 16, GSCAM_FIT_CROP, input, sizeof input), GSCAM_OK);
    gscam_image_free(img);
}
END_TEST

START_TEST(crop_rectangle_of_640_by_427)
{
    uint8_t *rgb = random_pixels(640, 427);
    uint8_t input[224 * 224 * 3];
    int32_t x, y, w, h;
    gscam_image *img = NULL;

    ck_assert_int_eq(gscam_image_from_rgb8(rgb, 640, 427, 640 * 3, &img), GSCAM_OK);
    /* Resized to 335 x 224, cropped from x = 56: image columns 107..534. */
    ck_assert_int_eq(gs_image_input(img, 224, GSCAM_FIT_CROP, input, &x, &y, &w, &h), GSCAM_OK);
    ck_assert_int_eq(x, 107);
    ck_assert_int_eq(w, 428);
    ck_assert_int_eq(y, 0);
    ck_assert_int_eq(h, 427);
    gscam_image_free(img);
    free(rgb);
}
END_TEST

START_TEST(overlay_blends_viridis)
{
    uint8_t pixels[3 * 3] = {200, 100, 50, 200, 100, 50, 200, 100, 50};
    const float map[3] = {0.0f, 1.0f, NAN};
    gscam_image *img = NULL, *out = NULL;

    ck_assert_int_eq(gscam_image_from_rgb8(pixels, 3, 1, 9, &img), GSCAM_OK);

    ck_assert_int_eq(gscam_image_overlay(img, map, 3, 0.0f, &out), GSCAM_OK);
    ck_assert_int_eq(memcmp(out->pixels, pixels, sizeof pixels), 0);
    gscam_image_free(out);

    ck_assert_int_eq(gscam_image_overlay(img, map, 3, 1.0f, &out), GSCAM_OK);
    ck_assert_int_eq(out->pixels[0], 68); /* viridis(0) = #440154 */
    ck_assert_int_eq(out->pixels[1], 1);
    ck_assert_int_eq(out->pixels[2], 84);
    ck_assert_int_eq(out->pixels[3], 253); /* viridis(1) = #fde725 */
    ck_assert_int_eq(out->pixels[4], 231);
    ck_assert_int_eq(out->pixels[5], 37);
    ck_assert_int_eq(out->pixels[6], 68); /* NaN counts as 0 */
    gscam_image_free(out);

    ck_assert_int_eq(gscam_image_overlay(img, map, 3, 0.5f, &out), GSCAM_OK);
    ck_assert_int_eq(out->pixels[0], 134); /* (200 + 68) / 2 */
    gscam_image_free(out);

    ASSERT_FAILS(gscam_image_overlay(img, map, 2, 0.5f, &out), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_overlay(img, map, 3, 1.5f, &out), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_overlay(img, map, 3, NAN, &out), GSCAM_ERR_INVALID_ARGUMENT);
    ASSERT_FAILS(gscam_image_overlay(img, NULL, 3, 0.5f, &out), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    gscam_image_free(img);
}
END_TEST

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

START_TEST(save_png_round_trips_without_leftovers)
{
    uint8_t *rgb = random_pixels(31, 17);
    gscam_image *img = NULL, *back = NULL;
    char path[512], bad[600];

    make_temp_dir();
    ck_assert_int_eq(gscam_image_from_rgb8(rgb, 31, 17, 31 * 3, &img), GSCAM_OK);
    temp_path("out.png", path, sizeof path);
    ck_assert_msg(gscam_image_save_png(img, path) == GSCAM_OK, "%s", gscam_last_error());
    ck_assert_msg(gscam_image_save_png(img, path) == GSCAM_OK, "overwrite: %s", gscam_last_error());
    ck_assert_int_eq(count_entries(temp_dir), 1);

    ck_assert_int_eq(gscam_image_load(path, NULL, &back), GSCAM_OK);
    ck_assert_uint_eq(back->width, 31);
    ck_assert_uint_eq(back->height, 17);
    ck_assert_int_eq(memcmp(back->pixels, rgb, 31 * 17 * 3), 0);

    snprintf(bad, sizeof bad, "%s/no-such-folder/out.png", temp_dir);
    ASSERT_FAILS(gscam_image_save_png(img, bad), GSCAM_ERR_IO);
    ck_assert_int_eq(count_entries(temp_dir), 1);

    gscam_image_free(back);
    gscam_image_free(img);
    free(rgb);
    remove_temp_dir();
}
END_TEST

static Suite *image_suite(void)
{
    Suite *s = suite_create("image");
    TCase *vectors = tcase_create("vectors");
    TCase *pillow = tcase_create("pillow");
    TCase *formats = tcase_create("formats");
    TCase *hostile = tcase_create("hostile");
    TCase *api = tcase_create("api");

    tcase_set_timeout(vectors, 120);
    tcase_set_timeout(pillow, 120);
    tcase_set_timeout(hostile, 60);
    tcase_add_test(vectors, manifest_rows_decode_and_crop);
    tcase_add_test(pillow, resize_matches_pillow_bicubic);
    tcase_add_test(pillow, squash_and_crop_fit_match_pillow);
    tcase_add_test(pillow, exif_orientations_match_pillow);
    tcase_add_test(formats, png_16bit_rounds_every_value);
    tcase_add_test(formats, png_low_bit_grey_scales_to_255);
    tcase_add_test(formats, png_colour_types_decode_to_same_rgb);
    tcase_add_test(formats, palette_png_with_trns_drops_alpha);
    tcase_add_test(formats, one_by_20000_image_decodes_and_fits);
    tcase_add_test(hostile, truncated_png_fails_at_every_cut);
    tcase_add_test(hostile, truncated_jpeg_fails_at_every_cut);
    tcase_add_test(hostile, png_bad_crc_fails);
    tcase_add_test(hostile, jpeg_claiming_65535_square_hits_pixel_limit);
    tcase_add_test(hostile, progressive_jpeg_scan_limit);
    tcase_add_test(hostile, png_claiming_gigabytes_fails_before_allocating);
    tcase_add_test(hostile, decode_options_set_limits);
    tcase_add_test(hostile, junk_files_fail_cleanly);
    tcase_add_test(api, from_rgb8_checks_arguments);
    tcase_add_test(api, foreign_handle_is_misuse);
    tcase_add_test(api, preprocess_checks_arguments);
    tcase_add_test(api, crop_rectangle_of_640_by_427);
    tcase_add_test(api, overlay_blends_viridis);
    tcase_add_test(api, save_png_round_trips_without_leftovers);
    suite_add_tcase(s, vectors);
    suite_add_tcase(s, pillow);
    suite_add_tcase(s, formats);
    suite_add_tcase(s, hostile);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    return tu_run(image_suite());
}
