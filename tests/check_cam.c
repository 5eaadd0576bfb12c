/*
 * check_cam.c - CAM contexts: every method against the independent Python
 * reference (tests/python/reference.py) on the small ResNet fixture, the
 * options, the degenerate cases and concurrent use of one model.
 *
 * Tolerances: maps within 1e-4 (max abs), logits within 1e-4 relative, the
 * same selected channels in the same order.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gscorecam.h"
#include "testutil.h"

#define MAP_TOLERANCE 1e-4
#define LOGIT_TOLERANCE 1e-4

/* A prompt's ids ("a photo of a cat" in OpenAI's vocabulary), padded. */
static const int32_t PROMPT[] = {49406, 320, 1125, 539, 320, 2368, 49407};

static gscam_model *model;
static int resolution;
static char model_path[512];

static void load_fixture(const char *name)
{
    int64_t r = 0;

    model = NULL;
    if (!tu_fixture(name, model_path, sizeof model_path))
        return;
    ck_assert_int_eq(gscam_model_load(model_path, "cpu", NULL, &model), GSCAM_OK);
    ck_assert_int_eq(gscam_model_info(model, GSCAM_INFO_INPUT_RESOLUTION, &r), GSCAM_OK);
    resolution = (int)r;
}

static void setup(void)
{
    load_fixture("small-rn.pt");
}

static void setup_vit(void)
{
    load_fixture("small-vit.pt");
}

static void teardown(void)
{
    gscam_model_free(model);
}

static void prompt_ids(int32_t *ids)
{
    memset(ids, 0, 77 * sizeof *ids);
    memcpy(ids, PROMPT, sizeof PROMPT);
}

/* A smooth synthetic picture with a bright disc, the same every run. */
static uint8_t *synthetic_input(int r)
{
    uint8_t *rgb = malloc((size_t)r * r * 3);

    for (int y = 0; y < r; y++) {
        for (int x = 0; x < r; x++) {
            double dx = x - 0.35 * r, dy = y - 0.6 * r;
            int disc = dx * dx + dy * dy < 0.04 * r * r;
            uint8_t *p = rgb + 3 * ((size_t)y * r + x);

            p[0] = (uint8_t)(disc ? 230 : 40 + 150 * x / r);
            p[1] = (uint8_t)(disc ? 60 : 90 + 100 * y / r);
            p[2] = (uint8_t)(disc ? 50 : 120 + ((x * 7 + y * 13) % 50));
        }
    }
    return rgb;
}

static const char *method_name(int method)
{
    static const char *const names[] = {"gscorecam", "scorecam", "gradcam", "gradcam++", "hilacam"};
    return names[method];
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0.0;

    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}

/* Runs the reference on the same input and compares map, logit, channels. */
static void compare_with_reference(int method, int64_t topk)
{
    const size_t n = (size_t)resolution * resolution;
    uint8_t *input = synthetic_input(resolution);
    float *map = malloc(n * sizeof *map), *ref;
    const char *dir = tu_temp_dir();
    const int scored = method == GSCAM_METHOD_GSCORECAM || method == GSCAM_METHOD_SCORECAM;
    char in_path[128], npy[128], ch_path[128], lg_path[128], ch_option[160], args[2048];
    int32_t ids[77], channels[4096];
    size_t count = 0, ref_n = 0, ch_n = 0;
    double logit = 0.0, ref_logit = 0.0;
    gscam_cam *cam = NULL;
    FILE *f;

    prompt_ids(ids);
    ck_assert_ptr_nonnull(dir);
    snprintf(in_path, sizeof in_path, "%s/input.rgb", dir);
    snprintf(npy, sizeof npy, "%s/map.npy", dir);
    snprintf(ch_path, sizeof ch_path, "%s/channels.txt", dir);
    snprintf(lg_path, sizeof lg_path, "%s/logit.txt", dir);
    ck_assert_int_eq(tu_write_file(in_path, input, n * 3), 0);

    ck_assert_int_eq(gscam_cam_create(model, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_METHOD, method), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_TOPK, topk), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 77, map, n), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_last_logit(cam, &logit), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_last_channels(cam, channels, 4096, &count), GSCAM_OK);

    /* The reference lists selected channels only for the methods that select. */
    snprintf(ch_option, sizeof ch_option, scored ? "--channels %s" : "", ch_path);
    if (!scored)
        tu_write_file(ch_path, "", 0);
    snprintf(args, sizeof args,
             "tests/python/reference.py map --model %s --input %s --ids '49406 320 1125 539 320 2368 49407' "
             "--method %s --topk %lld --out-size %d %d --npy %s %s --logit %s --threads 1",
             model_path, in_path, method_name(method), (long long)topk, resolution, resolution, npy, ch_option,
             lg_path);
    ck_assert_int_eq(tu_python(args), 0);

    ref = tu_read_npy(npy, &ref_n);
    ck_assert_ptr_nonnull(ref);
    ck_assert_uint_eq(ref_n, n);
    ck_assert_double_le(max_abs_diff(map, ref, n), MAP_TOLERANCE);

    f = fopen(lg_path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lf", &ref_logit), 1);
    fclose(f);
    ck_assert_double_le(fabs(logit - ref_logit), LOGIT_TOLERANCE * fabs(ref_logit));

    f = fopen(ch_path, "r");
    ck_assert_ptr_nonnull(f);
    for (int c; fscanf(f, "%d", &c) == 1; ch_n++) {
        ck_assert_uint_lt(ch_n, count);
        ck_assert_msg(channels[ch_n] == c, "channel %zu: library %d, reference %d", ch_n, channels[ch_n], c);
    }
    fclose(f);
    ck_assert_uint_eq(ch_n, count);

    gscam_cam_free(cam);
    free(ref);
    free(map);
    free(input);
}

#define REQUIRE_MODEL()                                             \
    do {                                                            \
        if (!model)                                                 \
            TU_SKIP("fixture archive not built (make fixtures)");   \
    } while (0)

START_TEST(gscorecam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GSCORECAM, 51);
}
END_TEST

START_TEST(scorecam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_SCORECAM, 300);
}
END_TEST

START_TEST(gradcam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GRADCAM, 300);
}
END_TEST

START_TEST(gradcam_pp_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GRADCAM_PP, 300);
}
END_TEST

START_TEST(topk_above_channel_count_is_clamped)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GSCORECAM, 100000);
}
END_TEST

/* Computes the map of the synthetic input with the given settings. */
static float *compute(gscam_model *m, int method, int64_t batch, gscam_status *st)
{
    const size_t n = (size_t)resolution * resolution;
    uint8_t *input = synthetic_input(resolution);
    float *map = malloc(n * sizeof *map);
    int32_t ids[77];
    gscam_cam *cam = NULL;

    prompt_ids(ids);
    ck_assert_int_eq(gscam_cam_create(m, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_METHOD, method), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_TOPK, 40), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_BATCH, batch), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_THREADS, 1), GSCAM_OK);
    *st = gscam_cam_compute_input(cam, input, n * 3, ids, 77, map, n);
    gscam_cam_free(cam);
    free(input);
    return map;
}

START_TEST(batch_size_does_not_change_map)
{
    gscam_status st1, st2;
    float *a, *b;

    REQUIRE_MODEL();
    a = compute(model, GSCAM_METHOD_GSCORECAM, 1, &st1);
    b = compute(model, GSCAM_METHOD_GSCORECAM, 7, &st2);
    ck_assert_int_eq(st1, GSCAM_OK);
    ck_assert_int_eq(st2, GSCAM_OK);
    ck_assert_double_le(max_abs_diff(a, b, (size_t)resolution * resolution), 1e-5);
    free(a);
    free(b);
}
END_TEST

START_TEST(folded_batch_norm_matches_unfolded)
{
    const gscam_option_list unfolded[] = {GSCAM_LOAD_FOLD_BATCH_NORM, 0, 0};
    gscam_model *plain = NULL;
    gscam_status st1, st2;
    float *a, *b;

    REQUIRE_MODEL();
    ck_assert_int_eq(gscam_model_load(model_path, "cpu", unfolded, &plain), GSCAM_OK);
    a = compute(model, GSCAM_METHOD_GSCORECAM, 0, &st1);
    b = compute(plain, GSCAM_METHOD_GSCORECAM, 0, &st2);
    ck_assert_int_eq(st1, GSCAM_OK);
    ck_assert_int_eq(st2, GSCAM_OK);
    ck_assert_double_le(max_abs_diff(a, b, (size_t)resolution * resolution), MAP_TOLERANCE);
    gscam_model_free(plain);
    free(a);
    free(b);
}
END_TEST

struct thread_job {
    float *map;
    gscam_status st;
};

static void *thread_main(void *arg)
{
    struct thread_job *job = arg;

    job->map = compute(model, GSCAM_METHOD_GSCORECAM, 0, &job->st);
    return NULL;
}

START_TEST(shared_model_gives_same_map_on_two_threads)
{
    struct thread_job jobs[2];
    pthread_t threads[2];
    gscam_status st;
    float *single;

    REQUIRE_MODEL();
    single = compute(model, GSCAM_METHOD_GSCORECAM, 0, &st);
    ck_assert_int_eq(st, GSCAM_OK);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, thread_main, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
        ck_assert_int_eq(jobs[i].st, GSCAM_OK);
        ck_assert_double_eq(max_abs_diff(single, jobs[i].map, (size_t)resolution * resolution), 0.0);
        free(jobs[i].map);
    }
    free(single);
}
END_TEST

static int cancel_at_second_call(void *user, int64_t done, int64_t total)
{
    int *calls = user;

    (void)done;
    (void)total;
    return ++*calls >= 2;
}

START_TEST(progress_callback_can_cancel)
{
    const size_t n = (size_t)resolution * resolution;
    uint8_t *input;
    float *map;
    int32_t ids[77];
    gscam_cam *cam = NULL;
    int calls = 0;

    REQUIRE_MODEL();
    input = synthetic_input(resolution);
    map = malloc(n * sizeof *map);
    prompt_ids(ids);
    ck_assert_int_eq(gscam_cam_create(model, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_BATCH, 4), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set_progress(cam, cancel_at_second_call, &calls), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 77, map, n), GSCAM_ERR_CANCELLED);
    ck_assert_int_eq(calls, 2);
    ck_assert_ptr_nonnull(strstr(gscam_cam_message(cam), "cancelled"));
    gscam_cam_free(cam);
    free(map);
    free(input);
}
END_TEST

START_TEST(invalid_options_are_rejected_with_message)
{
    gscam_cam *cam = NULL;

    REQUIRE_MODEL();
    ck_assert_int_eq(gscam_cam_create(model, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_TOPK, 0), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(gscam_cam_message(cam), "top-k is 0"));
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_TOPK, -5), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_METHOD, 99), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_METHOD, GSCAM_METHOD_HILACAM), GSCAM_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(gscam_cam_message(cam), "HilaCAM needs a ViT"));
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_FIT, 7), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_BATCH, -1), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_set(cam, 1234, 1), GSCAM_ERR_INVALID_ARGUMENT);
    gscam_cam_free(cam);
}
END_TEST

START_TEST(bad_ids_and_buffers_are_rejected)
{
    const size_t n = (size_t)resolution * resolution;
    uint8_t *input;
    float *map;
    int32_t ids[77];
    gscam_cam *cam = NULL;

    REQUIRE_MODEL();
    input = synthetic_input(resolution);
    map = malloc(n * sizeof *map);
    prompt_ids(ids);
    ck_assert_int_eq(gscam_cam_create(model, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 76, map, n), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3 - 1, ids, 77, map, n), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 77, map, n - 1), GSCAM_ERR_INVALID_ARGUMENT);
    ids[3] = 49408;
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 77, map, n), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(gscam_cam_message(cam), "49408"));
    ids[3] = -1;
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 77, map, n), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_cam_compute_input(NULL, input, n * 3, ids, 77, map, n), GSCAM_ERR_INVALID_ARGUMENT);
    gscam_cam_free(cam);
    free(map);
    free(input);
}
END_TEST

START_TEST(foreign_handle_is_misuse)
{
    uint32_t junk[64] = {0x12345678u};

    ck_assert_int_eq(gscam_cam_set((gscam_cam *)junk, GSCAM_OPT_TOPK, 3), GSCAM_ERR_MISUSE);
    ck_assert_int_eq(gscam_cam_create((gscam_model *)junk, &(gscam_cam *){NULL}), GSCAM_ERR_MISUSE);
    gscam_cam_free(NULL);
}
END_TEST

START_TEST(crop_fit_map_is_zero_outside_crop)
{
    const uint32_t w = 300, h = 200;
    uint8_t *pixels = malloc((size_t)w * h * 3);
    float *map = malloc((size_t)w * h * sizeof *map);
    gscam_image *img = NULL;
    gscam_cam *cam = NULL;
    int32_t ids[77];
    gscam_status st;
    double inside = 0.0;

    REQUIRE_MODEL();
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        pixels[i] = (uint8_t)((i * 37) % 251);
    prompt_ids(ids);
    ck_assert_int_eq(gscam_image_from_rgb8(pixels, w, h, (size_t)w * 3, &img), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_create(model, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_FIT, GSCAM_FIT_CROP), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_TOPK, 20), GSCAM_OK);
    st = gscam_cam_compute(cam, img, ids, 77, map, (size_t)w * h);
    ck_assert_int_eq(st, GSCAM_OK);
    /* 300 x 200 resized to 192 x 128 and cropped at x offset 32: image
     * columns 0-49 and 250-299 lie outside the crop. */
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            float v = map[y * w + x];
            ck_assert(v >= 0.0f && v <= 1.0f);
            if (x < 50 || x >= 250)
                ck_assert_msg(v == 0.0f, "map at (%u, %u) is %g outside the crop", x, y, v);
            else
                inside = v > inside ? v : inside;
        }
    }
    ck_assert_double_gt(inside, 0.99);
    gscam_cam_free(cam);
    gscam_image_free(img);
    free(map);
    free(pixels);
}
END_TEST

START_TEST(vit_gscorecam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GSCORECAM, 6);
}
END_TEST

START_TEST(vit_scorecam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_SCORECAM, 300);
}
END_TEST

START_TEST(vit_gradcam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GRADCAM, 300);
}
END_TEST

START_TEST(vit_gradcam_pp_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_GRADCAM_PP, 300);
}
END_TEST

START_TEST(vit_hilacam_matches_reference)
{
    REQUIRE_MODEL();
    compare_with_reference(GSCAM_METHOD_HILACAM, 300);
}
END_TEST

static Suite *cam_suite(void)
{
    Suite *s = suite_create("cam");
    TCase *parity = tcase_create("parity");
    TCase *api = tcase_create("api");
    TCase *vit = tcase_create("vit");

    tcase_add_checked_fixture(parity, setup, teardown);
    tcase_set_timeout(parity, 300);
    tcase_add_test(parity, gscorecam_matches_reference);
    tcase_add_test(parity, scorecam_matches_reference);
    tcase_add_test(parity, gradcam_matches_reference);
    tcase_add_test(parity, gradcam_pp_matches_reference);
    tcase_add_test(parity, topk_above_channel_count_is_clamped);
    suite_add_tcase(s, parity);

    tcase_add_checked_fixture(api, setup, teardown);
    tcase_set_timeout(api, 300);
    tcase_add_test(api, batch_size_does_not_change_map);
    tcase_add_test(api, folded_batch_norm_matches_unfolded);
    tcase_add_test(api, shared_model_gives_same_map_on_two_threads);
    tcase_add_test(api, progress_callback_can_cancel);
    tcase_add_test(api, invalid_options_are_rejected_with_message);
    tcase_add_test(api, bad_ids_and_buffers_are_rejected);
    tcase_add_test(api, foreign_handle_is_misuse);
    tcase_add_test(api, crop_fit_map_is_zero_outside_crop);
    suite_add_tcase(s, api);

    tcase_add_checked_fixture(vit, setup_vit, teardown);
    tcase_set_timeout(vit, 300);
    tcase_add_test(vit, vit_gscorecam_matches_reference);
    tcase_add_test(vit, vit_scorecam_matches_reference);
    tcase_add_test(vit, vit_gradcam_matches_reference);
    tcase_add_test(vit, vit_gradcam_pp_matches_reference);
    tcase_add_test(vit, vit_hilacam_matches_reference);
    suite_add_tcase(s, vit);
    return s;
}

int main(void)
{
    return tu_run(cam_suite());
}
