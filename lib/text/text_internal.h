/*
 * text_internal.h - the parts of the CLIP tokenizer that the files of lib/text share:
 * code point buffers, the text clean-up, HTML entities, the vocabulary and BPE.
 */
#ifndef GS_TEXT_INTERNAL_H
#define GS_TEXT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/common.h"

/* ------------------------------------------------------------------------ */
/* Code point buffers                                                       */
/* ------------------------------------------------------------------------ */

/* A growable array of Unicode code points; the clean-up works on these. */
typedef struct {
    int32_t *cp;
    size_t len;
    size_t cap;
} gs_cpbuf;

/* Appends one code point. Returns 0, or -1 when memory runs out. */
int gs_cpbuf_push(gs_cpbuf *buf, int32_t c);
/* Appends n code points. Returns 0, or -1 when memory runs out. */
int gs_cpbuf_append(gs_cpbuf *buf, const int32_t *cp, size_t n);
void gs_cpbuf_free(gs_cpbuf *buf);

/* Decodes strict UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF) into buf. Returns 0; -1 when memory runs out; or -2 with
 * *bad_offset set to the byte offset of the first invalid sequence. */
int gs_utf8_decode(const char *text, size_t len, gs_cpbuf *buf, size_t *bad_offset);

/* Encodes code points as UTF-8 into a malloc'd, NUL-terminated string whose
 * length in bytes goes to *out_len. Returns NULL when memory runs out. */
char *gs_utf8_encode(const int32_t *cp, size_t n, size_t *out_len);

/* Writes the UTF-8 form of c into out (4 bytes at least); returns its length. */
size_t gs_utf8_put(int32_t c, unsigned char *out);

/* ------------------------------------------------------------------------ */
/* Clean-up (clean.c, html_entities.c)                                      */
/* ------------------------------------------------------------------------ */

/* Runs CLIP's clean-up on text in place: ftfy's fix_text with its default
 * settings, HTML unescaping twice, whitespace collapsed and stripped, lower
 * case. Returns 0, or -1 when memory runs out. */
int gs_text_clean(gs_cpbuf *text);

/* ftfy's fix_encoding, simplified: repairs UTF-8 read as Windows-1252 or
 * Latin-1 in one line of text. Returns 1 when it changed the text, 0 when
 * not, -1 when memory runs out. */
int gs_fix_mojibake(gs_cpbuf *text);

/* The character Windows-1252 gives byte b (0x80 to 0x9F), or b itself for
 * the five bytes it leaves undefined. */
int32_t gs_cp1252_char(int b);

/* Python's html.unescape: replaces every character reference of text. */
int gs_html_unescape(gs_cpbuf *text);

/* ftfy's unescape_html: replaces only references that match
 * &#?[0-9A-Za-z]{1,24}; and that stand for something. */
int gs_html_unescape_strict(gs_cpbuf *text);

/* One HTML5 named character reference: its name, with the ';' where the
 * standard spells it so, and the one or two code points it stands for. */
typedef struct {
    const char *name;
    int32_t cp[2];
} gs_html_entity;

/* Looks up an entity by name (name_len bytes, ASCII). Returns NULL if unknown. */
const gs_html_entity *gs_html_entity_find(const char *name, size_t name_len);

/* ------------------------------------------------------------------------ */
/* Vocabulary and BPE (vocab.c, bpe.c)                                      */
/* ------------------------------------------------------------------------ */

/* Maximum merges read from a vocabulary: CLIP's models have 49,408 token
 * embeddings, 512 byte tokens + 48,894 merges + the start and end tokens. */
#define GS_VOCAB_MAX_MERGES 48894

/* One merge: the ids of its left and right parts, and of the token it makes. */
typedef struct {
    int32_t left;
    int32_t right;
    int32_t merged;
} gs_merge;

/* Open-addressing hash table from a pair of ids to a merge rank. */
typedef struct {
    uint64_t *keys;    /* (left << 32 | right) + 1; 0 marks an empty slot */
    int32_t *ranks;
    size_t mask;       /* slots - 1; the slot count is a power of two */
} gs_merge_table;

typedef struct gs_vocab {
    int32_t n_merges;
    gs_merge *merges;        /* indexed by rank */
    gs_merge_table table;
    int32_t byte_id[256];    /* id of each byte's character */
    int32_t byte_end_id[256]; /* the same with the end-of-word mark </w> */
} gs_vocab;

/* Reads a CLIP merges file, gzip-compressed or plain, into vocab. Fails with
 * GSCAM_ERR_IO, GSCAM_ERR_VOCAB or GSCAM_ERR_OUT_OF_MEMORY. */
gscam_status gs_vocab_load(const char *path, gs_vocab *vocab);
void gs_vocab_free(gs_vocab *vocab);

/* The rank of merging left and right, or -1 when no merge joins them. */
int32_t gs_vocab_rank(const gs_vocab *vocab, int32_t left, int32_t right);

/* CLIP's split pattern, compiled once per tokenizer; read-only afterwards. */
typedef struct gs_splitter gs_splitter;

/* Compiles the split pattern. Fails with GSCAM_ERR_BACKEND or out of memory. */
gscam_status gs_splitter_create(gs_splitter **out);
void gs_splitter_free(gs_splitter *split);

/* Callback that receives the ids of a prompt one at a time. Returning
 * non-zero stops the encoding early, because the caller needs no more. */
typedef int (*gs_id_sink)(void *user, int32_t id);

/* Splits cleaned UTF-8 text into pieces with CLIP's pattern and feeds the BPE
 * ids of each piece to sink. Returns GSCAM_OK or a failure status. */
gscam_status gs_bpe_encode(const gs_vocab *vocab, const gs_splitter *split, const char *text,
                           size_t len, gs_id_sink sink, void *user);

#endif
