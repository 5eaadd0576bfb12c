/*
 * tokenizer.c - the public tokenizer: loads a vocabulary and encodes prompts
 * into the ids CLIP's text tower reads.
 */
#include <stdlib.h>
#include <string.h>

#include "text/text_internal.h"

/* Maximum prompt size in bytes. CLIP reads 77 tokens, so a useful prompt is a
 * few hundred bytes. The bound keeps the clean-up's memory (about 16 bytes
 * per input byte) small and each line under ftfy's segment of 1,000,000
 * characters, which this library does not split further. */
#define MAX_PROMPT_BYTES 1000000u

struct gscam_tokenizer {
    uint32_t magic;
    gs_vocab vocab;
    gs_splitter *split;
};

static gscam_status check_handle(const gscam_tokenizer *tok, const char *function)
{
    if (!tok)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "%s: tokenizer is NULL", function);
    if (tok->magic != GS_MAGIC_TOKENIZER)
        return gs_fail(NULL, GSCAM_ERR_MISUSE,
                       "%s: handle is not a live tokenizer (magic 0x%08x); it was freed or is "
                       "another object",
                       function, tok->magic);
    return GSCAM_OK;
}

gscam_status gscam_tokenizer_load(const char *path, gscam_tokenizer **out)
{
    gscam_tokenizer *tok;
    gscam_status st;

    if (!out)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_tokenizer_load: path is NULL");

    tok = calloc(1, sizeof *tok);
    if (!tok)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY, "gscam_tokenizer_load: out of memory");

    st = gs_vocab_load(path, &tok->vocab);
    if (st == GSCAM_OK)
        st = gs_splitter_create(&tok->split);
    if (st != GSCAM_OK) {
        gs_vocab_free(&tok->vocab);
        free(tok);
        return st;
    }

    tok->magic = GS_MAGIC_TOKENIZER;
    *out = tok;
    return GSCAM_OK;
}

void gscam_tokenizer_free(gscam_tokenizer *tok)
{
    if (!tok || tok->magic != GS_MAGIC_TOKENIZER)
        return;
    tok->magic = GS_MAGIC_DEAD;
    gs_splitter_free(tok->split);
    gs_vocab_free(&tok->vocab);
    free(tok);
}

int32_t gscam_tokenizer_start_id(const gscam_tokenizer *tok)
{
    if (check_handle(tok, "gscam_tokenizer_start_id") != GSCAM_OK)
        return -1;
    return 512 + tok->vocab.n_merges;
}

int32_t gscam_tokenizer_end_id(const gscam_tokenizer *tok)
{
    if (check_handle(tok, "gscam_tokenizer_end_id") != GSCAM_OK)
        return -1;
    return 512 + tok->vocab.n_merges + 1;
}

int32_t gscam_tokenizer_vocab_size(const gscam_tokenizer *tok)
{
    if (check_handle(tok, "gscam_tokenizer_vocab_size") != GSCAM_OK)
        return -1;
    return 512 + tok->vocab.n_merges + 2;
}

/* Where the BPE ids of a prompt go: after the start token, while they fit. */
typedef struct {
    int32_t *ids;
    size_t capacity;   /* ids that fit between the start and end tokens */
    size_t count;      /* ids seen so far, stored or not */
    int stop_when_full;
} id_output;

static int collect_id(void *user, int32_t id)
{
    id_output *o = user;

    if (o->count < o->capacity)
        o->ids[1 + o->count] = id;
    o->count++;

    /* With truncation, one id past the capacity settles the outcome. */
    return o->stop_when_full && o->count > o->capacity;
}

/* Cleans the prompt and returns it as UTF-8 in *clean (malloc'd). */
static gscam_status clean_prompt(const char *text, size_t text_len, char **clean, size_t *clean_len)
{
    gs_cpbuf cps = {0};
    size_t bad = 0;
    int rc = gs_utf8_decode(text, text_len, &cps, &bad);

    if (rc == -2) {
        gs_cpbuf_free(&cps);
        return gs_fail(NULL, GSCAM_ERR_TEXT,
                       "prompt is not valid UTF-8: invalid byte 0x%02x at offset %zu",
                       (unsigned char)text[bad], bad);
    }
    if (rc == 0 && gs_text_clean(&cps) == 0)
        *clean = gs_utf8_encode(cps.cp, cps.len, clean_len);
    else
        *clean = NULL;
    gs_cpbuf_free(&cps);
    if (!*clean)
        return gs_fail(NULL, GSCAM_ERR_OUT_OF_MEMORY,
                       "prompt of %zu bytes: out of memory while cleaning it", text_len);
    return GSCAM_OK;
}

gscam_status gscam_tokenizer_encode(const gscam_tokenizer *tok, const char *text, size_t text_len,
                                    size_t context, uint32_t flags, int32_t *ids, size_t *n_ids)
{
    const int truncate = (flags & GSCAM_TOKENIZE_TRUNCATE) != 0;
    id_output out;
    char *clean = NULL;
    size_t clean_len = 0;
    gscam_status st;

    st = check_handle(tok, "gscam_tokenizer_encode");
    if (st != GSCAM_OK)
        return st;
    if (!ids)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_tokenizer_encode: ids is NULL");
    if (!n_ids)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "gscam_tokenizer_encode: n_ids is NULL");
    if (!text && text_len > 0)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_tokenizer_encode: text is NULL but text_len is %zu", text_len);
    if (context < 2)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_tokenizer_encode: context is %zu; it must hold the start and end "
                       "tokens (CLIP's is 77)",
                       context);
    if (flags & ~GSCAM_TOKENIZE_TRUNCATE)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "gscam_tokenizer_encode: unknown flags 0x%x", flags & ~GSCAM_TOKENIZE_TRUNCATE);
    if (text_len > MAX_PROMPT_BYTES)
        return gs_fail(NULL, GSCAM_ERR_LIMIT, "prompt is %zu bytes long; at most %u are accepted",
                       text_len, MAX_PROMPT_BYTES);

    st = clean_prompt(text ? text : "", text_len, &clean, &clean_len);
    if (st != GSCAM_OK)
        return st;

    memset(ids, 0, context * sizeof *ids);
    ids[0] = gscam_tokenizer_start_id(tok);
    out = (id_output){ids, context - 2, 0, truncate};
    st = gs_bpe_encode(&tok->vocab, tok->split, clean, clean_len, collect_id, &out);
    free(clean);
    if (st != GSCAM_OK)
        return st;

    if (out.count > out.capacity) {
        if (!truncate)
            return gs_fail(NULL, GSCAM_ERR_TEXT,
                           "prompt is %zu tokens long, the context holds %zu; "
                           "ask for truncation to keep the first %zu",
                           out.count + 2, context, context - 1);
        /* CLIP keeps the first context positions and overwrites the last. */
        ids[context - 1] = gscam_tokenizer_end_id(tok);
        *n_ids = context;
        return GSCAM_OK;
    }

    ids[1 + out.count] = gscam_tokenizer_end_id(tok);
    *n_ids = out.count + 2;
    return GSCAM_OK;
}
