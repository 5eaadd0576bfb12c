/*
 * codepoints.c - code point buffers and strict UTF-8 decoding and encoding.
 */
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

static int reserve(gs_cpbuf *buf, size_t extra)
{
    size_t need = buf->len + extra;
    size_t cap = buf->cap ? buf->cap : 64;
    int32_t *grown;

    if (need <= buf->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    grown = realloc(buf->cp, cap * sizeof *grown);
    if (!grown)
        return -1;
    buf->cp = grown;
    buf->cap = cap;
    return 0;
}

int gs_cpbuf_push(gs_cpbuf *buf, int32_t c)
{
    if (reserve(buf, 1) != 0)
        return -1;
    buf->cp[buf->len++] = c;
    return 0;
}

int gs_cpbuf_append(gs_cpbuf *buf, const int32_t *cp, size_t n)
{
    if (n == 0)
        return 0;
    if (reserve(buf, n) != 0)
        return -1;
    memcpy(buf->cp + buf->len, cp, n * sizeof *cp);
    buf->len += n;
    return 0;
}

void gs_cpbuf_free(gs_cpbuf *buf)
{
    free(buf->cp);
    buf->cp = NULL;
    buf->len = buf->cap = 0;
}

/* Length of the sequence led by byte b, 0 when b cannot lead one. */
static int sequence_length(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

int gs_utf8_decode(const char *text, size_t len, gs_cpbuf *buf, size_t *bad_offset)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;

    buf->len = 0;
    if (reserve(buf, len) != 0)
        return -1;

    while (i < len) {
        int n = sequence_length(s[i]);
        int32_t c;

        if (n == 0 || i + (size_t)n > len)
            goto invalid;
        if (n == 1) {
            c = s[i];
        } else {
            c = s[i] & (0x7f >> n);
            for (int k = 1; k < n; k++) {
                if ((s[i + k] & 0xc0) != 0x80)
                    goto invalid;
                c = (c << 6) | (s[i + k] & 0x3f);
            }
            /* Overlong forms, surrogates and values past U+10FFFF. */
            if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
                (c >= 0xd800 && c <= 0xdfff))
                goto invalid;
        }
        buf->cp[buf->len++] = c;
        i += (size_t)n;
    }
    return 0;

invalid:
    *bad_offset = i;
    return -2;
}

size_t gs_utf8_put(int32_t c, unsigned char *out)
{
    if (c < 0x80) {
        out[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (unsigned char)(0xc0 | (c >> 6));
        out[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (unsigned char)(0xe0 | (c >> 12));
        out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | (c >> 18));
    out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

char *gs_utf8_encode(const int32_t *cp, size_t n, size_t *out_len)
{
    char *out = malloc(n * 4 + 1);
    size_t len = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        len += gs_utf8_put(cp[i], (unsigned char *)out + len);
    out[len] = '\0';
    *out_len = len;
    return out;
}
