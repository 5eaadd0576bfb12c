/*
 * mojibake.c - repairs UTF-8 text that was decoded as Windows-1252 or
 * Latin-1, such as "Ã©tÃ©" for "été", after ftfy 6's fix_encoding.
 */
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

/* Windows-1252's characters for bytes 0x80 to 0x9F; 0 where it defines none
 * (0x81, 0x8D, 0x8F, 0x90, 0x9D). From Microsoft's code page 1252 table. */
static const int32_t CP1252_HIGH[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017d, 0,
    0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178,
};

int32_t gs_cp1252_char(int b)
{
    if (b < 0x80 || b > 0x9f || CP1252_HIGH[b - 0x80] == 0)
        return b;
    return CP1252_HIGH[b - 0x80];
}

/* The byte that c came from if a single-byte decoder made it: Latin-1 for
 * U+0000 to U+00FF (C1 controls included, as ftfy's "sloppy" codecs keep
 * them) and Windows-1252 for its characters above. -1 for any other. */
static int single_byte(int32_t c)
{
    if (c < 0x100)
        return (int)c;
    for (int i = 0; i < 32; i++)
        if (CP1252_HIGH[i] == c)
            return 0x80 + i;
    return -1;
}

/* Punctuation that legitimately follows an accented letter, such as the
 * "…”" of "Brontë…”": a possible UTF-8 sequence that starts with it is not
 * taken as evidence of mojibake. */
static int is_common_follower(int32_t c)
{
    switch (c) {
    case 0x00a0: /* no-break space */
    case 0x00b4: /* acute accent */
    case 0x00b7: /* middle dot */
    case 0x00bb: /* right guillemet */
    case 0x2013: /* en dash */
    case 0x2014: /* em dash */
    case 0x2019: /* right single quotation mark */
    case 0x201d: /* right double quotation mark */
    case 0x2026: /* ellipsis */
        return 1;
    default:
        return 0;
    }
}

/* The length of the UTF-8 sequence whose bytes the characters at cp[i..]
 * would be, or 0 when they would not form a valid one. */
static int utf8_sequence_at(const int32_t *cp, size_t n, size_t i)
{
    int lead = single_byte(cp[i]);
    int len, second;

    if (lead < 0xc2 || lead > 0xf4)
        return 0;
    if (lead < 0xe0)
        len = 2;
    else if (lead < 0xf0)
        len = 3;
    else
        len = 4;
    if (i + (size_t)len > n)
        return 0;
    for (int k = 1; k < len; k++) {
        int b = single_byte(cp[i + (size_t)k]);
        if (b < 0x80 || b > 0xbf)
            return 0;
    }

    /* Overlong forms, surrogates and values past U+10FFFF. */
    second = single_byte(cp[i + 1]);
    if ((lead == 0xe0 && second < 0xa0) || (lead == 0xed && second >= 0xa0) ||
        (lead == 0xf0 && second < 0x90) || (lead == 0xf4 && second >= 0x90))
        return 0;
    return len;
}

/* Whether the sequence at cp[i..i+len) looks like mojibake rather than an
 * accented letter followed by punctuation. */
static int is_evidence(const int32_t *cp, size_t i, int len)
{
    int lead = single_byte(cp[i]);

    if (len == 4 || lead == 0xc2 || lead == 0xc3)
        return 1;
    return !is_common_follower(cp[i + 1]);
}

/* NOTE: ftfy decides whether text is mojibake with a regular expression over
 * about 400 characters in 20 classes, and also tries Windows-1250, -1251,
 * -1253, -1254, -1257, ISO-8859-2, MacRoman and CP437, CESU-8 and spaces
 * standing for byte A0. This keeps only UTF-8 read as Windows-1252 or Latin-1
 * (the two mixed freely), with the simpler test above; text that ftfy's test
 * finds clean but this one does not, or the reverse, can come out different. */
static int looks_like_mojibake(const int32_t *cp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int len;

        if (cp[i] >= 0x80 && cp[i] <= 0x9f)
            return 1;
        len = utf8_sequence_at(cp, n, i);
        if (len && is_evidence(cp, i, len))
            return 1;
    }
    return 0;
}

/* Decodes the bytes that the characters cp[0..n) came from as one UTF-8
 * sequence; the caller has checked that they form one. */
static int32_t decode_sequence(const int32_t *cp, int len)
{
    int32_t c = single_byte(cp[0]) & (0x7f >> len);

    for (int k = 1; k < len; k++)
        c = (c << 6) | (single_byte(cp[k]) & 0x3f);
    return c;
}

/* Re-decodes the whole text when every character maps to a byte and the
 * bytes are valid UTF-8, as ftfy does first. Returns 1 on success. */
static int decode_whole(gs_cpbuf *text, gs_cpbuf *out)
{
    size_t i = 0;

    out->len = 0;
    while (i < text->len) {
        int32_t c = text->cp[i];
        int b = single_byte(c);
        int len;

        if (b < 0)
            return 0;
        if (b < 0x80) {
            if (gs_cpbuf_push(out, b) != 0)
                return -1;
            i++;
            continue;
        }
        len = utf8_sequence_at(text->cp, text->len, i);
        if (!len)
            return 0;
        if (gs_cpbuf_push(out, decode_sequence(text->cp + i, len)) != 0)
            return -1;
        i += (size_t)len;
    }
    return 1;
}

/* Re-decodes only the sequences that look like mojibake, leaving the rest,
 * as ftfy's decode_inconsistent_utf8 does for text mixing two encodings.
 * Returns 1 when something changed. */
static int decode_pieces(gs_cpbuf *text, gs_cpbuf *out)
{
    size_t i = 0;
    int changed = 0;

    out->len = 0;
    while (i < text->len) {
        int len = utf8_sequence_at(text->cp, text->len, i);

        if (len && is_evidence(text->cp, i, len)) {
            if (gs_cpbuf_push(out, decode_sequence(text->cp + i, len)) != 0)
                return -1;
            i += (size_t)len;
            changed = 1;
        } else {
            if (gs_cpbuf_push(out, text->cp[i]) != 0)
                return -1;
            i++;
        }
    }
    return changed;
}

/* Most rounds of re-decoding: each one undoes one layer of mojibake, and a
 * layer makes text longer, so a real text never needs many. */
#define MAX_ROUNDS 16

int gs_fix_mojibake(gs_cpbuf *text)
{
    gs_cpbuf out = {0};
    int changed = 0;

    for (int round = 0; round < MAX_ROUNDS; round++) {
        int rc;
        gs_cpbuf swap;

        if (!looks_like_mojibake(text->cp, text->len))
            break;
        rc = decode_whole(text, &out);
        if (rc == 0)
            rc = decode_pieces(text, &out);
        if (rc < 0) {
            gs_cpbuf_free(&out);
            return -1;
        }
        if (rc == 0)
            break;

        swap = *text;
        *text = out;
        out = swap;
        changed = 1;
    }
    gs_cpbuf_free(&out);
    return changed;
}
