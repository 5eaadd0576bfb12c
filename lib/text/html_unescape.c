/*
 * html_unescape.c - the two HTML unescapers of CLIP's clean-up: Python's
 * html.unescape (3.11), and ftfy 6's stricter unescape_html.
 */
#include <utf8proc.h>

#include "text/text_internal.h"

/* Maximum length of the entity name that html.unescape reads after '&'. */
#define MAX_NAME_CHARS 32
/* Maximum run of letters and digits that ftfy's unescape_html reads. */
#define MAX_STRICT_CHARS 24

static int is_ascii_digit(int32_t c)
{
    return c >= '0' && c <= '9';
}

static int is_ascii_hex(int32_t c)
{
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_ascii_alnum(int32_t c)
{
    return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Code points that html.unescape drops from numeric references: controls,
 * and the noncharacters U+FDD0..U+FDEF and U+xFFFE, U+xFFFF. */
static int is_dropped_code_point(int32_t c)
{
    return (c >= 0x01 && c <= 0x08) || c == 0x0b || (c >= 0x0e && c <= 0x1f) ||
           (c >= 0x7f && c <= 0x9f) || (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe;
}

/* Appends what a numeric reference to num stands for under the HTML5 rules
 * that html.unescape follows: 0 becomes U+FFFD, 0x80..0x9F are read as
 * Windows-1252, surrogates and values past U+10FFFF become U+FFFD. */
static int append_numeric(gs_cpbuf *out, int32_t num)
{
    if (num == 0)
        return gs_cpbuf_push(out, 0xfffd);
    if (num == 0x0d)
        return gs_cpbuf_push(out, 0x0d);
    if (num >= 0x80 && num <= 0x9f)
        return gs_cpbuf_push(out, gs_cp1252_char(num));
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff)
        return gs_cpbuf_push(out, 0xfffd);
    if (is_dropped_code_point(num))
        return 0;
    return gs_cpbuf_push(out, num);
}

/* Reads the digits of a numeric reference from cp[*i]; the value saturates
 * just past U+10FFFF, which is all the caller needs to know. */
static int32_t read_number(const int32_t *cp, size_t n, size_t *i, int hex)
{
    int32_t value = 0;

    while (*i < n && (hex ? is_ascii_hex(cp[*i]) : is_ascii_digit(cp[*i]))) {
        int32_t c = cp[*i];
        int32_t digit = is_ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;

        value = value * (hex ? 16 : 10) + digit;
        if (value > 0x110000)
            value = 0x110000;
        (*i)++;
    }
    return value;
}

/* Copies name (ASCII code points) into buf as bytes; 0 if not ASCII. */
static int ascii_name(const int32_t *cp, size_t n, char *buf)
{
    for (size_t k = 0; k < n; k++) {
        if (cp[k] <= 0 || cp[k] >= 0x80)
            return 0;
        buf[k] = (char)cp[k];
    }
    return 1;
}

static const gs_html_entity *find_entity(const int32_t *cp, size_t n)
{
    char name[MAX_NAME_CHARS + 2];

    if (n > MAX_NAME_CHARS + 1 || !ascii_name(cp, n, name))
        return NULL;
    return gs_html_entity_find(name, n);
}

static int append_entity(gs_cpbuf *out, const gs_html_entity *e)
{
    if (gs_cpbuf_push(out, e->cp[0]) != 0)
        return -1;
    return e->cp[1] ? gs_cpbuf_push(out, e->cp[1]) : 0;
}

static int is_name_char(int32_t c)
{
    return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' &&
           c != ';';
}

/* Replaces the reference after the '&' at cp[i] as html.unescape does and
 * returns the index after what it consumed; i + 1 when nothing matched (the
 * '&' is then copied). */
static size_t unescape_at(const int32_t *cp, size_t n, size_t i, gs_cpbuf *out, int *oom)
{
    size_t j = i + 1;
    size_t start;
    const gs_html_entity *e;

    if (j < n && cp[j] == '#') {
        int hex = j + 1 < n && (cp[j + 1] == 'x' || cp[j + 1] == 'X');
        size_t digits = j + 1 + (size_t)hex;
        int32_t num;

        if (digits >= n || !(hex ? is_ascii_hex(cp[digits]) : is_ascii_digit(cp[digits])))
            goto no_match;
        j = digits;
        num = read_number(cp, n, &j, hex);
        if (j < n && cp[j] == ';')
            j++;
        *oom = append_numeric(out, num) != 0;
        return j;
    }

    start = j;
    while (j < n && j - start < MAX_NAME_CHARS && is_name_char(cp[j]))
        j++;
    if (j == start)
        goto no_match;
    if (j < n && cp[j] == ';')
        j++;

    e = find_entity(cp + start, j - start);
    if (e) {
        *oom = append_entity(out, e) != 0;
        return j;
    }

    /* Legacy names such as "&amp" also match as the longest prefix of a
     * longer run: "&notit;" is "¬it;". */
    for (size_t len = j - start - 1; len >= 2; len--) {
        e = find_entity(cp + start, len);
        if (e) {
            *oom = append_entity(out, e) != 0 || gs_cpbuf_append(out, cp + start + len, j - start - len) != 0;
            return j;
        }
    }

no_match:
    *oom = gs_cpbuf_push(out, '&') != 0;
    return i + 1;
}

int gs_html_unescape(gs_cpbuf *text)
{
    gs_cpbuf out = {0};
    size_t i = 0;
    int oom = 0;

    while (i < text->len && text->cp[i] != '&')
        i++;
    if (i == text->len)
        return 0;
    if (gs_cpbuf_append(&out, text->cp, i) != 0)
        return -1;
    while (i < text->len && !oom) {
        if (text->cp[i] == '&') {
            i = unescape_at(text->cp, text->len, i, &out, &oom);
        } else {
            oom = gs_cpbuf_push(&out, text->cp[i]) != 0;
            i++;
        }
    }
    if (oom) {
        gs_cpbuf_free(&out);
        return -1;
    }
    gs_cpbuf_free(text);
    *text = out;
    return 0;
}

/* Whether html.unescape would leave "&" + name unchanged: neither the name
 * nor a legacy prefix of it is an entity. */
static int html_unescape_keeps(const char *name, size_t len)
{
    if (gs_html_entity_find(name, len))
        return 0;
    for (size_t k = len - 1; k >= 2; k--)
        if (gs_html_entity_find(name, k))
            return 0;
    return 1;
}

/* Python's str.upper of one code point: simple case mapping, plus the full
 * mappings of the characters that upper-case names can reach (ß, ŉ and the
 * ff/fi/fl ligatures). */
static int append_upper(gs_cpbuf *out, int32_t c)
{
    static const struct {
        int32_t c;
        const char *upper;
    } SPECIAL[] = {
        {0x00df, "SS"}, {0xfb00, "FF"}, {0xfb01, "FI"}, {0xfb02, "FL"},
        {0xfb03, "FFI"}, {0xfb04, "FFL"},
    };

    if (c == 0x0149)
        return gs_cpbuf_push(out, 0x02bc) || gs_cpbuf_push(out, 'N');
    for (size_t k = 0; k < sizeof SPECIAL / sizeof SPECIAL[0]; k++) {
        if (SPECIAL[k].c == c) {
            for (const char *s = SPECIAL[k].upper; *s; s++)
                if (gs_cpbuf_push(out, *s) != 0)
                    return -1;
            return 0;
        }
    }
    return gs_cpbuf_push(out, utf8proc_toupper(c));
}

/* ftfy also reads upper-case spellings of lower-case names ("&EACUTE;" for
 * "&eacute;") when html.unescape would not read them otherwise, and gives
 * the upper case of the character. */
static int append_upper_entity(gs_cpbuf *out, const char *name, size_t len)
{
    char lower[MAX_STRICT_CHARS + 2];
    const gs_html_entity *e;

    for (size_t k = 0; k < len; k++) {
        if (name[k] >= 'a' && name[k] <= 'z')
            return 0;
        lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] | 0x20 : name[k]);
    }
    e = gs_html_entity_find(lower, len);
    if (!e || !html_unescape_keeps(name, len))
        return 0;
    if (append_upper(out, e->cp[0]) != 0 || (e->cp[1] && append_upper(out, e->cp[1]) != 0))
        return -1;
    return 1;
}

/* Replaces the reference "&" + cp[start..end) (';' included) as ftfy does.
 * Returns 1 if replaced, 0 if it is to stay as it is, -1 on no memory. */
static int replace_strict(const int32_t *cp, size_t start, size_t end, gs_cpbuf *out)
{
    char name[MAX_STRICT_CHARS + 2];
    size_t len = end - start;
    const gs_html_entity *e;

    ascii_name(cp + start, len, name);
    e = gs_html_entity_find(name, len);
    if (e && name[0] != '#')
        return append_entity(out, e) != 0 ? -1 : 1;

    if (name[0] == '#') {
        int hex = name[1] == 'x' || name[1] == 'X';
        size_t k = 1 + (size_t)hex;
        size_t i = start + k;
        int32_t num;

        /* html.unescape must consume the whole run up to the ';'. */
        if (k >= len - 1)
            return 0;
        num = read_number(cp, end - 1, &i, hex);
        if (i != end - 1)
            return 0;
        return append_numeric(out, num) != 0 ? -1 : 1;
    }
    return append_upper_entity(out, name, len);
}

int gs_html_unescape_strict(gs_cpbuf *text)
{
    gs_cpbuf out = {0};
    const int32_t *cp = text->cp;
    size_t n = text->len;
    size_t i = 0;

    while (i < n) {
        size_t start = i + 1, body, j;
        int rc;

        if (cp[i] != '&') {
            if (gs_cpbuf_push(&out, cp[i]) != 0)
                goto oom;
            i++;
            continue;
        }

        /* The pattern &#?[0-9A-Za-z]{1,24}; */
        body = start < n && cp[start] == '#' ? start + 1 : start;
        j = body;
        while (j < n && j - body <= MAX_STRICT_CHARS && is_ascii_alnum(cp[j]))
            j++;
        if (j < n && cp[j] == ';' && j > body && j - body <= MAX_STRICT_CHARS) {
            rc = replace_strict(cp, start, j + 1, &out);
            if (rc < 0)
                goto oom;
            if (rc > 0) {
                i = j + 1;
                continue;
            }
        }
        if (gs_cpbuf_push(&out, '&') != 0)
            goto oom;
        i++;
    }

    gs_cpbuf_free(text);
    *text = out;
    return 0;

oom:
    gs_cpbuf_free(&out);
    return -1;
}
