/*
 * clean.c - CLIP's text clean-up before splitting: ftfy 6's fix_text with its
 * default settings, then HTML unescaping twice, white space collapsed and
 * stripped, and lower case, as CLIP's simple_tokenizer.py does it.
 *
 * NUL and the other C0 controls except tab, line feed, form feed and carriage
 * return are control characters to ftfy, so the clean-up removes them; a NUL
 * inside a prompt is therefore dropped like any other control character.
 */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "text/text_internal.h"

/* Most passes of ftfy's fixes over one line; ftfy repeats them until the
 * text stops changing, which real text reaches in two or three. */
#define MAX_FIX_PASSES 32

/* Python's str.isspace, which is what \s matches in CLIP's re.sub and what
 * str.strip removes: bidirectional class WS, B or S, or category Zs. */
static int is_python_space(int32_t c)
{
    const utf8proc_property_t *p;

    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
    p = utf8proc_get_property(c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* Runs a utf8proc normalization over the whole buffer. */
static int normalize(gs_cpbuf *text, utf8proc_option_t options)
{
    size_t len;
    char *utf8 = gs_utf8_encode(text->cp, text->len, &len);
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n;
    size_t bad;
    int rc;

    if (!utf8)
        return -1;
    n = utf8proc_map((const utf8proc_uint8_t *)utf8, (utf8proc_ssize_t)len, &mapped,
                     options | UTF8PROC_STABLE);
    free(utf8);
    if (n < 0)
        return -1;
    rc = gs_utf8_decode((const char *)mapped, (size_t)n, text, &bad);
    free(mapped);
    return rc == 0 ? 0 : -1;
}

/* ftfy's fix_latin_ligatures: Latin ligatures and digraph letters, such as
 * U+FB01 and U+01C6, become the letters they are made of. The list is ftfy's;
 * the letters are each character's compatibility decomposition, except that
 * U+FB05 keeps its long s. */
static const char *ligature_letters(int32_t c)
{
    switch (c) {
    case 0x0132: return "IJ";
    case 0x0133: return "ij";
    case 0x0149: return "\xca\xbcn";
    case 0x01f1: return "DZ";
    case 0x01f2: return "Dz";
    case 0x01f3: return "dz";
    case 0x01c4: return "D\xc5\xbd";
    case 0x01c5: return "D\xc5\xbe";
    case 0x01c6: return "d\xc5\xbe";
    case 0x01c7: return "LJ";
    case 0x01c8: return "Lj";
    case 0x01c9: return "lj";
    case 0x01ca: return "NJ";
    case 0x01cb: return "Nj";
    case 0x01cc: return "nj";
    case 0xfb00: return "ff";
    case 0xfb01: return "fi";
    case 0xfb02: return "fl";
    case 0xfb03: return "ffi";
    case 0xfb04: return "ffl";
    case 0xfb05: return "\xc5\xbft";
    case 0xfb06: return "st";
    default: return NULL;
    }
}

/* Appends the code points of a short UTF-8 string. */
static int append_utf8(gs_cpbuf *out, const char *s, size_t n)
{
    gs_cpbuf tmp = {0};
    size_t bad;
    int rc = gs_utf8_decode(s, n, &tmp, &bad);

    if (rc == 0)
        rc = gs_cpbuf_append(out, tmp.cp, tmp.len);
    gs_cpbuf_free(&tmp);
    return rc == 0 ? 0 : -1;
}

/* ftfy's fix_character_width: U+3000 becomes a space, and each full-width or
 * half-width form of U+FF01..U+FFEF becomes its NFKC form. */
static int append_normal_width(gs_cpbuf *out, int32_t c)
{
    unsigned char utf8[4];
    utf8proc_uint8_t *mapped = NULL;
    utf8proc_ssize_t n;
    int rc;

    if (c == 0x3000)
        return gs_cpbuf_push(out, ' ');
    n = utf8proc_map(utf8, (utf8proc_ssize_t)gs_utf8_put(c, utf8), &mapped,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    if (n < 0)
        return -1;
    rc = append_utf8(out, (const char *)mapped, (size_t)n);
    free(mapped);
    return rc;
}

/* Ligatures and character widths, the two fixes that can lengthen text. */
static int expand_forms(gs_cpbuf *text)
{
    gs_cpbuf out = {0};

    for (size_t i = 0; i < text->len; i++) {
        int32_t c = text->cp[i];
        const char *letters = ligature_letters(c);
        int rc;

        if (letters)
            rc = append_utf8(&out, letters, strlen(letters));
        else if (c == 0x3000 || (c >= 0xff01 && c <= 0xffef))
            rc = append_normal_width(&out, c);
        else
            rc = gs_cpbuf_push(&out, c);
        if (rc != 0) {
            gs_cpbuf_free(&out);
            return -1;
        }
    }
    gs_cpbuf_free(text);
    *text = out;
    return 0;
}

/* ftfy's remove_control_chars: the C0 controls except tab, line feed, form
 * feed and carriage return, DEL, the deprecated format characters
 * U+206A..U+206F, the byte order mark, and U+FFF9..U+FFFC. ftfy keeps the
 * C1 controls, joiners and the bidirectional marks and embeddings. */
static int is_removed_control(int32_t c)
{
    return (c <= 0x08) || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f ||
           (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
}

static int is_unicode_digit(int32_t c)
{
    return utf8proc_category(c) == UTF8PROC_CATEGORY_ND;
}

/* Length of the terminal escape ESC [ (digit | ;)* letter at cp[i], or 0.
 * Python's \d in ftfy's pattern matches any decimal digit, not only ASCII. */
static size_t terminal_escape_at(const int32_t *cp, size_t n, size_t i)
{
    size_t j = i + 2;

    if (cp[i] != 0x1b || i + 1 >= n || cp[i + 1] != '[')
        return 0;
    while (j < n && (cp[j] == ';' || is_unicode_digit(cp[j])))
        j++;
    if (j < n && ((cp[j] >= 'a' && cp[j] <= 'z') || (cp[j] >= 'A' && cp[j] <= 'Z')))
        return j + 1 - i;
    return 0;
}

/* The one-for-one and shortening fixes, in ftfy's order: C1 controls read as
 * Windows-1252, curly quotes straightened, line breaks unified, terminal
 * escapes and control characters removed. */
static void fix_in_place(gs_cpbuf *text)
{
    int32_t *cp = text->cp;
    size_t n = text->len, w = 0;

    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];

        if (c >= 0x80 && c <= 0x9f)
            c = gs_cp1252_char(c);
        if (c == 0x02bc || (c >= 0x2018 && c <= 0x201b))
            c = '\'';
        else if (c >= 0x201c && c <= 0x201f)
            c = '"';
        cp[i] = c;
    }

    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];

        if (c == '\r' && i + 1 < n && cp[i + 1] == '\n')
            continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85)
            c = '\n';
        cp[w++] = c;
    }
    n = w;

    w = 0;
    for (size_t i = 0; i < n;) {
        size_t esc = terminal_escape_at(cp, n, i);
        if (esc) {
            i += esc;
            continue;
        }
        cp[w++] = cp[i++];
    }
    n = w;

    w = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_removed_control(cp[i]))
            cp[w++] = cp[i];
    text->len = w;
}

/* One pass of ftfy's fixes over a line. */
static int fix_pass(gs_cpbuf *text, int unescape)
{
    if (unescape && gs_html_unescape_strict(text) != 0)
        return -1;
    if (gs_fix_mojibake(text) < 0)
        return -1;
    if (expand_forms(text) != 0)
        return -1;
    fix_in_place(text);
    return normalize(text, UTF8PROC_COMPOSE);
}

/* ftfy's fix_and_explain: the fixes again and again until the line stops
 * changing. */
static int fix_line(gs_cpbuf *line, int unescape)
{
    gs_cpbuf before = {0};
    int rc = 0;

    for (int pass = 0; pass < MAX_FIX_PASSES; pass++) {
        before.len = 0;
        if (gs_cpbuf_append(&before, line->cp, line->len) != 0 || fix_pass(line, unescape) != 0) {
            rc = -1;
            break;
        }
        /* An empty line has no buffer, and memcmp must not see NULL. */
        if (before.len == line->len &&
            (line->len == 0 || memcmp(before.cp, line->cp, line->len * sizeof *line->cp) == 0))
            break;
    }
    gs_cpbuf_free(&before);
    return rc;
}

static int contains(const int32_t *cp, size_t n, int32_t c)
{
    for (size_t i = 0; i < n; i++)
        if (cp[i] == c)
            return 1;
    return 0;
}

/* ftfy's fix_text: fixes each line (a line keeps its '\n') on its own.
 * HTML entities are unescaped until the first line that contains a '<', which
 * suggests HTML markup where entities must stay. */
static int fix_text(gs_cpbuf *text)
{
    gs_cpbuf out = {0}, line = {0};
    int unescape = 1;
    size_t pos = 0;
    int rc = 0;

    while (pos < text->len && rc == 0) {
        size_t end = pos;

        while (end < text->len && text->cp[end] != '\n')
            end++;
        if (end < text->len)
            end++;

        line.len = 0;
        if (contains(text->cp + pos, end - pos, '<'))
            unescape = 0;
        if (gs_cpbuf_append(&line, text->cp + pos, end - pos) != 0 || fix_line(&line, unescape) != 0 ||
            gs_cpbuf_append(&out, line.cp, line.len) != 0)
            rc = -1;
        pos = end;
    }
    gs_cpbuf_free(&line);
    if (rc != 0) {
        gs_cpbuf_free(&out);
        return -1;
    }
    gs_cpbuf_free(text);
    *text = out;
    return 0;
}

/* Replaces each run of white space with one space and strips both ends. */
static void collapse_space(gs_cpbuf *text)
{
    size_t w = 0;
    int pending = 0;

    for (size_t i = 0; i < text->len; i++) {
        int32_t c = text->cp[i];

        if (is_python_space(c)) {
            pending = w > 0;
            continue;
        }
        if (pending)
            text->cp[w++] = ' ';
        pending = 0;
        text->cp[w++] = c;
    }
    text->len = w;
}

static int is_cased(int32_t c)
{
    utf8proc_category_t cat = utf8proc_category(c);

    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL ||
           cat == UTF8PROC_CATEGORY_LT || utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

static int is_case_ignorable(int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return 1;
    default:
        break;
    }
    switch (c) {
    case '\'': case '.': case ':': case 0xb7: case 0x387: case 0x55f: case 0x5f4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xfe13: case 0xfe52:
    case 0xfe55: case 0xff07: case 0xff0e: case 0xff1a:
        return 1;
    default:
        return 0;
    }
}

/* Unicode's Final_Sigma condition, which Python's str.lower applies: a
 * capital sigma after a cased letter and not before one becomes final sigma.
 * NOTE: cased and case-ignorable are approximated from the general category
 * and case mappings that utf8proc offers, not Unicode's derived properties. */
static int is_final_sigma(const int32_t *cp, size_t n, size_t i)
{
    size_t j = i;
    int before = 0, after = 0;

    while (j > 0) {
        j--;
        if (!is_case_ignorable(cp[j])) {
            before = is_cased(cp[j]);
            break;
        }
    }
    for (j = i + 1; j < n; j++) {
        if (!is_case_ignorable(cp[j])) {
            after = is_cased(cp[j]);
            break;
        }
    }
    return before && !after;
}

/* Python's str.lower: simple lower-case mappings, plus the full mapping of
 * U+0130 (i and a combining dot) and the final sigma. */
static int lower_case(gs_cpbuf *text)
{
    gs_cpbuf out = {0};

    for (size_t i = 0; i < text->len; i++) {
        int32_t c = text->cp[i];
        int rc;

        if (c == 0x130)
            rc = gs_cpbuf_push(&out, 'i') || gs_cpbuf_push(&out, 0x307);
        else if (c == 0x3a3)
            rc = gs_cpbuf_push(&out, is_final_sigma(text->cp, text->len, i) ? 0x3c2 : 0x3c3);
        else
            rc = gs_cpbuf_push(&out, utf8proc_tolower(c));
        if (rc != 0) {
            gs_cpbuf_free(&out);
            return -1;
        }
    }
    gs_cpbuf_free(text);
    *text = out;
    return 0;
}

int gs_text_clean(gs_cpbuf *text)
{
    if (fix_text(text) != 0)
        return -1;
    if (gs_html_unescape(text) != 0 || gs_html_unescape(text) != 0)
        return -1;

    /* CLIP strips, collapses white space and strips again; one pass that
     * collapses and trims does the same. */
    collapse_space(text);
    return lower_case(text);
}
