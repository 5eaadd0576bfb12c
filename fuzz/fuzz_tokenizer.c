/*
 * fuzz_tokenizer.c - libFuzzer harness: encodes arbitrary bytes as a prompt
 * with OpenAI's CLIP vocabulary, with and without truncation.
 *
 * The vocabulary is loaded once, from $GSCAM_SHARED/clip/ or, when that is
 * unset, from ../shared/clip/ relative to the working directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gscorecam.h"

/* CLIP's context length. */
#define CONTEXT 77

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gscam_tokenizer *load_vocabulary(void)
{
    const char *shared = getenv("GSCAM_SHARED");
    char path[4096];
    gscam_tokenizer *tok = NULL;

    snprintf(path, sizeof path, "%s/clip/bpe_simple_vocab_16e6.txt.gz", shared && *shared ? shared : "../shared");
    if (gscam_tokenizer_load(path, &tok) != GSCAM_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", gscam_last_error());
        abort();
    }
    return tok;
}

static void check_ids(const int32_t *ids, size_t n_ids, int32_t vocab_size)
{
    /* An encoded prompt starts and ends with the special tokens and every id
     * in between is in the vocabulary; anything else is a tokenizer bug. */
    if (n_ids < 2 || n_ids > CONTEXT || ids[0] != GSCAM_TOKEN_START || ids[n_ids - 1] != GSCAM_TOKEN_END)
        abort();
    for (size_t i = 1; i + 1 < n_ids; i++)
        if (ids[i] < 0 || ids[i] >= vocab_size)
            abort();
    for (size_t i = n_ids; i < CONTEXT; i++)
        if (ids[i] != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gscam_tokenizer *tok;
    int32_t ids[CONTEXT];
    size_t n_ids = 0;
    gscam_status plain, truncated;

    if (!tok)
        tok = load_vocabulary();

    plain = gscam_tokenizer_encode(tok, (const char *)data, size, CONTEXT, 0, ids, &n_ids);
    if (plain == GSCAM_OK)
        check_ids(ids, n_ids, gscam_tokenizer_vocab_size(tok));

    truncated = gscam_tokenizer_encode(tok, (const char *)data, size, CONTEXT, GSCAM_TOKENIZE_TRUNCATE, ids, &n_ids);
    if (truncated == GSCAM_OK)
        check_ids(ids, n_ids, gscam_tokenizer_vocab_size(tok));

    /* Truncation only turns a too-long prompt into a success. */
    if (plain == GSCAM_OK && truncated != GSCAM_OK)
        abort();
    return 0;
}
