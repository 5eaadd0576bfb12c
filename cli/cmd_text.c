/*
 * cmd_text.c - `gscorecam tokenize`: the token ids a model receives for a prompt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

gscam_status cli_tokenize(const gscam_tokenizer *tok, const char *text, size_t context, int truncate, int32_t *ids)
{
    size_t n = 0;

    return gscam_tokenizer_encode(tok, text, strlen(text), context, truncate ? GSCAM_TOKENIZE_TRUNCATE : 0, ids, &n);
}

static int print_ids(const gscam_tokenizer *tok, const char *text, size_t len, const struct cli_options *o,
                     int32_t *ids)
{
    size_t n = 0;
    gscam_status st = gscam_tokenizer_encode(tok, text, len, (size_t)o->context,
                                             o->truncate ? GSCAM_TOKENIZE_TRUNCATE : 0, ids, &n);

    if (st != GSCAM_OK)
        return cli_fail_status("tokenize", st);
    for (size_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    return 0;
}

/* One prompt per line of standard input; a failing line fails the run but
 * the remaining lines are still printed. */
static int tokenize_lines(const gscam_tokenizer *tok, const struct cli_options *o, int32_t *ids)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (print_ids(tok, line, (size_t)len, o, ids) != 0)
            rc = EXIT_FAILED;
    }
    free(line);
    return rc;
}

int cmd_tokenize(const struct cli_options *o)
{
    gscam_tokenizer *tok = NULL;
    int32_t *ids;
    gscam_status st;
    int rc;

    if (!o->vocab)
        return cli_usage_error("tokenize: --vocab is required");
    if ((st = gscam_tokenizer_load(o->vocab, &tok)) != GSCAM_OK)
        return cli_fail_status("vocabulary", st);
    ids = malloc((size_t)o->context * sizeof *ids);
    if (!ids) {
        gscam_tokenizer_free(tok);
        return cli_fail("tokenize", "out of memory");
    }
    if (o->positional)
        rc = print_ids(tok, o->positional, strlen(o->positional), o, ids);
    else
        rc = tokenize_lines(tok, o, ids);
    free(ids);
    gscam_tokenizer_free(tok);
    return rc;
}
