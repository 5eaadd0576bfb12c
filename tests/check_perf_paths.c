/*
 * check_perf_paths.c - the speed-ups give the same maps as the plain path,
 * on the small ResNet fixture, for every ResNet method.
 *
 * The first comparison sets the ResNet trunk in channels-last memory format
 * against NCHW. The second sets every speed-up that has a switch (batch norm
 * folded, channels-last, buffer reuse, batches of masked inputs) against
 * none of them (batch norm unfolded, NCHW, no buffer reuse, one masked input
 * per pass). The in-place ReLU and residual addition of the trunk have no
 * switch, so the parity tests against the Python reference (check_cam.c)
 * cover them.
 *
 * Tolerances: maps within 1e-4 (max abs), logits within 1e-4 relative, the
 * same selected channels in the same order. The paths differ only in the
 * order of floating-point sums inside the convolutions and batch norm.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cam/cam.h"
#include "gsx.h"
#include "model/model.h"
#include "testutil.h"

#define MAP_TOLERANCE 1e-4
#define LOGIT_TOLERANCE 1e-4
#define TOPK 40
#define MAX_CHANNELS 4096

/* A prompt's ids ("a photo of a cat" in OpenAI's vocabulary), padded. */
static const int32_t PROMPT[] = {49406, 320, 1125, 539, 320, 2368, 49407};

static gscam_model *nchw, *channels_last, *unoptimised;
static int resolution;

static void setup(void)
{
    char path[512];
    int64_t r = 0;

    const gscam_option_list unfolded[] = {GSCAM_LOAD_FOLD_BATCH_NORM, 0, 0};

    nchw = channels_last = unoptimised = NULL;
    if (!tu_fixture("small-rn.pt", path, sizeof path))
        return;
    ck_assert_int_eq(gs_model_load(path, "cpu", NULL, 0, &nchw), GSCAM_OK);
    ck_assert_int_eq(gs_model_load(path, "cpu", NULL, 1, &channels_last), GSCAM_OK);
    ck_assert_int_eq(gs_model_load(path, "cpu", unfolded, 0, &unoptimised), GSCAM_OK);
    ck_assert_int_eq(gscam_model_info(nchw, GSCAM_INFO_INPUT_RESOLUTION, &r), GSCAM_OK);
    resolution = (int)r;
}

static void teardown(void)
{
    gscam_model_free(nchw);
    gscam_model_free(channels_last);
    gscam_model_free(unoptimised);
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

/* Result of one computation: the map, the logit and the scored channels. */
struct outcome {
    float *map;
    double logit;
    int32_t channels[MAX_CHANNELS];
    size_t n_channels;
};

/* How a map is computed: the library's defaults, or one masked input per
 * pass without buffer reuse. */
enum path { FAST, SLOW };

static void compute(gscam_model *m, int method, enum path path, struct outcome *out)
{
    const size_t n = (size_t)resolution * resolution;
    uint8_t *input = synthetic_input(resolution);
    int32_t ids[77] = {0};
    gscam_cam *cam = NULL;

    memcpy(ids, PROMPT, sizeof PROMPT);
    out->map = malloc(n * sizeof *out->map);
    ck_assert_int_eq(gscam_cam_create(m, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_METHOD, method), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_TOPK, TOPK), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_THREADS, 1), GSCAM_OK);
    if (path == SLOW) {
        ck_assert_int_eq(gscam_cam_set(cam, GSCAM_OPT_BATCH, 1), GSCAM_OK);
        cam->reuse_buffers = 0;
    }
    ck_assert_int_eq(gscam_cam_compute_input(cam, input, n * 3, ids, 77, out->map, n), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_last_logit(cam, &out->logit), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_last_channels(cam, out->channels, MAX_CHANNELS, &out->n_channels), GSCAM_OK);
    gscam_cam_free(cam);
    free(input);
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

static void check_same(gscam_model *slow_model, enum path slow_path, gscam_model *fast_model, int method)
{
    struct outcome *plain = calloc(1, sizeof *plain), *fast = calloc(1, sizeof *fast);

    compute(slow_model, method, slow_path, plain);
    compute(fast_model, method, FAST, fast);
    ck_assert_double_le(max_abs_diff(plain->map, fast->map, (size_t)resolution * resolution), MAP_TOLERANCE);
    ck_assert_double_le(fabs(plain->logit - fast->logit), LOGIT_TOLERANCE * fmax(1.0, fabs(plain->logit)));
    ck_assert_uint_eq(plain->n_channels, fast->n_channels);
    for (size_t i = 0; i < plain->n_channels; i++)
        ck_assert_int_eq(plain->channels[i], fast->channels[i]);
    free(plain->map);
    free(fast->map);
    free(plain);
    free(fast);
}

#define REQUIRE_MODELS()                                            \
    do {                                                            \
        if (!nchw || !channels_last || !unoptimised)                \
            TU_SKIP("fixture archive not built (make fixtures)");   \
    } while (0)

/* The ResNet methods, indexed by the loop tests' _i. */
static const int METHODS[] = {GSCAM_METHOD_GSCORECAM, GSCAM_METHOD_SCORECAM, GSCAM_METHOD_GRADCAM,
                              GSCAM_METHOD_GRADCAM_PP};
#define N_METHODS ((int)(sizeof METHODS / sizeof METHODS[0]))

START_TEST(channels_last_matches_nchw)
{
    REQUIRE_MODELS();
    check_same(nchw, FAST, channels_last, METHODS[_i]);
}
END_TEST

START_TEST(optimised_matches_plain_path)
{
    REQUIRE_MODELS();
    check_same(unoptimised, SLOW, channels_last, METHODS[_i]);
}
END_TEST

/* 300 channels in batches of at most 32 make ten batches of 30, so every
 * pass has the same shapes. 301 make one batch of 31, then nine of 30. */
START_TEST(batches_differ_by_at_most_one_larger_first)
{
    const int64_t k = 301, n = 10;
    int64_t prev = k;

    ck_assert_int_eq(gs_batch_start(0, n, k), 0);
    ck_assert_int_eq(gs_batch_start(n, n, k), k);
    for (int64_t i = 0; i < n; i++) {
        const int64_t size = gs_batch_start(i + 1, n, k) - gs_batch_start(i, n, k);

        ck_assert_int_eq(size, i == 0 ? 31 : 30);
        ck_assert_int_le(size, prev);
        prev = size;
    }
    ck_assert_int_eq(gs_batch_start(3, 10, 300), 90);
}
END_TEST

START_TEST(default_load_uses_channels_last)
{
    gscam_model *m = NULL;
    char path[512];

    REQUIRE_MODELS();
    ck_assert_ptr_nonnull(tu_fixture("small-rn.pt", path, sizeof path));
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_OK);
    ck_assert_int_eq(m->channels_last, 1);
    ck_assert_int_eq(nchw->channels_last, 0);
    gscam_model_free(m);
}
END_TEST

static Suite *perf_paths_suite(void)
{
    Suite *s = suite_create("perf_paths");
    TCase *layout = tcase_create("layout");

    tcase_add_checked_fixture(layout, setup, teardown);
    tcase_set_timeout(layout, 300);
    tcase_add_loop_test(layout, channels_last_matches_nchw, 0, N_METHODS);
    tcase_add_loop_test(layout, optimised_matches_plain_path, 0, N_METHODS);
    tcase_add_test(layout, default_load_uses_channels_last);
    tcase_add_test(layout, batches_differ_by_at_most_one_larger_first);
    suite_add_tcase(s, layout);
    return s;
}

int main(void)
{
    return tu_run(perf_paths_suite());
}
