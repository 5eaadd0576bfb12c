/*
 * bench.c - time per map of each CAM method against the lower bound of the
 * same work, the Python reference, and the ideal ScoreCAM / gScoreCAM ratio.
 *
 *     bench [--rn50 PATH] [--shapes PATH] [--shapes-vocab PATH] [--threads N]
 *           [--runs N] [--scorecam-runs N] [--reference-runs N]
 *           [--scorecam-reference-runs N] [--batch N] [--no-reference]
 *           [--method NAME] [--channels-last 0|1] [--reuse 0|1]
 *
 * Every configuration (model, method) runs in its own child process, so its
 * peak resident memory (VmHWM) is its own. The child loads the model, runs
 * one warm-up map (a scoring method scores a single batch of channels, which
 * is enough to see every kernel and allocation size once), then the timed
 * runs. After each timed map it times the lower bound of that map: one
 * forward and backward pass, then the same batches of masked forward passes
 * the map ran, on copies of the unmasked input.
 *
 * An empty PATH after --rn50 or --shapes leaves that model out.
 * --channels-last and --reuse switch the trunk's memory format and the reuse
 * of libtorch's buffers within a map (gsx_pool_open), for A/B runs.
 *
 * Links against every object of the library (build/libgscorecam.a) because
 * the lower bound uses the library's internal functions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cam/cam.h"
#include "gscorecam.h"

/* The prompt "a photo of a cat" in OpenAI's vocabulary, for random-weight
 * models whose text tower any id list exercises equally. */
static const int32_t CLIP_PROMPT[] = {49406, 320, 1125, 539, 320, 2368, 49407};
#define SHAPES_PROMPT "a red circle"
#define MAX_CONTEXT 4096
#define MAX_RUNS 64

struct options {
    const char *rn50;
    const char *shapes;
    const char *shapes_vocab;
    const char *python;
    int threads;
    int runs;
    int scorecam_runs;
    int reference_runs;
    int scorecam_reference_runs;
    int batch;
    int reference;
    int channels_last; /* -1: the library's default */
    int reuse;         /* 1 (the default): reuse buffers within a map */
    int method;        /* -1: every method */
};

/* Results of one configuration, measured in a child process. */
struct measurement {
    int ok;
    int resolution;
    int channels;
    int k;
    int batch;
    int runs;
    double map_s;   /* median time per map */
    double lower_s; /* median lower bound */
    long peak_kib;
    long loaded_kib; /* VmRSS right after loading the model */
    char message[256];
};

static const char *const METHOD_NAMES[] = {"gscorecam", "scorecam", "gradcam", "gradcam++"};
#define N_METHODS 4

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A field of /proc/self/status in KiB, -1 when absent. */
static long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    const size_t len = strlen(field);

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            value = strtol(line + len + 1, NULL, 10);
    fclose(f);
    return value;
}

/* A smooth synthetic picture with a bright disc, the same every run. */
static uint8_t *synthetic_input(int r)
{
    uint8_t *rgb = malloc((size_t)r * r * 3);

    if (!rgb)
        return NULL;
    for (int y = 0; y < r; y++) {
        for (int x = 0; x < r; x++) {
            const double dx = x - 0.35 * r, dy = y - 0.6 * r;
            const int disc = dx * dx + dy * dy < 0.04 * r * r;
            uint8_t *p = rgb + 3 * ((size_t)y * r + x);

            p[0] = (uint8_t)(disc ? 230 : 40 + 150 * x / r);
            p[1] = (uint8_t)(disc ? 60 : 90 + 100 * y / r);
            p[2] = (uint8_t)(disc ? 50 : 120 + ((x * 7 + y * 13) % 50));
        }
    }
    return rgb;
}

/* Token ids of the benchmark prompt: the fixed CLIP ids, or the shapes
 * prompt encoded with vocab. */
static int prompt_ids(const char *vocab, int32_t *ids, size_t context, char *message, size_t size)
{
    gscam_tokenizer *tok = NULL;
    size_t n = 0;
    gscam_status st;

    memset(ids, 0, context * sizeof *ids);
    if (!vocab) {
        memcpy(ids, CLIP_PROMPT, sizeof CLIP_PROMPT);
        return 0;
    }
    st = gscam_tokenizer_load(vocab, &tok);
    if (st == GSCAM_OK)
        st = gscam_tokenizer_encode(tok, SHAPES_PROMPT, strlen(SHAPES_PROMPT), context, 0, ids, &n);
    gscam_tokenizer_free(tok);
    if (st != GSCAM_OK) {
        snprintf(message, size, "encoding \"%s\" with %s failed: %s", SHAPES_PROMPT, vocab, gscam_last_error());
        return -1;
    }
    return 0;
}

/* Times the work that a map scoring k channels cannot avoid. That is one
 * forward and backward pass, then the masked passes the library runs (k
 * inputs in batches whose sizes differ by at most one). The passes run on
 * copies of the unmasked input, so building the masks is left out. Reuses
 * buffers when the map does. Returns seconds, or -1 after writing message. */
static double time_lower_bound(struct gscam_cam *cam, const uint8_t *rgb, const int32_t *ids, size_t n_ids, int k,
                               char *message, size_t size)
{
    const int r = cam->model->arch.input_resolution;
    const int64_t n = k > 0 ? gs_cam_batch_count(cam, k) : 0;
    const int pooled = cam->reuse_buffers ? gsx_pool_open() : 0;
    gsx_ctx *ctx = gsx_ctx_new();
    float *scores = malloc((size_t)(k > 0 ? k : 1) * sizeof *scores);
    gsx_tensor *x, *text;
    struct gs_target target = {0};
    double t0 = now(), elapsed = -1.0;

    if (!ctx || !scores || gs_cam_text(cam, ids, n_ids, &text) != GSCAM_OK) {
        snprintf(message, size, "lower bound: out of memory, or the text embedding failed");
        goto done;
    }
    x = gs_cam_input(ctx, rgb, r);
    if (gs_target_compute(cam, ctx, x, text, &target) != GSCAM_OK) {
        snprintf(message, size, "lower bound: forward and backward pass failed: %.200s", cam->message);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t b = gs_batch_start(i + 1, n, k) - gs_batch_start(i, n, k);
        const int64_t reps[4] = {b, 1, 1, 1};
        size_t mark = gsx_mark(ctx);
        gsx_tensor *in = gsx_repeat(ctx, x, reps, 4);

        gsx_read_f32(ctx, gs_logits(ctx, cam->model, gs_image_embed(ctx, cam->model, in), text),
                     scores + gs_batch_start(i, n, k), (size_t)b);
        gsx_release_to(ctx, mark, NULL);
    }
    if (gsx_status(ctx) != GSX_OK) {
        snprintf(message, size, "lower bound: masked passes failed: %s", gsx_message(ctx));
        goto done;
    }
    elapsed = now() - t0;
done:
    free(scores);
    gsx_ctx_free(ctx);
    gsx_pool_close(pooled);
    return elapsed;
}

static void measure(const struct options *o, const char *model_path, const char *vocab, int method,
                    struct measurement *out)
{
    gscam_model *model = NULL;
    gscam_cam *cam = NULL;
    int32_t ids[MAX_CONTEXT];
    int64_t value = 0, topk = 0;
    uint8_t *rgb = NULL;
    float *map = NULL;
    double times[MAX_RUNS], lower[MAX_RUNS];
    size_t n, context;
    int scored = method == GSCAM_METHOD_GSCORECAM || method == GSCAM_METHOD_SCORECAM;
    int runs = method == GSCAM_METHOD_SCORECAM ? o->scorecam_runs : o->runs;
    gscam_status st;

    st = o->channels_last < 0 ? gscam_model_load(model_path, "cpu", NULL, &model)
                              : gs_model_load(model_path, "cpu", NULL, o->channels_last, &model);
    if (st != GSCAM_OK) {
        snprintf(out->message, sizeof out->message, "%s", gscam_last_error());
        return;
    }
    out->loaded_kib = status_kib("VmRSS");
    gscam_model_info(model, GSCAM_INFO_INPUT_RESOLUTION, &value);
    out->resolution = (int)value;
    gscam_model_info(model, GSCAM_INFO_TARGET_CHANNELS, &value);
    out->channels = (int)value;
    gscam_model_info(model, GSCAM_INFO_CONTEXT_LENGTH, &value);
    context = (size_t)value;
    n = (size_t)out->resolution * (size_t)out->resolution;

    rgb = synthetic_input(out->resolution);
    map = malloc(n * sizeof *map);
    if (!rgb || !map || context > MAX_CONTEXT) {
        snprintf(out->message, sizeof out->message, "out of memory, or context %zu too long", context);
        goto done;
    }
    if (prompt_ids(vocab, ids, context, out->message, sizeof out->message) != 0)
        goto done;

    gscam_cam_create(model, &cam);
    gscam_cam_set(cam, GSCAM_OPT_METHOD, method);
    gscam_cam_set(cam, GSCAM_OPT_THREADS, o->threads);
    gscam_cam_set(cam, GSCAM_OPT_BATCH, o->batch);
    cam->reuse_buffers = o->reuse != 0;
    out->k = 0;
    if (scored) {
        gscam_cam_get(cam, GSCAM_OPT_TOPK, &value);
        out->k = method == GSCAM_METHOD_SCORECAM || value > out->channels ? out->channels : (int)value;
    }
    out->batch = (int)gs_cam_batch_size(cam);

    /* Warm-up: a scoring method scores one batch of channels only. */
    gscam_cam_get(cam, GSCAM_OPT_TOPK, &topk);
    if (scored) {
        gscam_cam_set(cam, GSCAM_OPT_METHOD, GSCAM_METHOD_GSCORECAM);
        gscam_cam_set(cam, GSCAM_OPT_TOPK, out->batch);
    }
    st = gscam_cam_compute_input(cam, rgb, n * 3, ids, context, map, n);
    gscam_cam_set(cam, GSCAM_OPT_METHOD, method);
    gscam_cam_set(cam, GSCAM_OPT_TOPK, topk);
    if (gscam_is_error(st)) {
        snprintf(out->message, sizeof out->message, "warm-up map failed: %s", gscam_cam_message(cam));
        goto done;
    }

    for (int i = 0; i < runs; i++) {
        double t0 = now();

        st = gscam_cam_compute_input(cam, rgb, n * 3, ids, context, map, n);
        times[i] = now() - t0;
        if (gscam_is_error(st)) {
            snprintf(out->message, sizeof out->message, "map failed: %s", gscam_cam_message(cam));
            goto done;
        }
        lower[i] = time_lower_bound(cam, rgb, ids, context, out->k, out->message, sizeof out->message);
        if (lower[i] < 0.0)
            goto done;
        fprintf(stderr, "  run %d of %d: map %.3f s, lower bound %.3f s\n", i + 1, runs, times[i], lower[i]);
    }
    out->runs = runs;
    out->map_s = median(times, runs);
    out->lower_s = median(lower, runs);
    out->peak_kib = status_kib("VmHWM");
    out->ok = 1;

done:
    gscam_cam_free(cam);
    gscam_model_free(model);
    free(rgb);
    free(map);
}

/* Runs measure() in a child process and copies its result back. */
static void measure_in_child(const struct options *o, const char *model_path, const char *vocab, int method,
                             struct measurement *out)
{
    int fds[2];
    pid_t pid;
    int status;

    memset(out, 0, sizeof *out);
    if (pipe(fds) != 0 || (pid = fork()) < 0) {
        snprintf(out->message, sizeof out->message, "fork failed: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        struct measurement m = {0};

        close(fds[0]);
        measure(o, model_path, vocab, method, &m);
        if (write(fds[1], &m, sizeof m) != (ssize_t)sizeof m)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], out, sizeof *out) != (ssize_t)sizeof *out)
        snprintf(out->message, sizeof out->message, "child process ended without a result");
    close(fds[0]);
    waitpid(pid, &status, 0);
}

/* Times the Python reference; returns 0 and fills the outputs, or -1. */
static int time_reference(const struct options *o, const char *model_path, const char *input_path,
                          const int32_t *ids, size_t context, const char *method, int k, int batch, int runs,
                          double *seconds, long *peak_kib, double *model_bytes)
{
    char command[4096], id_text[2048] = "";
    size_t used = 0;
    FILE *p;
    int rc;

    for (size_t i = 0; i < context && used < sizeof id_text - 16; i++) {
        if (i > 0 && ids[i] == 0)
            break;
        used += (size_t)snprintf(id_text + used, sizeof id_text - used, "%s%d", i ? " " : "", (int)ids[i]);
    }
    snprintf(command, sizeof command,
             "%s bench/reference_timing.py --model '%s' --input '%s' --ids '%s' --method %s --topk %d "
             "--batch %d --threads %d --runs %d",
             o->python, model_path, input_path, id_text, method, k > 0 ? k : 300, batch, o->threads, runs);
    p = popen(command, "r");
    if (!p)
        return -1;
    rc = fscanf(p, "%lf %ld %lf", seconds, peak_kib, model_bytes) == 3 ? 0 : -1;
    if (pclose(p) != 0)
        rc = -1;
    return rc;
}

static void print_row(const char *model_name, const char *method, const struct measurement *m, double ref_s,
                      long ref_peak)
{
    char ref[64] = "-", ratio[32] = "-", ref_mem[32] = "-";

    if (ref_s > 0.0) {
        snprintf(ref, sizeof ref, "%.3f", ref_s);
        snprintf(ratio, sizeof ratio, "%.2f", ref_s / m->map_s);
        snprintf(ref_mem, sizeof ref_mem, "%.0f", (double)ref_peak / 1024.0);
    }
    printf("| %-6s | %-9s | %4d | %5d | %4d | %7.3f | %9.3f | %8.3f | %7s | %9s | %8.0f | %12s |\n", model_name,
           method, m->k, m->batch, m->runs, m->map_s, m->lower_s, m->map_s / m->lower_s, ref, ratio,
           (double)m->peak_kib / 1024.0, ref_mem);
}

static int bench_model(const struct options *o, const char *name, const char *path, const char *vocab)
{
    struct measurement m[N_METHODS];
    char input_path[256], message[256];
    int32_t ids[MAX_CONTEXT];
    double model_bytes = 0.0;
    FILE *f;

    if (access(path, R_OK) != 0) {
        printf("| %-6s | skipped: %s is absent |\n", name, path);
        return 0;
    }
    if (vocab && access(vocab, R_OK) != 0) {
        printf("| %-6s | skipped: vocabulary %s is absent |\n", name, vocab);
        return 0;
    }

    memset(m, 0, sizeof m);
    for (int method = 0; method < N_METHODS; method++) {
        double ref_s = 0.0;
        long ref_peak = 0;

        if (o->method >= 0 && method != o->method)
            continue;
        fprintf(stderr, "%s %s:\n", name, METHOD_NAMES[method]);
        measure_in_child(o, path, vocab, method, &m[method]);
        if (!m[method].ok) {
            printf("| %-6s | %-9s | failed: %s |\n", name, METHOD_NAMES[method], m[method].message);
            continue;
        }
        if (o->reference) {
            const int r = m[method].resolution;
            uint8_t *rgb = synthetic_input(r);
            const int runs = method == GSCAM_METHOD_SCORECAM ? o->scorecam_reference_runs : o->reference_runs;

            snprintf(input_path, sizeof input_path, "/tmp/gscam-bench-%d.rgb", (int)getpid());
            f = fopen(input_path, "wb");
            if (rgb && f)
                fwrite(rgb, 1, (size_t)r * r * 3, f);
            if (f)
                fclose(f);
            free(rgb);
            if (prompt_ids(vocab, ids, 77, message, sizeof message) == 0 && runs > 0) {
                fprintf(stderr, "  Python reference, %d run(s)\n", runs);
                if (time_reference(o, path, input_path, ids, 77, METHOD_NAMES[method], m[method].k,
                                   m[method].batch, runs, &ref_s, &ref_peak, &model_bytes) != 0) {
                    fprintf(stderr, "  Python reference failed\n");
                    ref_s = 0.0;
                }
            }
            remove(input_path);
        }
        print_row(name, METHOD_NAMES[method], &m[method], ref_s, ref_peak);
        fflush(stdout);
    }

    if (m[0].ok && m[1].ok)
        printf("\n%s: ScoreCAM / gScoreCAM time %.2f, ideal C / k = %d / %d = %.2f (%.0f%% of ideal)\n", name,
               m[1].map_s / m[0].map_s, m[1].k, m[0].k, (double)m[1].k / m[0].k,
               100.0 * (m[1].map_s / m[0].map_s) / ((double)m[1].k / m[0].k));
    if (m[0].ok)
        printf("%s: resident after loading the model %.0f MiB; model tensors (float32) %.0f MiB\n", name,
               (double)m[0].loaded_kib / 1024.0, model_bytes / (1024.0 * 1024.0));
    printf("\n");
    return 0;
}

static int parse_int(const char *text, int *value)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || *end || v < 0 || v > 65536)
        return -1;
    *value = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.rn50 = "build/fixtures/RN50.pt",
                        .shapes = "examples/shapes/shapes-rn.pt",
                        .shapes_vocab = "examples/shapes/shapes-vocab.txt.gz",
                        .runs = 5,
                        .scorecam_runs = 1,
                        .reference_runs = 3,
                        .scorecam_reference_runs = 1,
                        .reference = 1,
                        .channels_last = -1,
                        .reuse = 1,
                        .method = -1};
    const char *python = getenv("PYTHON");

    o.python = python && *python ? python : "/usr/bin/python3";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *target = NULL;

        if (strcmp(a, "--no-reference") == 0) {
            o.reference = 0;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench: option %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--rn50") == 0)
            o.rn50 = v;
        else if (strcmp(a, "--shapes") == 0)
            o.shapes = v;
        else if (strcmp(a, "--shapes-vocab") == 0)
            o.shapes_vocab = v;
        else if (strcmp(a, "--threads") == 0)
            target = &o.threads;
        else if (strcmp(a, "--runs") == 0)
            target = &o.runs;
        else if (strcmp(a, "--scorecam-runs") == 0)
            target = &o.scorecam_runs;
        else if (strcmp(a, "--reference-runs") == 0)
            target = &o.reference_runs;
        else if (strcmp(a, "--scorecam-reference-runs") == 0)
            target = &o.scorecam_reference_runs;
        else if (strcmp(a, "--batch") == 0)
            target = &o.batch;
        else if (strcmp(a, "--channels-last") == 0)
            target = &o.channels_last;
        else if (strcmp(a, "--reuse") == 0)
            target = &o.reuse;
        else if (strcmp(a, "--method") == 0) {
            for (int m = 0; m < N_METHODS; m++)
                if (strcmp(v, METHOD_NAMES[m]) == 0)
                    o.method = m;
            if (o.method < 0) {
                fprintf(stderr, "bench: method %s is unknown (gscorecam, scorecam, gradcam, gradcam++)\n", v);
                return 2;
            }
        }
        else {
            fprintf(stderr, "bench: unknown option %s\n", a);
            return 2;
        }
        if (target && parse_int(v, target) != 0) {
            fprintf(stderr, "bench: %s is %s, expected an integer from 0 to 65536\n", a, v);
            return 2;
        }
    }
    if (o.runs < 1 || o.runs > MAX_RUNS || o.scorecam_runs < 1 || o.scorecam_runs > MAX_RUNS) {
        fprintf(stderr, "bench: --runs and --scorecam-runs must be 1 to %d\n", MAX_RUNS);
        return 2;
    }
    if (o.threads == 0)
        o.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);

    printf("threads %d; maps at the model's input size; times are medians over the runs column;\n"
           "ScoreCAM runs %d time(s) (2048 masked passes on RN50), the other methods %d times;\n"
           "Python reference: %d run(s) each, ScoreCAM %d; lower bound = 1 forward+backward pass\n"
           "+ the map's ceil(k / batch) masked batch passes, on unmasked copies; buffer reuse %s\n\n",
           o.threads, o.scorecam_runs, o.runs, o.reference_runs, o.scorecam_reference_runs,
           o.reuse ? "on" : "off");
    printf("| model  | method    |    k | batch | runs | map (s) | lower (s) | overhead | ref (s) | "
           "ref / lib | peak MiB | ref peak MiB |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    if (*o.rn50)
        bench_model(&o, "RN50", o.rn50, NULL);
    if (*o.shapes)
        bench_model(&o, "shapes", o.shapes, o.shapes_vocab);
    return 0;
}
