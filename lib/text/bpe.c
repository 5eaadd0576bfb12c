/*
 * bpe.c - splits cleaned text with CLIP's pattern and applies byte-pair
 * encoding to each piece by merge rank.
 */
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/text_internal.h"

/* CLIP's split pattern, matched case-insensitively on Unicode properties.
 * The clean-up has already lowered the case and left ' ' as the only white
 * space, so \s here only ever meets U+0020. */
static const char SPLIT_PATTERN[] =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|"
    "[^\\s\\p{L}\\p{N}]+";

static const char START_TEXT[] = "<|startoftext|>";
static const char END_TEXT[] = "<|endoftext|>";

struct gs_splitter {
    pcre2_code *code;
};

gscam_status gs_splitter_create(gs_splitter **out)
{
    gs_splitter *split = calloc(1, sizeof *split);
    int err;
    PCRE2_SIZE err_offset;

    if (!split)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    split->code = pcre2_compile((PCRE2_SPTR)SPLIT_PATTERN, PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &err_offset, NULL);
    if (!split->code) {
        PCRE2_UCHAR text[160];
        pcre2_get_error_message(err, text, sizeof text);
        free(split);
        return gs_fail(NULL, GSCAM_ERR_BACKEND, "tokenizer: PCRE2 rejected the split pattern at %zu: %s",
                       (size_t)err_offset, (const char *)text);
    }
    /* The JIT only speeds matching up; the interpreter gives the same matches. */
    pcre2_jit_compile(split->code, PCRE2_JIT_COMPLETE);
    *out = split;
    return GSCAM_OK;
}

void gs_splitter_free(gs_splitter *split)
{
    if (!split)
        return;
    pcre2_code_free(split->code);
    free(split);
}

/* A candidate merge of the symbol at pos with the one after it. */
typedef struct {
    int32_t rank;
    int32_t pos;
    int32_t left;
    int32_t right;
} candidate;

/* Scratch space for one piece, grown as pieces get longer. */
typedef struct {
    size_t cap;
    int32_t *id;     /* symbol id at each position; -1 once merged away */
    int32_t *next;   /* next live position, or -1 */
    int32_t *prev;   /* previous live position, or -1 */
    candidate *heap;
    size_t heap_len;
} workspace;

static int workspace_reserve(workspace *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    free(w->id);
    free(w->next);
    free(w->prev);
    free(w->heap);
    w->id = malloc(n * sizeof *w->id);
    w->next = malloc(n * sizeof *w->next);
    w->prev = malloc(n * sizeof *w->prev);
    w->heap = malloc(n * 2 * sizeof *w->heap);
    w->cap = (w->id && w->next && w->prev && w->heap) ? n : 0;
    return w->cap ? 0 : -1;
}

static void workspace_free(workspace *w)
{
    free(w->id);
    free(w->next);
    free(w->prev);
    free(w->heap);
}

static int candidate_before(const candidate *a, const candidate *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(workspace *w, candidate c)
{
    size_t i = w->heap_len++;

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!candidate_before(&c, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = c;
}

static candidate heap_pop(workspace *w)
{
    candidate top = w->heap[0];
    candidate last = w->heap[--w->heap_len];
    size_t i = 0;

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= w->heap_len)
            break;
        if (child + 1 < w->heap_len && candidate_before(&w->heap[child + 1], &w->heap[child]))
            child++;
        if (!candidate_before(&w->heap[child], &last))
            break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (w->heap_len > 0)
        w->heap[i] = last;
    return top;
}

static void push_pair(const gs_vocab *vocab, workspace *w, int32_t pos)
{
    int32_t nx = w->next[pos];
    int32_t rank;

    if (nx < 0)
        return;
    rank = gs_vocab_rank(vocab, w->id[pos], w->id[nx]);
    if (rank >= 0)
        heap_push(w, (candidate){rank, pos, w->id[pos], w->id[nx]});
}

/* Merges the piece's symbols by rank. CLIP merges every occurrence of the
 * lowest-ranked pair left to right, then looks again; taking candidates by
 * (rank, position) from a heap gives the same merges in O(n log n). */
static gscam_status bpe_piece(const gs_vocab *vocab, workspace *w, const unsigned char *piece,
                              size_t n, gs_id_sink sink, void *user, int *stopped)
{
    if (workspace_reserve(w, n) != 0)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "tokenizer: out of memory for a %zu-byte word", n);

    for (size_t i = 0; i < n; i++) {
        w->id[i] = i + 1 < n ? vocab->byte_id[piece[i]] : vocab->byte_end_id[piece[i]];
        w->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        w->prev[i] = (int32_t)i - 1;
    }
    w->heap_len = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(vocab, w, (int32_t)i);

    while (w->heap_len > 0) {
        candidate c = heap_pop(w);
        int32_t nx = w->next[c.pos];

        /* Skip candidates that an earlier merge made stale. */
        if (w->id[c.pos] != c.left || nx < 0 || w->id[nx] != c.right)
            continue;

        w->id[c.pos] = vocab->merges[c.rank].merged;
        w->id[nx] = -1;
        w->next[c.pos] = w->next[nx];
        if (w->next[nx] >= 0)
            w->prev[w->next[nx]] = c.pos;
        if (w->prev[c.pos] >= 0)
            push_pair(vocab, w, w->prev[c.pos]);
        push_pair(vocab, w, c.pos);
    }

    for (int32_t i = 0; i >= 0; i = w->next[i]) {
        if (sink(user, w->id[i])) {
            *stopped = 1;
            break;
        }
    }
    return GSCAM_OK;
}

gscam_status gs_bpe_encode(const gs_vocab *vocab, const gs_splitter *split, const char *text,
                           size_t len, gs_id_sink sink, void *user)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(split->code, NULL);
    workspace w = {0};
    gscam_status st = GSCAM_OK;
    int32_t start_id = 512 + vocab->n_merges;
    PCRE2_SIZE pos = 0;
    int stopped = 0;

    if (!md)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");

    while (pos < len && !stopped) {
        int rc = pcre2_match(split->code, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        PCRE2_SIZE *ov;
        const unsigned char *piece;
        size_t n;

        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            st = gs_fail(NULL, GSCAM_ERR_BACKEND, "tokenizer: PCRE2 match failed at byte %zu: %s",
                         (size_t)pos, (const char *)msg);
            break;
        }
        ov = pcre2_get_ovector_pointer(md);
        piece = (const unsigned char *)text + ov[0];
        n = ov[1] - ov[0];
        pos = ov[1];
        if (n == 0) {
            pos++;
            continue;
        }

        /* The special tokens' own spellings map to their ids, as in CLIP,
         * whether the caller meant them or typed them as text. */
        if (n == sizeof START_TEXT - 1 && memcmp(piece, START_TEXT, n) == 0) {
            stopped = sink(user, start_id);
        } else if (n == sizeof END_TEXT - 1 && memcmp(piece, END_TEXT, n) == 0) {
            stopped = sink(user, start_id + 1);
        } else {
            st = bpe_piece(vocab, &w, piece, n, sink, user, &stopped);
            if (st != GSCAM_OK)
                break;
        }
    }

    workspace_free(&w);
    pcre2_match_data_free(md);
    return st;
}
