/*
 * check_tokenizer.c - the CLIP tokenizer: golden vectors from the reference
 * tokenizer, prompt policies, invalid input and vocabulary files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "core/common.h"
#include "gscorecam.h"
#include "testutil.h"

#define CONTEXT 77
#define START 49406
#define END 49407

static gscam_tokenizer *tok;

/* Loads OpenAI's vocabulary for the tests that need it, or NULL. */
static gscam_tokenizer *openai_tokenizer(void)
{
    char path[1024];

    if (!tu_shared_path("clip/bpe_simple_vocab_16e6.txt.gz", path, sizeof path))
        return NULL;
    if (gscam_tokenizer_load(path, &tok) != GSCAM_OK)
        return NULL;
    return tok;
}

static void setup(void)
{
    tok = NULL;
}

static void teardown(void)
{
    gscam_tokenizer_free(tok);
    tok = NULL;
}

#define NEED_VOCAB()                                                                \
    do {                                                                            \
        if (!openai_tokenizer())                                                    \
            TU_SKIP("the shared folder with clip/bpe_simple_vocab_16e6.txt.gz "     \
                    "is absent; set GSCAM_SHARED");                                 \
    } while (0)

/* Encodes a NUL-terminated prompt with the context of 77 and checks success. */
static size_t encode_ok(const char *text, uint32_t flags, int32_t *ids)
{
    size_t n = 0;
    gscam_status st = gscam_tokenizer_encode(tok, text, strlen(text), CONTEXT, flags, ids, &n);

    ck_assert_msg(st == GSCAM_OK, "encode \"%s\" returned %s: %s", text, gscam_status_name(st),
                  gscam_last_error());
    return n;
}

/* Checks that a prompt gives START, expected..., END and zero padding. */
static void check_ids(const char *text, size_t text_len, const int32_t *expected, size_t count)
{
    int32_t ids[CONTEXT];
    size_t n = 0;
    gscam_status st = gscam_tokenizer_encode(tok, text, text_len, CONTEXT, 0, ids, &n);

    ck_assert_msg(st == GSCAM_OK, "encode returned %s: %s", gscam_status_name(st), gscam_last_error());
    ck_assert_uint_eq(n, count + 2);
    ck_assert_int_eq(ids[0], START);
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(ids[1 + i] == expected[i], "\"%s\": id %zu is %d, expected %d", text, i,
                      ids[1 + i], expected[i]);
    ck_assert_int_eq(ids[count + 1], END);
    for (size_t i = count + 2; i < CONTEXT; i++)
        ck_assert_int_eq(ids[i], 0);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void format_ids(char *buf, size_t size, const int32_t *ids, size_t n)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && len + 16 < size; i++)
        len += (size_t)snprintf(buf + len, size - len, i ? " %d" : "%d", ids[i]);
}

START_TEST(vectors_match_reference)
{
    char path[1024];
    unsigned char *data;
    size_t size = 0, rows = 0, failures = 0;
    char *line, *save = NULL;

    if (!tu_shared_path("vectors/tokenizer.tsv", path, sizeof path))
        TU_SKIP("the shared folder with vectors/tokenizer.tsv is absent; set GSCAM_SHARED");
    NEED_VOCAB();
    data = tu_read_file(path, &size);
    ck_assert_msg(data != NULL, "cannot read %s", path);

    line = strtok_r((char *)data, "\n", &save);
    for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hex = line, *id_text = strchr(line, '\t'), *display;
        char text[4096];
        int32_t expected[CONTEXT * 4], got[CONTEXT];
        size_t text_len = 0, n_expected = 0, n = 0;
        gscam_status st;

        ck_assert_msg(id_text != NULL, "row %zu has no tab", rows + 1);
        *id_text++ = '\0';
        display = strchr(id_text, '\t');
        if (display)
            *display++ = '\0';
        for (size_t i = 0; hex[i] && hex[i + 1] && text_len < sizeof text; i += 2)
            text[text_len++] = (char)(hex_value(hex[i]) * 16 + hex_value(hex[i + 1]));
        for (char *p = id_text, *end; *p && n_expected < CONTEXT * 4; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            expected[n_expected++] = (int32_t)v;
        }
        rows++;

        st = gscam_tokenizer_encode(tok, text, text_len, CONTEXT, GSCAM_TOKENIZE_TRUNCATE, got, &n);
        if (st != GSCAM_OK) {
            printf("row %zu \"%s\": %s: %s\n", rows, display ? display : "", gscam_status_name(st),
                   gscam_last_error());
            failures++;
            continue;
        }

        /* The reference ids have no start or end token and no truncation. */
        {
            size_t kept = n_expected + 2 <= CONTEXT ? n_expected : CONTEXT - 2;
            int same = n == kept + 2 && got[0] == START && got[kept + 1] == END;

            for (size_t i = 0; same && i < kept; i++)
                same = got[1 + i] == expected[i];
            if (!same) {
                char want[2048], have[2048];
                format_ids(want, sizeof want, expected, kept);
                format_ids(have, sizeof have, got + 1, n >= 2 ? n - 2 : 0);
                printf("row %zu \"%s\"\n  expected: %s\n  got:      %s\n", rows,
                       display ? display : "", want, have);
                failures++;
            }
        }
    }
    free(data);
    ck_assert_msg(rows > 300, "only %zu rows read", rows);
    ck_assert_msg(failures == 0, "%zu of %zu rows differ (listed above)", failures, rows);
}
END_TEST

START_TEST(ids_of_start_end_vocab_size)
{
    NEED_VOCAB();
    ck_assert_int_eq(gscam_tokenizer_start_id(tok), START);
    ck_assert_int_eq(gscam_tokenizer_end_id(tok), END);
    ck_assert_int_eq(gscam_tokenizer_vocab_size(tok), 49408);
}
END_TEST

START_TEST(empty_prompt_is_start_end)
{
    int32_t ids[CONTEXT];

    NEED_VOCAB();
    check_ids("", 0, NULL, 0);
    ck_assert_uint_eq(encode_ok("   \t\n ", 0, ids), 2);
}
END_TEST

/* Hand-checked ids, from a Python BPE over the merges file (CLIP's own
 * algorithm, without ftfy): 320 "a</w>", 1125 "photo</w>", 539 "of</w>",
 * 2368 "cat</w>", 15304 "cafe" with the acute e, 3459 + 39694 "été". */
START_TEST(hand_checked_prompts)
{
    static const int32_t photo[] = {320, 1125, 539, 320, 2368};
    static const int32_t cafe[] = {15304, 2566, 572, 585};
    static const int32_t fish[] = {2759, 261, 8855};
    static const int32_t hello[] = {3306, 267, 1002, 256};
    static const int32_t its[] = {585, 568};
    static const int32_t ete[] = {3459, 39694, 21259, 3445};

    NEED_VOCAB();
    check_ids("a photo of a cat", 16, photo, 5);
    check_ids("  A   PHOTO of\ta\u00a0Cat ", strlen("  A   PHOTO of\ta\u00a0Cat "), photo, 5);
    check_ids("caf\u00e9 au lait", strlen("caf\u00e9 au lait"), cafe, 4);
    /* Mojibake of the same text is repaired. */
    check_ids("caf\u00c3\u00a9 au lait", strlen("caf\u00c3\u00a9 au lait"), cafe, 4);
    /* Entities: ftfy's pass, then CLIP's own two html.unescape calls. */
    check_ids("fish &amp; chips", 16, fish, 3);
    check_ids("fish &amp;amp; chips", 20, fish, 3);
    check_ids("fish &#38; chips", 16, fish, 3);
    check_ids("Hello, World!", 13, hello, 4);
    /* A curly apostrophe is straightened, so "'s" splits off. */
    check_ids("it\u2019s", strlen("it\u2019s"), its, 2);
    /* Capital accented letters written as upper-case entity names. */
    check_ids("&EACUTE;T&EACUTE; &agrave; Paris", 32, ete, 4);
}
END_TEST

START_TEST(truncate_keeps_context_with_end_token)
{
    char text[1024] = "";
    int32_t ids[CONTEXT];
    size_t n;

    NEED_VOCAB();
    for (int i = 0; i < 100; i++)
        strcat(text, "photo ");
    n = encode_ok(text, GSCAM_TOKENIZE_TRUNCATE, ids);
    ck_assert_uint_eq(n, CONTEXT);
    ck_assert_int_eq(ids[0], START);
    for (int i = 1; i < CONTEXT - 1; i++)
        ck_assert_int_eq(ids[i], 1125);
    ck_assert_int_eq(ids[CONTEXT - 1], END);
}
END_TEST

START_TEST(exact_fit_needs_no_truncation)
{
    char text[1024] = "";
    int32_t ids[CONTEXT];

    NEED_VOCAB();
    for (int i = 0; i < CONTEXT - 2; i++)
        strcat(text, "photo ");
    ck_assert_uint_eq(encode_ok(text, 0, ids), CONTEXT);
    ck_assert_int_eq(ids[CONTEXT - 2], 1125);
    ck_assert_int_eq(ids[CONTEXT - 1], END);
}
END_TEST

START_TEST(too_long_without_truncate_fails)
{
    char text[1024] = "";
    int32_t ids[CONTEXT];
    size_t n = 0;
    gscam_status st;

    NEED_VOCAB();
    for (int i = 0; i < CONTEXT - 1; i++)
        strcat(text, "photo ");
    st = gscam_tokenizer_encode(tok, text, strlen(text), CONTEXT, 0, ids, &n);
    ck_assert_int_eq(st, GSCAM_ERR_TEXT);
    ck_assert_msg(strstr(gscam_last_error(), "78 tokens") != NULL, "message: %s", gscam_last_error());
}
END_TEST

START_TEST(invalid_utf8_fails_with_offset)
{
    static const struct {
        const char *bytes;
        size_t len;
        size_t offset;
        const char *kind;
    } cases[] = {
        {"ab\x80", 3, 2, "lone continuation byte"},
        {"a\xc0\xafz", 4, 1, "overlong slash"},
        {"\xe0\x80\xafz", 4, 0, "overlong three-byte form"},
        {"xy\xed\xa0\x80", 5, 2, "surrogate U+D800"},
        {"cat \xe2\x82", 6, 4, "truncated sequence at the end"},
        {"c\xe2\x82t", 4, 1, "truncated sequence before ASCII"},
        {"\xf4\x90\x80\x80", 4, 0, "past U+10FFFF"},
        {"\xff", 1, 0, "byte 0xFF"},
    };
    int32_t ids[CONTEXT];

    NEED_VOCAB();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 0;
        char offset[64];
        gscam_status st = gscam_tokenizer_encode(tok, cases[i].bytes, cases[i].len, CONTEXT, 0, ids, &n);

        ck_assert_msg(st == GSCAM_ERR_TEXT, "%s: status %s", cases[i].kind, gscam_status_name(st));
        snprintf(offset, sizeof offset, "offset %zu", cases[i].offset);
        ck_assert_msg(strstr(gscam_last_error(), offset) != NULL, "%s: message \"%s\" lacks \"%s\"",
                      cases[i].kind, gscam_last_error(), offset);
    }
}
END_TEST

START_TEST(nul_bytes_are_removed)
{
    static const int32_t acat[] = {546, 536};
    static const int32_t photo[] = {320, 1125, 539, 320, 2368};

    NEED_VOCAB();
    check_ids("a\0cat", 5, acat, 2);
    check_ids("\0a photo of a cat\0", 18, photo, 5);
    check_ids("\0\0\0", 3, NULL, 0);
}
END_TEST

START_TEST(special_token_text_maps_to_ids)
{
    /* CLIP's split pattern matches the special tokens' spellings, and its
     * encoder maps them to their ids, even inside a prompt. */
    static const int32_t typed[] = {320, END, 321};
    static const int32_t start[] = {START};

    NEED_VOCAB();
    check_ids("a <|endoftext|> b", 17, typed, 3);
    check_ids("<|STARTOFTEXT|>", 15, start, 1);
}
END_TEST

START_TEST(large_prompt_truncates_quickly)
{
    static const char phrase[] = "a photo of a caf\xc3\xa9 &amp; its d\xc3\xa9j\xc3\xa0 vu. ";
    const size_t size = 100 * 1024;
    char *text = malloc(size);
    int32_t ids[CONTEXT];
    size_t n = 0;
    struct timespec t0, t1;
    double seconds;
    gscam_status st;

    NEED_VOCAB();
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < size; i++)
        text[i] = phrase[i % (sizeof phrase - 1)];
    text[size - 1] = ' ';

    clock_gettime(CLOCK_MONOTONIC, &t0);
    st = gscam_tokenizer_encode(tok, text, size, CONTEXT, GSCAM_TOKENIZE_TRUNCATE, ids, &n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    ck_assert_msg(st == GSCAM_OK, "%s", gscam_last_error());
    ck_assert_uint_eq(n, CONTEXT);
    ck_assert_int_eq(ids[CONTEXT - 1], END);
    /* A loose bound, for slow machines and valgrind; it runs in milliseconds. */
    ck_assert_msg(seconds < 20.0, "100 KB took %.2f s", seconds);

    /* One word of 100 KB goes through the BPE of a single piece. */
    memset(text, 'x', size);
    st = gscam_tokenizer_encode(tok, text, size, CONTEXT, GSCAM_TOKENIZE_TRUNCATE, ids, &n);
    ck_assert_msg(st == GSCAM_OK, "%s", gscam_last_error());
    ck_assert_uint_eq(n, CONTEXT);
    free(text);
}
END_TEST

START_TEST(oversized_prompt_hits_limit)
{
    const size_t size = 2u << 20;
    char *text = malloc(size);
    int32_t ids[CONTEXT];
    size_t n = 0;

    NEED_VOCAB();
    ck_assert_ptr_nonnull(text);
    memset(text, 'a', size);
    ck_assert_int_eq(gscam_tokenizer_encode(tok, text, size, CONTEXT, GSCAM_TOKENIZE_TRUNCATE, ids, &n),
                     GSCAM_ERR_LIMIT);
    free(text);
}
END_TEST

START_TEST(bad_arguments_are_rejected)
{
    int32_t ids[CONTEXT];
    size_t n = 0;

    NEED_VOCAB();
    ck_assert_int_eq(gscam_tokenizer_encode(tok, "a", 1, 1, 0, ids, &n), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_tokenizer_encode(tok, "a", 1, CONTEXT, 0, NULL, &n),
                     GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_tokenizer_encode(tok, NULL, 3, CONTEXT, 0, ids, &n),
                     GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_tokenizer_encode(tok, "a", 1, CONTEXT, 4, ids, &n),
                     GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_tokenizer_encode(NULL, "a", 1, CONTEXT, 0, ids, &n),
                     GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_tokenizer_load("x", NULL), GSCAM_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(foreign_handle_is_misuse)
{
    /* A block laid out like a freed tokenizer, with GS_MAGIC_DEAD first.
     * Reading a tokenizer after its free would be undefined behaviour. */
    struct {
        uint32_t magic;
        char rest[256];
    } fake = {GS_MAGIC_DEAD, {0}};
    gscam_tokenizer *bad = (gscam_tokenizer *)&fake;
    int32_t ids[CONTEXT];
    size_t n = 0;

    ck_assert_int_eq(gscam_tokenizer_encode(bad, "a", 1, CONTEXT, 0, ids, &n), GSCAM_ERR_MISUSE);
    ck_assert_msg(strstr(gscam_last_error(), "0xdeadbeef") != NULL, "%s", gscam_last_error());
    ck_assert_int_eq(gscam_tokenizer_start_id(bad), -1);
    ck_assert_int_eq(gscam_tokenizer_vocab_size(bad), -1);
    fake.magic = GS_MAGIC_IMAGE;
    ck_assert_int_eq(gscam_tokenizer_encode(bad, "a", 1, CONTEXT, 0, ids, &n), GSCAM_ERR_MISUSE);
    gscam_tokenizer_free(NULL);
}
END_TEST

/* ---- small vocabularies written at test time ---- */

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/check_tokenizer.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static const char *write_file(const char *name, const char *content, size_t len, char *path,
                              size_t size)
{
    FILE *f;

    snprintf(path, size, "%s/%s", tmp_dir, name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(content, 1, len, f), len);
    fclose(f);
    return path;
}

static const char *write_gzip(const char *name, const char *content, char *path, size_t size)
{
    gzFile gz;

    snprintf(path, size, "%s/%s", tmp_dir, name);
    gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, content, (unsigned)strlen(content)), (int)strlen(content));
    gzclose(gz);
    return path;
}

static void remove_tmp(const char *path)
{
    unlink(path);
}

static void expect_load_failure(const char *path, gscam_status expected, const char *fragment)
{
    gscam_tokenizer *t = (gscam_tokenizer *)1;
    gscam_status st = gscam_tokenizer_load(path, &t);

    ck_assert_msg(st == expected, "%s: status %s, expected %s (%s)", path, gscam_status_name(st),
                  gscam_status_name(expected), gscam_last_error());
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(gscam_last_error(), fragment) != NULL, "message \"%s\" lacks \"%s\"",
                  gscam_last_error(), fragment);
}

static const char SMALL_VOCAB[] = "#version: 0.2\na b\nab c</w>\n";

START_TEST(small_vocabulary_plain_and_gzip)
{
    const char *names[] = {"plain.txt", "small.txt.gz"};
    char path[512];

    make_tmp_dir();
    for (int k = 0; k < 2; k++) {
        gscam_tokenizer *t = NULL;
        int32_t ids[8];
        size_t n = 0;
        gscam_status st;

        if (k == 0)
            write_file(names[k], SMALL_VOCAB, strlen(SMALL_VOCAB), path, sizeof path);
        else
            write_gzip(names[k], SMALL_VOCAB, path, sizeof path);
        st = gscam_tokenizer_load(path, &t);
        ck_assert_msg(st == GSCAM_OK, "%s: %s", path, gscam_last_error());
        ck_assert_int_eq(gscam_tokenizer_vocab_size(t), 516);
        ck_assert_int_eq(gscam_tokenizer_start_id(t), 514);
        ck_assert_int_eq(gscam_tokenizer_end_id(t), 515);

        /* "abc": a+b is merge 0 (id 512), ab + "c</w>" merge 1 (id 513). */
        ck_assert_int_eq(gscam_tokenizer_encode(t, "abc", 3, 8, 0, ids, &n), GSCAM_OK);
        ck_assert_uint_eq(n, 3);
        ck_assert_int_eq(ids[0], 514);
        ck_assert_int_eq(ids[1], 513);
        ck_assert_int_eq(ids[2], 515);

        /* "abd": only a+b applies; "d</w>" is byte-token 256 + ('d' - '!'). */
        ck_assert_int_eq(gscam_tokenizer_encode(t, "abd", 3, 8, 0, ids, &n), GSCAM_OK);
        ck_assert_uint_eq(n, 4);
        ck_assert_int_eq(ids[1], 512);
        ck_assert_int_eq(ids[2], 256 + 'd' - '!');

        gscam_tokenizer_free(t);
        remove_tmp(path);
    }
    rmdir(tmp_dir);
}
END_TEST

START_TEST(corrupt_vocabulary_files_fail)
{
    char path[512];
    char gz_path[512];
    FILE *f;
    long size;

    make_tmp_dir();

    snprintf(path, sizeof path, "%s/missing.txt.gz", tmp_dir);
    expect_load_failure(path, GSCAM_ERR_IO, "missing.txt.gz");

    write_file("header.txt", "a b\nc d\n", 8, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 1");
    remove_tmp(path);

    write_file("three.txt", "#version: 0.2\na b\nab\nc d\n", 25, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 3");
    remove_tmp(path);

    write_file("spaces.txt", "#version: 0.2\na b c\n", 20, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 2");
    remove_tmp(path);

    write_file("empty_mid.txt", "#version: 0.2\na b\n\nc d\n", 23, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 3");
    remove_tmp(path);

    write_file("nul.txt", "#version: 0.2\na b\nc\0 d\n", 23, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 3");
    remove_tmp(path);

    write_file("unknown.txt", "#version: 0.2\na b\nzz q\n", 23, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 3");
    remove_tmp(path);

    write_file("empty.txt", "", 0, path, sizeof path);
    expect_load_failure(path, GSCAM_ERR_VOCAB, "line 1");
    remove_tmp(path);

    /* A gzip stream cut in half. */
    {
        static char big[200000];
        size_t len = 0;

        len += (size_t)snprintf(big, sizeof big, "#version: 0.2\n");
        for (int i = 0; len + 32 < sizeof big; i++)
            len += (size_t)snprintf(big + len, sizeof big - len, "a%d b%d\n", i, i * 7);
        write_gzip("cut.txt.gz", big, gz_path, sizeof gz_path);
    }
    f = fopen(gz_path, "rb+");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(gz_path, size / 2), 0);
    expect_load_failure(gz_path, GSCAM_ERR_VOCAB, "gzip");
    remove_tmp(gz_path);

    rmdir(tmp_dir);
}
END_TEST

static Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *vocab = tcase_create("openai_vocabulary");
    TCase *files = tcase_create("vocabulary_files");

    tcase_add_checked_fixture(vocab, setup, teardown);
    tcase_set_timeout(vocab, 120);
    tcase_add_test(vocab, vectors_match_reference);
    tcase_add_test(vocab, ids_of_start_end_vocab_size);
    tcase_add_test(vocab, empty_prompt_is_start_end);
    tcase_add_test(vocab, hand_checked_prompts);
    tcase_add_test(vocab, truncate_keeps_context_with_end_token);
    tcase_add_test(vocab, exact_fit_needs_no_truncation);
    tcase_add_test(vocab, too_long_without_truncate_fails);
    tcase_add_test(vocab, invalid_utf8_fails_with_offset);
    tcase_add_test(vocab, nul_bytes_are_removed);
    tcase_add_test(vocab, special_token_text_maps_to_ids);
    tcase_add_test(vocab, large_prompt_truncates_quickly);
    tcase_add_test(vocab, oversized_prompt_hits_limit);
    tcase_add_test(vocab, bad_arguments_are_rejected);
    tcase_add_test(vocab, foreign_handle_is_misuse);
    suite_add_tcase(s, vocab);

    tcase_add_test(files, small_vocabulary_plain_and_gzip);
    tcase_add_test(files, corrupt_vocabulary_files_fail);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    return tu_run(tokenizer_suite());
}
