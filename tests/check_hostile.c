/*
 * check_hostile.c - inputs that are not what they claim: model archives
 * broken in one way each, load and prompt limits, a constant image, and
 * output files cut short by a full disk.
 *
 * The archives come from tests/python/hostile_archives.py, run once into a
 * temporary folder before the tests fork.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "gscorecam.h"
#include "testutil.h"

static char archive_dir[64];
static int archives_ready;

static void make_archives(void)
{
    char args[256];

    snprintf(archive_dir, sizeof archive_dir, "%s", tu_temp_dir());
    snprintf(args, sizeof args, "tests/python/hostile_archives.py %s", archive_dir);
    archives_ready = tu_python(args) == 0;
}

static void remove_folder(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (dir[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void remove_archives(void)
{
    remove_folder(archive_dir);
}

#define NEED_ARCHIVES()                                                          \
    do {                                                                         \
        if (!archives_ready)                                                     \
            TU_SKIP("hostile_archives.py failed (needs /usr/bin/python3 with torch)"); \
    } while (0)

static const char *archive(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", archive_dir, name);
    return buf;
}

/* Loads an archive that must fail with status, and with a message that names
 * the archive and contains every non-NULL part of expected. */
static void expect_load_failure(const char *name, const gscam_option_list *options, gscam_status status,
                                const char *expected1, const char *expected2)
{
    char path[256];
    gscam_model *model = (gscam_model *)&model;
    gscam_status st;

    archive(name, path, sizeof path);
    st = gscam_model_load(path, "cpu", options, &model);
    ck_assert_msg(st == status, "%s: status %s, expected %s (%s)", name, gscam_status_name(st),
                  gscam_status_name(status), gscam_last_error());
    ck_assert_msg(model == NULL, "%s: out is not NULL after a failure", name);
    ck_assert_msg(strstr(gscam_last_error(), path), "%s: message '%s' does not name the file", name,
                  gscam_last_error());
    ck_assert_msg(strstr(gscam_last_error(), expected1), "%s: message '%s' lacks '%s'", name, gscam_last_error(),
                  expected1);
    if (expected2)
        ck_assert_msg(strstr(gscam_last_error(), expected2), "%s: message '%s' lacks '%s'", name,
                      gscam_last_error(), expected2);
    ck_assert_msg(!strchr(gscam_last_error(), '\n'), "%s: message spans several lines", name);
}

/* ------------------------------------------------------------------------ */
/* Model archives                                                           */
/* ------------------------------------------------------------------------ */

START_TEST(micro_archives_load)
{
    static const char *const names[] = {"micro-vit.pt", "micro-rn.pt"};
    char path[256];

    NEED_ARCHIVES();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        gscam_model *model = NULL;
        int64_t context = 0;

        archive(names[i], path, sizeof path);
        ck_assert_msg(gscam_model_load(path, "cpu", NULL, &model) == GSCAM_OK, "%s: %s", names[i],
                      gscam_last_error());
        ck_assert_int_eq(gscam_model_info(model, GSCAM_INFO_CONTEXT_LENGTH, &context), GSCAM_OK);
        ck_assert_int_eq(context, 8);
        gscam_model_free(model);
    }
}
END_TEST

START_TEST(archive_not_a_zip_fails)
{
    NEED_ARCHIVES();
    expect_load_failure("not-a-zip.pt", NULL, GSCAM_ERR_MODEL, "not a zip file", NULL);
    expect_load_failure("empty.pt", NULL, GSCAM_ERR_MODEL, "file is empty", NULL);
    expect_load_failure("truncated.pt", NULL, GSCAM_ERR_MODEL, "damaged zip archive", NULL);
}
END_TEST

START_TEST(archive_huge_declared_size_fails)
{
    NEED_ARCHIVES();
    /* 3.75 GiB is below the default GSCAM_LOAD_MAX_BYTES; the file size
     * is what rules it out. */
    expect_load_failure("huge-record.pt", NULL, GSCAM_ERR_MODEL, "declares 4026531840 bytes", "data/0");
    expect_load_failure("huge-zip64.pt", NULL, GSCAM_ERR_MODEL, "declares 1125899906842624 bytes", NULL);
}
END_TEST

START_TEST(archive_missing_tensor_fails)
{
    NEED_ARCHIVES();
    expect_load_failure("missing-tensor.pt", NULL, GSCAM_ERR_MODEL, "tensor visual.ln_post.weight is missing",
                        NULL);
}
END_TEST

START_TEST(archive_wrong_shape_fails)
{
    NEED_ARCHIVES();
    expect_load_failure("wrong-shape.pt", NULL, GSCAM_ERR_MODEL, "visual.proj has shape 64x9", "expected 64x8");
    expect_load_failure("text-in-state.pt", NULL, GSCAM_ERR_MODEL, "visual.proj is not a floating-point tensor",
                        NULL);
}
END_TEST

START_TEST(archive_nan_or_inf_fails_at_load)
{
    NEED_ARCHIVES();
    expect_load_failure("nan-weights.pt", NULL, GSCAM_ERR_MODEL, "transformer.resblocks.0.mlp.c_fc.weight",
                        "NaN or infinite");
    expect_load_failure("inf-weights.pt", NULL, GSCAM_ERR_MODEL, "visual.conv1.weight", "NaN or infinite");
}
END_TEST

START_TEST(archive_unknown_architecture_fails)
{
    NEED_ARCHIVES();
    expect_load_failure("unknown-arch.pt", NULL, GSCAM_ERR_MODEL, "not a CLIP model", "visual.proj");
}
END_TEST

START_TEST(archive_pickle_length_claim_fails)
{
    /* A torch.save file whose data.pkl claims a 4 GiB string in 250 bytes,
     * found by fuzz_archive; libtorch would allocate and fill the 4 GiB. */
    const char *path = "tests/corpus/fuzz_archive/pickle-claims-4-gib-string";
    gscam_model *model = NULL;

    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &model), GSCAM_ERR_MODEL);
    ck_assert_msg(strstr(gscam_last_error(), "invalid pickle in record") &&
                      strstr(gscam_last_error(), "claims 4294443011 bytes"),
                  "message '%s' does not name the pickle's claim", gscam_last_error());
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(load_limits_name_option_and_value)
{
    const gscam_option_list few_tensors[] = {GSCAM_LOAD_MAX_TENSORS, 5, 0};
    const gscam_option_list few_bytes[] = {GSCAM_LOAD_MAX_BYTES, 1000, 0};

    NEED_ARCHIVES();
    expect_load_failure("micro-vit.pt", few_tensors, GSCAM_ERR_LIMIT, "above the limit of 5 (GSCAM_LOAD_MAX_TENSORS)",
                        "tensor storages");
    expect_load_failure("micro-vit.pt", few_bytes, GSCAM_ERR_LIMIT,
                        "above the limit of 1000 bytes (GSCAM_LOAD_MAX_BYTES)", "bytes of tensor data");
}
END_TEST

START_TEST(prompt_limit_names_size_and_limit)
{
    const size_t size = 1000001;
    char vocab[4096];
    char *text = malloc(size);
    gscam_tokenizer *tok = NULL;
    int32_t ids[77];
    size_t n = 0;

    if (!tu_shared_path("clip/bpe_simple_vocab_16e6.txt.gz", vocab, sizeof vocab))
        TU_SKIP("shared test data not found");
    ck_assert_int_eq(gscam_tokenizer_load(vocab, &tok), GSCAM_OK);
    ck_assert_ptr_nonnull(text);
    memset(text, 'a', size);

    ck_assert_int_eq(gscam_tokenizer_encode(tok, text, size, 77, GSCAM_TOKENIZE_TRUNCATE, ids, &n), GSCAM_ERR_LIMIT);
    ck_assert_msg(strstr(gscam_last_error(), "1000001 bytes") && strstr(gscam_last_error(), "1000000"),
                  "message '%s' does not name the size and the limit", gscam_last_error());

    /* One byte less is within the limit. */
    ck_assert_msg(gscam_tokenizer_encode(tok, text, size - 1, 77, GSCAM_TOKENIZE_TRUNCATE, ids, &n) == GSCAM_OK,
                  "%s", gscam_last_error());
    gscam_tokenizer_free(tok);
    free(text);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A constant image                                                         */
/* ------------------------------------------------------------------------ */

START_TEST(constant_image_map_is_finite)
{
    static const uint8_t grey[3] = {128, 128, 128};
    const uint32_t side = 96;
    char model_path[4096], vocab[4096];
    gscam_model *model = NULL;
    gscam_tokenizer *tok = NULL;
    gscam_image *img = NULL;
    gscam_cam *cam = NULL;
    uint8_t *pixels = malloc((size_t)side * side * 3);
    float *map = malloc(sizeof *map * side * side);
    int32_t ids[77];
    size_t n = 0;
    gscam_status st;

    if (!tu_fixture("small-rn.pt", model_path, sizeof model_path))
        TU_SKIP("build/fixtures/small-rn.pt missing; run make fixtures");
    if (!tu_shared_path("clip/bpe_simple_vocab_16e6.txt.gz", vocab, sizeof vocab))
        TU_SKIP("shared test data not found");
    for (size_t i = 0; i < (size_t)side * side; i++)
        memcpy(pixels + 3 * i, grey, 3);

    ck_assert_msg(gscam_model_load(model_path, "cpu", NULL, &model) == GSCAM_OK, "%s", gscam_last_error());
    ck_assert_int_eq(gscam_tokenizer_load(vocab, &tok), GSCAM_OK);
    ck_assert_int_eq(gscam_tokenizer_encode(tok, "a grey square", 13, 77, 0, ids, &n), GSCAM_OK);
    ck_assert_int_eq(gscam_image_from_rgb8(pixels, side, side, side * 3, &img), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_create(model, &cam), GSCAM_OK);

    for (int32_t method = GSCAM_METHOD_GSCORECAM; method <= GSCAM_METHOD_GRADCAM_PP; method++) {
        int zero = 1;

        ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_METHOD, method), GSCAM_OK);
        st = gscam_cam_compute(cam, img, ids, 77, map, (size_t)side * side);
        ck_assert_msg(st == GSCAM_OK || st == GSCAM_FLAT_MAP, "method %d: %s: %s", method, gscam_status_name(st),
                      gscam_cam_message(cam));
        for (size_t i = 0; i < (size_t)side * side; i++) {
            ck_assert_msg(isfinite(map[i]) && map[i] >= 0.0f && map[i] <= 1.0f, "method %d: map[%zu] = %g",
                          method, i, (double)map[i]);
            zero = zero && map[i] == 0.0f;
        }
        /* A flat map is all zero, and an all-zero map is reported as flat. */
        ck_assert_msg((st == GSCAM_FLAT_MAP) == zero, "method %d: status %s but the map is %s", method,
                      gscam_status_name(st), zero ? "all zero" : "not all zero");
    }

    gscam_cam_free(cam);
    gscam_image_free(img);
    gscam_tokenizer_free(tok);
    gscam_model_free(model);
    free(pixels);
    free(map);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Output files cut short                                                   */
/* ------------------------------------------------------------------------ */

/* Counts the entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Lowers this process's file-size limit so writes past bytes fail with
 * EFBIG, as on a full disk; the test runs in its own forked child. */
static void limit_file_size(rlim_t bytes)
{
    struct rlimit limit = {bytes, bytes};

    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

START_TEST(interrupted_png_write_leaves_no_file)
{
    const uint32_t side = 256;
    uint8_t *pixels = malloc((size_t)side * side * 3);
    const char *dir = tu_temp_dir();
    gscam_image *img = NULL;
    char path[256];
    struct stat info;

    /* Noise does not compress, so the PNG is about 196 KB. */
    srand(7);
    for (size_t i = 0; i < (size_t)side * side * 3; i++)
        pixels[i] = (uint8_t)rand();
    ck_assert_int_eq(gscam_image_from_rgb8(pixels, side, side, side * 3, &img), GSCAM_OK);
    snprintf(path, sizeof path, "%s/out.png", dir);

    limit_file_size(16384);
    ck_assert_int_eq(gscam_image_save_png(img, path), GSCAM_ERR_IO);
    ck_assert_msg(stat(path, &info) != 0, "%s exists after a failed write", path);
    ck_assert_msg(count_entries(dir) == 0, "a temporary file is left in %s", dir);
    gscam_image_free(img);
    free(pixels);
    rmdir(dir);
}
END_TEST

/* Runs `gscorecam decode` on image with a file-size limit of 32 KB; with
 * ignore_signal, the shell ignores SIGXFSZ so the write fails with EFBIG
 * instead of killing the program. Returns the exit status, or 128 plus the
 * number of the signal that killed the program. */
static int run_limited_decode(const char *image, const char *out, int ignore_signal)
{
    char program[4096], cmd[12288];
    int rc;

    tu_build_path("gscorecam", program, sizeof program);
    /* ulimit -f counts 512-byte blocks. */
    snprintf(cmd, sizeof cmd, "%s ulimit -f 64; exec '%s' decode --image '%s' --out '%s' >/dev/null 2>&1",
             ignore_signal ? "trap '' XFSZ;" : "", program, image, out);
    rc = system(cmd);
    ck_assert_msg(rc != -1, "cannot run: %s", cmd);
    return WIFSIGNALED(rc) ? 128 + WTERMSIG(rc) : WEXITSTATUS(rc);
}

START_TEST(interrupted_cli_write_leaves_no_file)
{
    const char *dir = tu_temp_dir();
    char image[4096], out[256];
    struct stat info;
    int status;

    if (!tu_shared_path("images/chelsea.png", image, sizeof image))
        TU_SKIP("shared test data not found");
    snprintf(out, sizeof out, "%s/pixels.rgb", dir);

    /* The decoded 451 x 300 image is 405,900 bytes, past the limit. A write
     * that fails is reported and its temporary file removed. */
    status = run_limited_decode(image, out, 1);
    ck_assert_msg(status == 1, "decode exit status %d, expected 1", status);
    ck_assert_msg(stat(out, &info) != 0, "%s exists after a failed write", out);
    ck_assert_msg(count_entries(dir) == 0, "a temporary file is left in %s", dir);

    /* Killed by SIGXFSZ in the middle of the write: the temporary file may
     * remain, but nothing appears under the real name. */
    status = run_limited_decode(image, out, 0);
    ck_assert_msg(status == 128 + SIGXFSZ, "decode exit status %d, expected death by SIGXFSZ", status);
    ck_assert_msg(stat(out, &info) != 0, "%s exists after an interrupted write", out);
    remove_folder(dir);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("hostile");
    TCase *archives = tcase_create("archives");
    TCase *limits = tcase_create("limits");
    TCase *maps = tcase_create("maps");
    TCase *files = tcase_create("files");
    int rc;

    tcase_add_unchecked_fixture(archives, make_archives, NULL);
    tcase_add_unchecked_fixture(limits, NULL, remove_archives);
    tcase_set_timeout(archives, 120);
    tcase_set_timeout(limits, 60);
    tcase_set_timeout(maps, 120);
    /* The command-line test starts libtorch twice, which takes seconds under load. */
    tcase_set_timeout(files, 120);
    tcase_add_test(archives, micro_archives_load);
    tcase_add_test(archives, archive_not_a_zip_fails);
    tcase_add_test(archives, archive_huge_declared_size_fails);
    tcase_add_test(archives, archive_missing_tensor_fails);
    tcase_add_test(archives, archive_wrong_shape_fails);
    tcase_add_test(archives, archive_nan_or_inf_fails_at_load);
    tcase_add_test(archives, archive_unknown_architecture_fails);
    tcase_add_test(archives, archive_pickle_length_claim_fails);
    tcase_add_test(limits, load_limits_name_option_and_value);
    tcase_add_test(limits, prompt_limit_names_size_and_limit);
    tcase_add_test(maps, constant_image_map_is_finite);
    tcase_add_test(files, interrupted_png_write_leaves_no_file);
    tcase_add_test(files, interrupted_cli_write_leaves_no_file);
    suite_add_tcase(suite, archives);
    suite_add_tcase(suite, limits);
    suite_add_tcase(suite, maps);
    suite_add_tcase(suite, files);
    rc = tu_run(suite);
    return rc;
}
