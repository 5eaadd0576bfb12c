/*
 * check_corpus.c - replays every file of tests/corpus/<harness>/ through the
 * fuzz harness of the same name, compiled here without libFuzzer.
 *
 * Each file is an input a fuzzer once crashed, hung or ran out of memory on.
 * The harnesses abort on a broken invariant, which fails the test. In a
 * build with SANITIZE=address,undefined the sanitizers check the replay too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Each harness defines LLVMFuzzerTestOneInput; give each its own name. */
#define LLVMFuzzerTestOneInput replay_image
#include "../fuzz/fuzz_image.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput replay_tokenizer
#include "../fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput replay_archive
#include "../fuzz/fuzz_archive.c"
#undef LLVMFuzzerTestOneInput

typedef int (*harness_fn)(const uint8_t *data, size_t size);

/* Feeds every regular file of tests/corpus/<name>/ to harness, in name order.
 * Returns the number of files. */
static int replay_folder(const char *name, harness_fn harness)
{
    char dir[256], file[1024];
    struct dirent **entries = NULL;
    int n, count = 0;

    snprintf(dir, sizeof dir, "tests/corpus/%s", name);
    n = scandir(dir, &entries, NULL, alphasort);
    ck_assert_msg(n >= 0, "cannot read %s", dir);
    for (int i = 0; i < n; i++) {
        unsigned char *data;
        size_t size = 0;

        if (entries[i]->d_name[0] == '.' || strcmp(entries[i]->d_name, "README") == 0) {
            free(entries[i]);
            continue;
        }
        snprintf(file, sizeof file, "%s/%s", dir, entries[i]->d_name);
        data = tu_read_file(file, &size);
        ck_assert_msg(data != NULL, "cannot read %s", file);
        printf("replaying %s\n", file);
        fflush(stdout);
        harness(data, size);
        free(data);
        free(entries[i]);
        count++;
    }
    free(entries);
    return count;
}

START_TEST(image_corpus_replays)
{
    replay_folder("fuzz_image", replay_image);
}
END_TEST

START_TEST(tokenizer_corpus_replays)
{
    char vocab[4096];

    if (!tu_shared_path("clip/bpe_simple_vocab_16e6.txt.gz", vocab, sizeof vocab))
        TU_SKIP("shared test data not found");
    replay_folder("fuzz_tokenizer", replay_tokenizer);
}
END_TEST

START_TEST(archive_corpus_replays)
{
    replay_folder("fuzz_archive", replay_archive);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("corpus");
    TCase *replay = tcase_create("replay");

    tcase_set_timeout(replay, 300);
    tcase_add_test(replay, image_corpus_replays);
    tcase_add_test(replay, tokenizer_corpus_replays);
    tcase_add_test(replay, archive_corpus_replays);
    suite_add_tcase(suite, replay);
    return tu_run(suite);
}
