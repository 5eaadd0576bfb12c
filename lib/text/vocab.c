/*
 * vocab.c - reads CLIP's BPE merges file and builds the vocabulary: the 256
 * byte characters, the same with the end-of-word mark "</w>", one token per
 * merge, then the start and end tokens.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "text/text_internal.h"

/* Maximum line length accepted. The longest merge of OpenAI's file is under
 * 70 bytes, so a longer line means the file is something else. */
#define MAX_LINE_BYTES 4096

/* Maximum decompressed size read. OpenAI's file is about 2.4 MB, of which
 * CLIP uses the first 0.5 MB. The bound limits the memory a hostile file takes. */
#define MAX_FILE_BYTES (64u << 20)

#define END_OF_WORD "</w>"

/* A token string table: open addressing from string to id. */
typedef struct {
    const char **keys;
    int32_t *ids;
    size_t mask;
} string_table;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_pair(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

static size_t table_slots(size_t entries)
{
    size_t slots = 16;

    while (slots < entries * 2)
        slots *= 2;
    return slots;
}

static int string_table_init(string_table *t, size_t entries)
{
    size_t slots = table_slots(entries);

    t->keys = calloc(slots, sizeof *t->keys);
    t->ids = calloc(slots, sizeof *t->ids);
    t->mask = slots - 1;
    return t->keys && t->ids ? 0 : -1;
}

static void string_table_free(string_table *t)
{
    free(t->keys);
    free(t->ids);
}

/* Inserts s, or gives it the new id when present: a repeated token string
 * keeps its last id, as the dictionary CLIP builds from its token list does. */
static void string_table_put(string_table *t, const char *s, int32_t id)
{
    size_t i = hash_bytes(s, strlen(s)) & t->mask;

    while (t->keys[i]) {
        if (strcmp(t->keys[i], s) == 0) {
            t->ids[i] = id;
            return;
        }
        i = (i + 1) & t->mask;
    }
    t->keys[i] = s;
    t->ids[i] = id;
}

static int32_t string_table_get(const string_table *t, const char *s, size_t n)
{
    size_t i = hash_bytes(s, n) & t->mask;

    while (t->keys[i]) {
        if (strncmp(t->keys[i], s, n) == 0 && t->keys[i][n] == '\0')
            return t->ids[i];
        i = (i + 1) & t->mask;
    }
    return -1;
}

static int merge_table_init(gs_merge_table *t, size_t entries)
{
    size_t slots = table_slots(entries);

    t->keys = calloc(slots, sizeof *t->keys);
    t->ranks = calloc(slots, sizeof *t->ranks);
    t->mask = slots - 1;
    return t->keys && t->ranks ? 0 : -1;
}

/* Inserts a pair, or gives it the new rank when present: a repeated merge
 * keeps its last rank, as the dictionary CLIP builds from its merge list does. */
static void merge_table_put(gs_merge_table *t, int32_t left, int32_t right, int32_t rank)
{
    uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    size_t i = hash_pair(key) & t->mask;

    while (t->keys[i]) {
        if (t->keys[i] == key) {
            t->ranks[i] = rank;
            return;
        }
        i = (i + 1) & t->mask;
    }
    t->keys[i] = key;
    t->ranks[i] = rank;
}

int32_t gs_vocab_rank(const gs_vocab *vocab, int32_t left, int32_t right)
{
    const gs_merge_table *t = &vocab->table;
    uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    size_t i = hash_pair(key) & t->mask;

    while (t->keys[i]) {
        if (t->keys[i] == key)
            return t->ranks[i];
        i = (i + 1) & t->mask;
    }
    return -1;
}

/* Fills the byte-to-unicode table of GPT-2 and CLIP: printable Latin-1 bytes
 * stand for themselves, the other 68 bytes for U+0100 onwards in byte order.
 * Token ids follow the same order: the printable bytes first, then the rest. */
static void byte_characters(int32_t byte_char[256], int32_t byte_id[256])
{
    int32_t next_char = 256;
    int32_t next_id = 0;

    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        if (printable) {
            byte_char[b] = b;
            byte_id[b] = next_id++;
        }
    }
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        if (!printable) {
            byte_char[b] = next_char++;
            byte_id[b] = next_id++;
        }
    }
}

/* Reads the whole file, decompressing it when it is gzip; zlib passes a
 * plain file through unchanged. Returns a malloc'd, NUL-terminated buffer. */
static gscam_status read_file(const char *path, char **out, size_t *out_len)
{
    struct stat info;
    gzFile gz;
    char *buf = NULL;
    int fd;
    size_t len = 0, cap = 0;
    int errnum;
    const char *zmsg;

    /* O_NONBLOCK so that a FIFO cannot block the open; only regular files
     * are read. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return gs_fail(NULL, GSCAM_ERR_IO, "vocabulary %s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        return gs_fail(NULL, GSCAM_ERR_IO, "vocabulary %s: not a regular file", path);
    }
    errno = 0;
    gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return gs_fail(NULL, GSCAM_ERR_IO, "vocabulary %s: cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");
    }

    for (;;) {
        int n;

        if (cap - len < 65536 + 1) {
            char *grown;
            if (cap >= MAX_FILE_BYTES) {
                free(buf);
                gzclose(gz);
                return gs_fail(NULL, GSCAM_ERR_VOCAB,
                               "vocabulary %s: more than %u bytes; a CLIP merges file is about 2.4 MB",
                               path, MAX_FILE_BYTES);
            }
            cap = cap ? cap * 2 : 1u << 20;
            grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                gzclose(gz);
                return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY,
                               "vocabulary %s: cannot allocate %zu bytes", path, cap);
            }
            buf = grown;
        }
        n = gzread(gz, buf + len, 65536);
        if (n < 0) {
            gscam_status st;
            zmsg = gzerror(gz, &errnum);
            if (errnum == Z_ERRNO)
                st = gs_fail(NULL, GSCAM_ERR_IO, "vocabulary %s: read failed: %s", path,
                             strerror(errno));
            else
                st = gs_fail(NULL, GSCAM_ERR_VOCAB, "vocabulary %s: corrupt gzip data: %s", path,
                             zmsg);
            free(buf);
            gzclose(gz);
            return st;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }

    /* gzread reports a gzip stream cut short as end of file and keeps the
     * error for gzerror. */
    zmsg = gzerror(gz, &errnum);
    if (errnum != Z_OK) {
        gscam_status st = gs_fail(NULL, GSCAM_ERR_VOCAB, "vocabulary %s: corrupt gzip data: %s",
                                  path, zmsg);
        free(buf);
        gzclose(gz);
        return st;
    }
    gzclose(gz);

    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return GSCAM_OK;
}

/* Splits the text after the header into merge lines, checking each one:
 * two non-empty tokens separated by one space. Stores pointers to the left
 * and right parts (the space and line end are overwritten with NULs). */
static gscam_status parse_merges(const char *path, char *text, size_t len, char ***parts_out,
                                 int32_t *count_out)
{
    char **parts = malloc(sizeof *parts * 2 * GS_VOCAB_MAX_MERGES);
    char *line = text;
    char *end = text + len;
    int32_t count = 0;
    size_t line_no = 1;
    char *nl;

    if (!parts)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "vocabulary %s: out of memory", path);

    nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl || memchr(line, '\0', (size_t)(nl - line)) || !memmem(line, (size_t)(nl - line), "#version", 8)) {
        free(parts);
        return gs_fail(NULL, GSCAM_ERR_VOCAB,
                       "vocabulary %s: line 1 is not a merges header such as \"#version: 0.2\"",
                       path);
    }
    line = nl + 1;

    while (line < end && count < GS_VOCAB_MAX_MERGES) {
        char *space;
        size_t n;

        line_no++;
        nl = memchr(line, '\n', (size_t)(end - line));
        n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;

        /* An empty last line is the file's final newline. */
        if (n == 0 && (!nl || nl + 1 == end))
            break;

        space = memchr(line, ' ', n);
        if (n > MAX_LINE_BYTES || memchr(line, '\0', n) || !space || space == line ||
            space == line + n - 1 || memchr(space + 1, ' ', (size_t)(line + n - space - 1))) {
            free(parts);
            return gs_fail(NULL, GSCAM_ERR_VOCAB,
                           "vocabulary %s: line %zu is not a merge of two tokens separated by "
                           "one space (%zu bytes)",
                           path, line_no, n);
        }
        *space = '\0';
        line[n] = '\0';
        parts[2 * count] = line;
        parts[2 * count + 1] = space + 1;
        count++;
        line = nl ? nl + 1 : end;
    }

    *parts_out = parts;
    *count_out = count;
    return GSCAM_OK;
}

/* Builds the token strings (bytes, bytes with </w>, one per merge) and
 * resolves each merge's parts to token ids. */
static gscam_status build_vocab(const char *path, char **parts, int32_t n_merges, gs_vocab *vocab)
{
    int32_t byte_char[256];
    size_t n_tokens = 512 + (size_t)n_merges;
    char **strings = calloc(n_tokens, sizeof *strings);
    string_table table = {0};
    gscam_status st = GSCAM_OK;

    if (!strings || string_table_init(&table, n_tokens) != 0 ||
        merge_table_init(&vocab->table, (size_t)n_merges) != 0 ||
        !(vocab->merges = malloc(sizeof *vocab->merges * (n_merges ? (size_t)n_merges : 1)))) {
        st = gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "vocabulary %s: out of memory", path);
        goto done;
    }

    byte_characters(byte_char, vocab->byte_id);
    for (int b = 0; b < 256; b++) {
        unsigned char utf8[4 + sizeof END_OF_WORD];
        size_t n = gs_utf8_put(byte_char[b], utf8);
        int32_t id = vocab->byte_id[b];

        vocab->byte_end_id[b] = 256 + id;
        memcpy(utf8 + n, END_OF_WORD, sizeof END_OF_WORD);
        strings[id] = strndup((const char *)utf8, n);
        strings[256 + id] = strdup((const char *)utf8);
        if (!strings[id] || !strings[256 + id]) {
            st = gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "vocabulary %s: out of memory", path);
            goto done;
        }
    }
    for (int32_t r = 0; r < n_merges; r++) {
        size_t a = strlen(parts[2 * r]), b = strlen(parts[2 * r + 1]);
        char *s = malloc(a + b + 1);

        if (!s) {
            st = gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "vocabulary %s: out of memory", path);
            goto done;
        }
        memcpy(s, parts[2 * r], a);
        memcpy(s + a, parts[2 * r + 1], b + 1);
        strings[512 + r] = s;
    }
    for (size_t i = 0; i < n_tokens; i++)
        string_table_put(&table, strings[i], (int32_t)i);

    for (int32_t r = 0; r < n_merges; r++) {
        const char *left = parts[2 * r], *right = parts[2 * r + 1];
        int32_t l = string_table_get(&table, left, strlen(left));
        int32_t rt = string_table_get(&table, right, strlen(right));

        if (l < 0 || rt < 0) {
            st = gs_fail(NULL, GSCAM_ERR_VOCAB,
                         "vocabulary %s: line %d merges \"%.40s\", which is no token of the "
                         "vocabulary",
                         path, r + 2, l < 0 ? left : right);
            goto done;
        }
        vocab->merges[r] = (gs_merge){l, rt, string_table_get(&table, strings[512 + r],
                                                              strlen(strings[512 + r]))};
        merge_table_put(&vocab->table, l, rt, r);
    }
    vocab->n_merges = n_merges;

done:
    if (strings)
        for (size_t i = 0; i < n_tokens; i++)
            free(strings[i]);
    free(strings);
    string_table_free(&table);
    return st;
}

gscam_status gs_vocab_load(const char *path, gs_vocab *vocab)
{
    char *text = NULL;
    size_t len = 0;
    char **parts = NULL;
    int32_t n_merges = 0;
    gscam_status st;

    memset(vocab, 0, sizeof *vocab);

    st = read_file(path, &text, &len);
    if (st == GSCAM_OK)
        st = parse_merges(path, text, len, &parts, &n_merges);
    if (st == GSCAM_OK)
        st = build_vocab(path, parts, n_merges, vocab);

    free(parts);
    free(text);
    if (st != GSCAM_OK)
        gs_vocab_free(vocab);
    return st;
}

void gs_vocab_free(gs_vocab *vocab)
{
    free(vocab->merges);
    free(vocab->table.keys);
    free(vocab->table.ranks);
    memset(vocab, 0, sizeof *vocab);
}
