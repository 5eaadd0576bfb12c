/*
 * check_shim.c - the libtorch shim (shim/gsx.h): contexts and failures,
 * marks, devices, creation and read-out, operations, autograd and archives.
 *
 * Expected values are worked out by hand for small cases. Larger cases and
 * the archives are produced at run time by torch in Python ($PYTHON, default
 * /usr/bin/python3); those tests skip when Python cannot import torch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gsx.h"
#include "testutil.h"

/* Absolute tolerance for float32 results compared with torch's. */
#define TOLERANCE 1e-4

/* ---- helpers ------------------------------------------------------------- */

static gsx_tensor *from_values(gsx_ctx *ctx, const float *values, const int64_t *shape, int ndim)
{
    gsx_tensor *t = gsx_from_f32(ctx, values, shape, ndim);
    ck_assert_msg(t != NULL, "gsx_from_f32 failed: %s", gsx_message(ctx));
    return t;
}

static gsx_tensor *vector_of(gsx_ctx *ctx, const float *values, int64_t n)
{
    return from_values(ctx, values, &n, 1);
}

/* Reads n floats of t and compares them with expected. */
static void assert_values(gsx_ctx *ctx, const gsx_tensor *t, const float *expected, size_t n, double tolerance)
{
    float *got = calloc(n ? n : 1, sizeof *got);

    ck_assert_ptr_nonnull(got);
    ck_assert_msg(t != NULL, "operation failed: %s", gsx_message(ctx));
    ck_assert_int_eq(gsx_numel(t), (int64_t)n);
    ck_assert_int_eq(gsx_read_f32(ctx, t, got, n), GSX_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - (double)expected[i]) <= tolerance, "element %zu is %.7g, expected %.7g",
                      i, (double)got[i], (double)expected[i]);
    free(got);
}

static void assert_shape(const gsx_tensor *t, const int64_t *shape, int ndim)
{
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(gsx_ndim(t), ndim);
    for (int d = 0; d < ndim; d++)
        ck_assert_int_eq(gsx_size(t, d), shape[d]);
}

static const char *python_path(void)
{
    const char *python = getenv("PYTHON");

    return python && *python ? python : "/usr/bin/python3";
}

/* Runs Python code with arg as sys.argv[1] and this file's tests/python on
 * PYTHONPATH. Returns the exit status, or -1 when it could not start. */
static int run_python(const char *code, const char *arg)
{
    char module_dir[4096];
    const char *slash = strrchr(__FILE__, '/');
    pid_t pid;
    int status;

    snprintf(module_dir, sizeof module_dir, "%.*s/python", slash ? (int)(slash - __FILE__) : 1,
             slash ? __FILE__ : ".");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setenv("PYTHONPATH", module_dir, 1);
        execl(python_path(), python_path(), "-c", code, arg ? arg : "", (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Creates a fresh temporary folder; the caller removes it with remove_dir. */
static void make_temp_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/check_shim.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(const char *dir)
{
    char command[4200];

    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(command), 0);
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

/* Resident memory of this process in bytes, from /proc/self/statm. */
static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long total = 0, resident = 0;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld", &total, &resident), 2);
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

/* Address space of this process in bytes, from /proc/self/statm. */
static long address_space_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long total = 0;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld", &total), 1);
    fclose(f);
    return total * sysconf(_SC_PAGESIZE);
}

/* ---- contexts and failures ----------------------------------------------- */

START_TEST(ctx_new_starts_without_failure)
{
    gsx_ctx *ctx = gsx_ctx_new();

    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(gsx_status(ctx), GSX_OK);
    ck_assert_str_eq(gsx_message(ctx), "");
    ck_assert_uint_eq(gsx_mark(ctx), 0);
    gsx_ctx_free(ctx);
    gsx_ctx_free(NULL);
}
END_TEST

START_TEST(fail_keeps_first_failure_only)
{
    gsx_ctx *ctx = gsx_ctx_new();

    gsx_fail(ctx, GSX_ERR_IO, "first failure\nsecond line");
    gsx_fail(ctx, GSX_ERR_LIMIT, "later failure");
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_IO);
    ck_assert_str_eq(gsx_message(ctx), "first failure");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(clear_error_allows_work_again)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float one = 1.0f;
    const int64_t shape = 1;

    gsx_fail(ctx, GSX_ERR_BACKEND, "broken");
    ck_assert_ptr_null(gsx_from_f32(ctx, &one, &shape, 1));
    gsx_clear_error(ctx);
    ck_assert_int_eq(gsx_status(ctx), GSX_OK);
    ck_assert_str_eq(gsx_message(ctx), "");
    ck_assert_ptr_nonnull(gsx_from_f32(ctx, &one, &shape, 1));
    gsx_ctx_free(ctx);
}
END_TEST

static int count_calls(void *user, const char *name, gsx_tensor *tensor)
{
    (void)name;
    (void)tensor;
    ++*(int *)user;
    return 0;
}

START_TEST(failed_context_returns_null_without_work)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[2] = {1.0f, 2.0f};
    gsx_tensor *t = vector_of(ctx, values, 2);
    gsx_tensor *top = (gsx_tensor *)&values;
    float out[2] = {-7.0f, -7.0f};
    const size_t mark = gsx_mark(ctx);
    int calls = 0;

    gsx_fail(ctx, GSX_ERR_LIMIT, "caller gave up");
    ck_assert_ptr_null(gsx_add(ctx, t, t));
    ck_assert_ptr_null(gsx_relu(ctx, t));
    ck_assert_ptr_null(gsx_zeros(ctx, (const int64_t[]){3}, 1));
    ck_assert_ptr_null(gsx_leaf(ctx, t));
    ck_assert_int_eq(gsx_topk(ctx, t, 1, &top, NULL), GSX_ERR_LIMIT);
    ck_assert_ptr_eq(top, (gsx_tensor *)&values);
    ck_assert_int_eq(gsx_read_f32(ctx, t, out, 2), GSX_ERR_LIMIT);
    ck_assert_float_eq(out[0], -7.0f);
    ck_assert_int_eq(gsx_load_archive(ctx, "/nonexistent.pt", 0, 0, count_calls, &calls), GSX_ERR_LIMIT);
    ck_assert_int_eq(calls, 0);

    ck_assert_uint_eq(gsx_mark(ctx), mark);
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_LIMIT);
    ck_assert_str_eq(gsx_message(ctx), "caller gave up");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(null_input_records_argument_error)
{
    gsx_ctx *ctx = gsx_ctx_new();

    ck_assert_ptr_null(gsx_relu(ctx, NULL));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_relu: NULL input");
    ck_assert_uint_eq(gsx_mark(ctx), 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(null_context_is_rejected_without_crash)
{
    const float one = 1.0f;
    const int64_t shape = 1;

    ck_assert_ptr_null(gsx_from_f32(NULL, &one, &shape, 1));
    ck_assert_int_ne(gsx_backward(NULL, NULL), GSX_OK);
    ck_assert_int_ne(gsx_status(NULL), GSX_OK);
    ck_assert_ptr_nonnull(gsx_message(NULL));
    ck_assert_uint_eq(gsx_mark(NULL), 0);
    ck_assert_int_eq(gsx_ndim(NULL), -1);
    ck_assert_int_eq(gsx_numel(NULL), -1);
}
END_TEST

START_TEST(backend_error_gives_one_line_message)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[6] = {0};
    gsx_tensor *a = from_values(ctx, values, (const int64_t[]){2, 3}, 2);
    const char *message;

    ck_assert_ptr_null(gsx_matmul(ctx, a, a));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_BACKEND);
    message = gsx_message(ctx);
    ck_assert_msg(strncmp(message, "gsx_matmul: ", 12) == 0, "message is '%s'", message);
    ck_assert_msg(strlen(message) > 12, "message has no text after the function name");
    ck_assert_ptr_null(strchr(message, '\n'));

    /* A later failure does not replace the first. */
    ck_assert_ptr_null(gsx_relu(ctx, NULL));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_BACKEND);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(invalid_parameters_record_argument_error)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[4] = {1, 2, 3, 4};
    gsx_tensor *x = from_values(ctx, values, (const int64_t[]){1, 1, 2, 2}, 4);
    gsx_tensor *v = vector_of(ctx, values, 4);

    ck_assert_ptr_null(gsx_conv2d(ctx, x, x, NULL, 0, 0));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_conv2d: stride is 0, expected >= 1");
    gsx_clear_error(ctx);

    ck_assert_ptr_null(gsx_from_f32(ctx, values, (const int64_t[]){2, -2}, 2));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_from_f32: shape[1] is -2, expected >= 0");
    gsx_clear_error(ctx);

    ck_assert_ptr_null(gsx_channels_last(ctx, v));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_channels_last: tensor has 1 dimensions, expected 4");
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- marks ----------------------------------------------------------------- */

START_TEST(release_to_keeps_only_the_kept_tensor)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float a[2] = {1, 2}, b[2] = {3, 4}, c[2] = {5, 6};
    gsx_tensor *before = vector_of(ctx, a, 2);
    const size_t mark = gsx_mark(ctx);
    gsx_tensor *kept;

    vector_of(ctx, b, 2);
    kept = gsx_add(ctx, before, vector_of(ctx, c, 2));
    vector_of(ctx, c, 2);
    ck_assert_uint_eq(gsx_mark(ctx), mark + 4);

    ck_assert_ptr_eq(gsx_release_to(ctx, mark, kept), kept);
    ck_assert_uint_eq(gsx_mark(ctx), mark + 1);
    assert_values(ctx, kept, (const float[]){6, 8}, 2, 0);
    assert_values(ctx, before, a, 2, 0);

    /* The kept tensor now sits right after the mark, so releasing to
     * mark + 1 keeps it and releasing to mark drops it. */
    gsx_release_to(ctx, mark + 1, NULL);
    ck_assert_uint_eq(gsx_mark(ctx), mark + 1);
    gsx_release_to(ctx, mark, NULL);
    ck_assert_uint_eq(gsx_mark(ctx), mark);
    ck_assert_int_eq(gsx_status(ctx), GSX_OK);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(release_to_frees_tensor_storage)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t big[1] = {16 << 20}; /* 64 MiB of float32 */
    const long slack = 16L << 20;
    const size_t mark = gsx_mark(ctx);
    long base, peak;
    gsx_tensor *small;

#ifdef __SANITIZE_ADDRESS__
    gsx_ctx_free(ctx);
    TU_SKIP("AddressSanitizer keeps freed memory in quarantine, so resident memory does not drop");
#endif
    base = resident_bytes();
    ck_assert_ptr_nonnull(gsx_zeros(ctx, big, 1));
    small = gsx_zeros(ctx, (const int64_t[]){4}, 1);
    peak = resident_bytes();
    ck_assert_msg(peak - base > (64L << 20) - slack, "zeros did not touch its memory");

    gsx_release_to(ctx, mark, small);
    ck_assert_msg(resident_bytes() - base < slack, "release_to kept %ld bytes", resident_bytes() - base);

    ck_assert_ptr_nonnull(gsx_zeros(ctx, big, 1));
    gsx_ctx_free(ctx);
    ck_assert_msg(resident_bytes() - base < slack, "ctx_free kept %ld bytes", resident_bytes() - base);
}
END_TEST

/* ---- buffer reuse scopes ------------------------------------------------- */

/* Bytes of a 2^20-float tensor: large enough to be pooled. */
#define POOLED_BYTES ((size_t)4 << 20)

START_TEST(pool_keeps_freed_buffers_until_the_scope_closes)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t n[1] = {1 << 20};
    const size_t mark = gsx_mark(ctx);
    int opened = gsx_pool_open();

    ck_assert_int_eq(opened, 1);
    ck_assert_uint_eq(gsx_pool_held(), 0);
    ck_assert_ptr_nonnull(gsx_zeros(ctx, n, 1));
    gsx_release_to(ctx, mark, NULL);
    ck_assert_uint_eq(gsx_pool_held(), POOLED_BYTES);

    /* The next tensor of the same size takes the held buffer. */
    ck_assert_ptr_nonnull(gsx_zeros(ctx, n, 1));
    ck_assert_uint_eq(gsx_pool_held(), 0);
    gsx_release_to(ctx, mark, NULL);
    gsx_pool_close(opened);
    ck_assert_uint_eq(gsx_pool_held(), 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(pool_leaves_small_and_outside_tensors_alone)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t small[1] = {1024}, large[1] = {1 << 20};
    const size_t mark = gsx_mark(ctx);
    int opened;

    /* Made before the scope: freed inside it, it goes back to malloc. */
    ck_assert_ptr_nonnull(gsx_zeros(ctx, large, 1));
    opened = gsx_pool_open();
    ck_assert_ptr_nonnull(gsx_zeros(ctx, small, 1));
    gsx_release_to(ctx, mark, NULL);
    ck_assert_uint_eq(gsx_pool_held(), 0);
    gsx_pool_close(opened);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(pool_nested_scopes_empty_at_the_last_close)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t n[1] = {1 << 20};
    const size_t mark = gsx_mark(ctx);
    int outer = gsx_pool_open(), inner = gsx_pool_open();

    ck_assert_ptr_nonnull(gsx_zeros(ctx, n, 1));
    gsx_release_to(ctx, mark, NULL);
    gsx_pool_close(inner);
    ck_assert_uint_eq(gsx_pool_held(), POOLED_BYTES);
    gsx_pool_close(outer);
    ck_assert_uint_eq(gsx_pool_held(), 0);
    /* Closing more often than opening changes nothing. */
    gsx_pool_close(1);
    gsx_pool_close(0);
    ck_assert_uint_eq(gsx_pool_held(), 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(pool_tensors_outlive_their_scope)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    const int64_t n[1] = {1 << 20}, four[1] = {4};
    int opened = gsx_pool_open();
    gsx_tensor *big = gsx_add_scalar(ctx, gsx_zeros(ctx, n, 1), 2.0);
    gsx_tensor *sum;
    float got = 0.0f;

    gsx_pool_close(opened);
    /* Still readable after the scope closed, and freed by the context. */
    sum = gsx_sum(ctx, gsx_add(ctx, gsx_slice(ctx, big, 0, 0, 4), from_values(ctx, values, four, 1)), NULL, 0, 0);
    ck_assert_int_eq(gsx_read_f32(ctx, sum, &got, 1), GSX_OK);
    ck_assert_float_eq(got, 18.0f);
    gsx_ctx_free(ctx);
    ck_assert_uint_eq(gsx_pool_held(), 0);
}
END_TEST

/* A thread that opens a buffer reuse scope, keeps one freed buffer in it,
 * and waits inside the scope until released. */
struct scope_holder {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int inside;  /* set by the thread once its buffer is kept */
    int release; /* set by the test to let it close the scope */
};

static void *hold_scope(void *arg)
{
    struct scope_holder *h = arg;
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t n[1] = {1 << 20};
    int opened = gsx_pool_open();

    gsx_zeros(ctx, n, 1);
    gsx_release_to(ctx, 0, NULL);
    pthread_mutex_lock(&h->lock);
    h->inside = 1;
    pthread_cond_broadcast(&h->changed);
    while (!h->release)
        pthread_cond_wait(&h->changed, &h->lock);
    pthread_mutex_unlock(&h->lock);
    gsx_pool_close(opened);
    gsx_ctx_free(ctx);
    return NULL;
}

static void start_holder(struct scope_holder *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->changed, NULL);
    ck_assert_int_eq(pthread_create(&h->thread, NULL, hold_scope, h), 0);
    pthread_mutex_lock(&h->lock);
    while (!h->inside)
        pthread_cond_wait(&h->changed, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

static void stop_holder(struct scope_holder *h)
{
    pthread_mutex_lock(&h->lock);
    h->release = 1;
    pthread_cond_broadcast(&h->changed);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
}

START_TEST(pool_scope_ends_despite_other_threads)
{
    struct scope_holder holder;
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t n[1] = {3 << 20};
    int opened;

    start_holder(&holder);
    ck_assert_uint_eq(gsx_pool_held(), POOLED_BYTES);

    /* This thread's buffers are freed when its scope closes, although the
     * other thread's scope is still open. */
    opened = gsx_pool_open();
    ck_assert_ptr_nonnull(gsx_zeros(ctx, n, 1));
    gsx_release_to(ctx, 0, NULL);
    ck_assert_uint_eq(gsx_pool_held(), POOLED_BYTES + 3 * POOLED_BYTES);
    gsx_pool_close(opened);
    ck_assert_uint_eq(gsx_pool_held(), POOLED_BYTES);

    stop_holder(&holder);
    ck_assert_uint_eq(gsx_pool_held(), 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(pool_child_drops_other_threads_scopes)
{
    struct scope_holder holder;
    pid_t pid;
    int status = 0;

    start_holder(&holder);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        gsx_ctx *ctx = gsx_ctx_new();
        const int64_t n[1] = {1 << 20};
        int opened, ok;

        /* The holding thread does not exist here, so its scope is gone. */
        ok = gsx_pool_held() == 0;
        opened = gsx_pool_open();
        ok = ok && opened == 1 && gsx_zeros(ctx, n, 1) != NULL;
        gsx_release_to(ctx, 0, NULL);
        ok = ok && gsx_pool_held() == POOLED_BYTES;
        gsx_pool_close(opened);
        ok = ok && gsx_pool_held() == 0;
        gsx_ctx_free(ctx);
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's pool checks failed (status %d)",
                  status);
    ck_assert_uint_eq(gsx_pool_held(), POOLED_BYTES);
    stop_holder(&holder);
}
END_TEST

/* With 400 MiB of address space for new memory, 300 MiB kept from a freed
 * tensor must make room for a 350 MiB tensor, which no kept buffer fits. */
START_TEST(pool_frees_kept_buffers_when_memory_runs_out)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t first[1] = {75L << 20}, second[1] = {(350L << 20) / 4};
    struct rlimit limit;
    long base;
    int opened;

#ifdef __SANITIZE_ADDRESS__
    gsx_ctx_free(ctx);
    TU_SKIP("AddressSanitizer reserves terabytes of address space, so the limit cannot be set");
#endif
    base = address_space_bytes();
    opened = gsx_pool_open();
    ck_assert_ptr_nonnull(gsx_zeros(ctx, first, 1));
    gsx_release_to(ctx, 0, NULL);
    ck_assert_uint_eq(gsx_pool_held(), 300UL << 20);

    limit.rlim_cur = limit.rlim_max = (rlim_t)base + (400UL << 20);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &limit), 0);
    ck_assert_msg(gsx_zeros(ctx, second, 1) != NULL, "%s", gsx_message(ctx));
    ck_assert_uint_eq(gsx_pool_held(), 0);
    gsx_release_to(ctx, 0, NULL);
    gsx_pool_close(opened);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(failed_allocation_records_nomem)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t huge[1] = {(int64_t)1 << 46}; /* 256 TiB of float32 */

#ifdef __SANITIZE_ADDRESS__
    gsx_ctx_free(ctx);
    TU_SKIP("AddressSanitizer reports an allocation this large instead of failing it");
#endif
    ck_assert_ptr_null(gsx_zeros(ctx, huge, 1));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_NOMEM);
    ck_assert_ptr_null(strchr(gsx_message(ctx), '\n'));
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- process-wide settings ----------------------------------------------- */

START_TEST(set_threads_changes_thread_count)
{
    gsx_set_threads(1);
    ck_assert_int_eq(gsx_get_threads(), 1);
    gsx_set_threads(2);
    ck_assert_int_eq(gsx_get_threads(), 2);
    gsx_set_threads(0);
    ck_assert_int_eq(gsx_get_threads(), 2);
}
END_TEST

START_TEST(cpu_device_is_accepted)
{
    char msg[128] = "stale";

    ck_assert_int_eq(gsx_device_check("cpu", msg, sizeof msg), GSX_OK);
    ck_assert_str_eq(msg, "");
    ck_assert_int_eq(gsx_device_check("cpu", NULL, 0), GSX_OK);
}
END_TEST

START_TEST(cuda_device_fails_with_clear_message)
{
    char msg[128];

    if (gsx_device_check("cuda", msg, sizeof msg) == GSX_OK)
        TU_SKIP("this libtorch build has a usable CUDA device");
    ck_assert_int_eq(gsx_device_check("cuda", msg, sizeof msg), GSX_ERR_DEVICE);
    ck_assert_str_eq(msg, "device cuda: this libtorch build has no CUDA support");
    ck_assert_int_eq(gsx_device_check("cuda:0", msg, sizeof msg), GSX_ERR_DEVICE);
    ck_assert_str_eq(msg, "device cuda:0: this libtorch build has no CUDA support");
}
END_TEST

START_TEST(device_check_rejects_malformed_names)
{
    const char *unknown[] = {"tpu", "", "CPU", "cudax", "cpu:0", " cuda"};
    const char *bad_index[] = {"cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:99999"};
    char msg[128];

    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        ck_assert_int_eq(gsx_device_check(unknown[i], msg, sizeof msg), GSX_ERR_DEVICE);
        ck_assert_msg(strstr(msg, "unknown device") != NULL, "'%s' gave '%s'", unknown[i], msg);
    }
    for (size_t i = 0; i < sizeof bad_index / sizeof *bad_index; i++) {
        ck_assert_int_eq(gsx_device_check(bad_index[i], msg, sizeof msg), GSX_ERR_DEVICE);
        ck_assert_msg(strstr(msg, "invalid CUDA device index") != NULL, "'%s' gave '%s'", bad_index[i], msg);
    }
    ck_assert_int_eq(gsx_device_check(NULL, msg, sizeof msg), GSX_ERR_DEVICE);
    ck_assert_int_eq(gsx_device_check("tpu", NULL, 0), GSX_ERR_DEVICE);

    /* A short buffer gets a cut but terminated message. */
    ck_assert_int_eq(gsx_device_check("tpu", msg, 5), GSX_ERR_DEVICE);
    ck_assert_str_eq(msg, "devi");
}
END_TEST

START_TEST(to_device_moves_to_cpu_and_rejects_unknown)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[2] = {1, 2};
    gsx_tensor *t = vector_of(ctx, values, 2);

    assert_values(ctx, gsx_to_device(ctx, t, "cpu"), values, 2, 0);
    ck_assert_ptr_null(gsx_to_device(ctx, t, "tpu"));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_DEVICE);
    ck_assert_str_eq(gsx_message(ctx), "gsx_to_device: device tpu: unknown device (expected cpu, cuda or cuda:N)");
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- creation and read-out ----------------------------------------------- */

START_TEST(from_f32_round_trips_values_and_shape)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    const int64_t shape[2] = {2, 3};
    gsx_tensor *t = from_values(ctx, values, shape, 2);

    assert_shape(t, shape, 2);
    ck_assert_int_eq(gsx_size(t, -1), 3);
    ck_assert_int_eq(gsx_size(t, -2), 2);
    ck_assert_int_eq(gsx_size(t, 2), -1);
    ck_assert_int_eq(gsx_size(t, -3), -1);
    ck_assert_int_eq(gsx_dtype(t), GSX_F32);
    assert_values(ctx, t, values, 6, 0);

    /* A zero-dimensional tensor has one value. */
    t = from_values(ctx, values, NULL, 0);
    ck_assert_int_eq(gsx_ndim(t), 0);
    ck_assert_int_eq(gsx_numel(t), 1);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(from_i64_round_trips_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t values[3] = {-5, 0, (int64_t)1 << 40};
    const int64_t shape = 3;
    int64_t out[3] = {0};
    gsx_tensor *t = gsx_from_i64(ctx, values, &shape, 1);

    ck_assert_int_eq(gsx_dtype(t), GSX_I64);
    ck_assert_int_eq(gsx_read_i64(ctx, t, out, 3), GSX_OK);
    ck_assert_mem_eq(out, values, sizeof values);

    /* Float conversion of the same tensor. */
    assert_values(ctx, gsx_to_f32(ctx, t), (const float[]){-5, 0, (float)((int64_t)1 << 40)}, 3, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(read_f32_rejects_wrong_count)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[3] = {1, 2, 3};
    gsx_tensor *t = vector_of(ctx, values, 3);
    float out[4];

    ck_assert_int_eq(gsx_read_f32(ctx, t, out, 4), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_read_f32: tensor has 3 elements, output has room for 4");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(zeros_has_shape_and_zero_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t shape[3] = {2, 1, 3};
    gsx_tensor *t = gsx_zeros(ctx, shape, 3);

    assert_shape(t, shape, 3);
    assert_values(ctx, t, (const float[6]){0}, 6, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(all_finite_and_min_max_inspect_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float clean[3] = {-1.5f, 4, 2};
    const float with_nan[2] = {1, NAN};
    const float with_inf[2] = {1, -INFINITY};
    double min = 0, max = 0;
    int finite = -1;

    ck_assert_int_eq(gsx_all_finite(ctx, vector_of(ctx, clean, 3), &finite), GSX_OK);
    ck_assert_int_eq(finite, 1);
    ck_assert_int_eq(gsx_all_finite(ctx, vector_of(ctx, with_nan, 2), &finite), GSX_OK);
    ck_assert_int_eq(finite, 0);
    ck_assert_int_eq(gsx_all_finite(ctx, vector_of(ctx, with_inf, 2), &finite), GSX_OK);
    ck_assert_int_eq(finite, 0);

    ck_assert_int_eq(gsx_min_max(ctx, vector_of(ctx, clean, 3), &min, &max), GSX_OK);
    ck_assert_double_eq(min, -1.5);
    ck_assert_double_eq(max, 4.0);
    ck_assert_int_eq(gsx_min_max(ctx, gsx_zeros(ctx, (const int64_t[]){0}, 1), &min, &max), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_min_max: tensor is empty");
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- layout and shape ---------------------------------------------------- */

START_TEST(shape_operations_move_values_as_torch_does)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[6] = {0, 1, 2, 3, 4, 5};
    gsx_tensor *m = from_values(ctx, values, (const int64_t[]){2, 3}, 2);
    const int64_t index_values[2] = {2, 0};
    gsx_tensor *index = gsx_from_i64(ctx, index_values, (const int64_t[]){2}, 1);
    gsx_tensor *parts[2];

    assert_shape(gsx_reshape(ctx, m, (const int64_t[]){3, -1}, 2), (const int64_t[]){3, 2}, 2);
    assert_values(ctx, gsx_transpose(ctx, m, 0, 1), (const float[]){0, 3, 1, 4, 2, 5}, 6, 0);
    assert_values(ctx, gsx_permute(ctx, m, (const int64_t[]){1, 0}, 2), (const float[]){0, 3, 1, 4, 2, 5}, 6, 0);
    assert_values(ctx, gsx_slice(ctx, m, 1, 1, 3), (const float[]){1, 2, 4, 5}, 4, 0);
    assert_values(ctx, gsx_select(ctx, m, 0, 1), (const float[]){3, 4, 5}, 3, 0);
    assert_values(ctx, gsx_index_select(ctx, m, 1, index), (const float[]){2, 0, 5, 3}, 4, 0);
    assert_shape(gsx_unsqueeze(ctx, m, 0), (const int64_t[]){1, 2, 3}, 3);
    assert_values(ctx, gsx_repeat(ctx, gsx_select(ctx, m, 0, 0), (const int64_t[]){2}, 1),
                  (const float[]){0, 1, 2, 0, 1, 2}, 6, 0);

    parts[0] = m;
    parts[1] = gsx_select(ctx, gsx_unsqueeze(ctx, m, 0), 0, 0);
    assert_values(ctx, gsx_cat(ctx, parts, 2, 1), (const float[]){0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}, 12, 0);
    parts[1] = NULL;
    ck_assert_ptr_null(gsx_cat(ctx, parts, 2, 0));
    ck_assert_str_eq(gsx_message(ctx), "gsx_cat: NULL input");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(clone_and_contiguous_copy_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[6] = {0, 1, 2, 3, 4, 5};
    gsx_tensor *m = from_values(ctx, values, (const int64_t[]){2, 3}, 2);
    gsx_tensor *t = gsx_transpose(ctx, m, 0, 1);

    assert_values(ctx, gsx_contiguous(ctx, t), (const float[]){0, 3, 1, 4, 2, 5}, 6, 0);
    assert_values(ctx, gsx_clone(ctx, m), values, 6, 0);
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- element-wise and reductions ----------------------------------------- */

START_TEST(elementwise_operations_broadcast)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float a_values[4] = {1, 2, 3, 4};
    const float b_values[2] = {10, 20};
    gsx_tensor *a = from_values(ctx, a_values, (const int64_t[]){2, 2}, 2);
    gsx_tensor *b = vector_of(ctx, b_values, 2);

    assert_values(ctx, gsx_add(ctx, a, b), (const float[]){11, 22, 13, 24}, 4, 0);
    assert_values(ctx, gsx_sub(ctx, a, b), (const float[]){-9, -18, -7, -16}, 4, 0);
    assert_values(ctx, gsx_mul(ctx, a, b), (const float[]){10, 40, 30, 80}, 4, 0);
    assert_values(ctx, gsx_div(ctx, a, b), (const float[]){0.1f, 0.1f, 0.3f, 0.2f}, 4, 1e-7);
    assert_values(ctx, gsx_add_scalar(ctx, a, 0.5), (const float[]){1.5f, 2.5f, 3.5f, 4.5f}, 4, 0);
    assert_values(ctx, gsx_mul_scalar(ctx, a, -2), (const float[]){-2, -4, -6, -8}, 4, 0);
    assert_values(ctx, gsx_pow_scalar(ctx, a, 2), (const float[]){1, 4, 9, 16}, 4, 0);
    assert_values(ctx, gsx_rsqrt(ctx, a), (const float[]){1, 0.70710678f, 0.57735027f, 0.5f}, 4, 1e-6);
    assert_values(ctx, gsx_exp(ctx, a), (const float[]){2.7182818f, 7.3890561f, 20.085537f, 54.598150f}, 4, 1e-4);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(activations_and_masks_match_definitions)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[4] = {-2, 0, 0.5f, 3};
    gsx_tensor *t = vector_of(ctx, values, 4);
    const float special[4] = {NAN, INFINITY, -INFINITY, 1};
    gsx_tensor *zero_one = vector_of(ctx, (const float[]){0, 1, 0, 1}, 4);

    assert_values(ctx, gsx_relu(ctx, t), (const float[]){0, 0, 0.5f, 3}, 4, 0);
    assert_values(ctx, gsx_sigmoid(ctx, t),
                  (const float[]){(float)(1 / (1 + exp(2.0))), 0.5f, (float)(1 / (1 + exp(-0.5))),
                                  (float)(1 / (1 + exp(-3.0)))},
                  4, 1e-6);
    assert_values(ctx, gsx_eq_zero(ctx, t), (const float[]){0, 1, 0, 0}, 4, 0);
    assert_values(ctx, gsx_where(ctx, zero_one, t, gsx_mul_scalar(ctx, t, 10)), (const float[]){-20, 0, 5, 3}, 4, 0);

    /* NaN becomes the value while infinities stay. */
    {
        gsx_tensor *fixed = gsx_nan_to(ctx, vector_of(ctx, special, 4), 7);
        float out[4];

        ck_assert_int_eq(gsx_read_f32(ctx, fixed, out, 4), GSX_OK);
        ck_assert_float_eq(out[0], 7.0f);
        ck_assert(isinf(out[1]) && out[1] > 0);
        ck_assert(isinf(out[2]) && out[2] < 0);
        ck_assert_float_eq(out[3], 1.0f);
    }
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(in_place_operations_change_their_input)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t shape[2] = {2, 2}, row[1] = {2};
    gsx_tensor *t = from_values(ctx, (const float[]){-2, 0, 0.5f, 3}, shape, 2);
    gsx_tensor *bias = from_values(ctx, (const float[]){1, -1}, row, 1);
    const size_t count = gsx_mark(ctx);

    ck_assert_int_eq(gsx_add_in_place(ctx, t, bias), GSX_OK);
    assert_values(ctx, t, (const float[]){-1, -1, 1.5f, 2}, 4, 0);
    ck_assert_int_eq(gsx_relu_in_place(ctx, t), GSX_OK);
    assert_values(ctx, t, (const float[]){0, 0, 1.5f, 2}, 4, 0);
    ck_assert_uint_eq(gsx_mark(ctx), count);

    /* b must broadcast to a's shape: a cannot grow. */
    ck_assert_int_ne(gsx_add_in_place(ctx, bias, t), GSX_OK);
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_BACKEND);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(reductions_follow_dims_and_keepdim)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[6] = {1, 5, 3, -4, 2, 8};
    gsx_tensor *m = from_values(ctx, values, (const int64_t[]){2, 3}, 2);
    const int64_t last = -1, first = 0;

    assert_values(ctx, gsx_sum(ctx, m, &last, 1, 0), (const float[]){9, 6}, 2, 0);
    assert_values(ctx, gsx_sum(ctx, m, NULL, 0, 0), (const float[]){15}, 1, 0);
    assert_values(ctx, gsx_mean(ctx, m, &first, 1, 0), (const float[]){-1.5f, 3.5f, 5.5f}, 3, 0);
    assert_shape(gsx_mean(ctx, m, &last, 1, 1), (const int64_t[]){2, 1}, 2);
    assert_values(ctx, gsx_amax(ctx, m, &last, 1, 0), (const float[]){5, 8}, 2, 0);
    assert_values(ctx, gsx_amin(ctx, m, &first, 1, 0), (const float[]){-4, 2, 3}, 3, 0);
    assert_values(ctx, gsx_amax(ctx, m, NULL, 0, 0), (const float[]){8}, 1, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(softmax_and_l2_normalize_match_definitions)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float logits[3] = {0, 1, 2};
    const double sum = 1 + exp(1.0) + exp(2.0);
    const float pair[4] = {3, 4, 0, -2};

    assert_values(ctx, gsx_softmax(ctx, vector_of(ctx, logits, 3), 0),
                  (const float[]){(float)(1 / sum), (float)(exp(1.0) / sum), (float)(exp(2.0) / sum)}, 3, 1e-6);
    assert_values(ctx, gsx_l2_normalize(ctx, from_values(ctx, pair, (const int64_t[]){2, 2}, 2), -1),
                  (const float[]){0.6f, 0.8f, 0, -1}, 4, 1e-7);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(topk_returns_largest_first_sorted)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float values[5] = {3, 1, 4, 1.5f, 5};
    gsx_tensor *t = vector_of(ctx, values, 5);
    gsx_tensor *top = NULL, *index = NULL;
    int64_t got[3];

    ck_assert_int_eq(gsx_topk(ctx, t, 3, &top, &index), GSX_OK);
    assert_values(ctx, top, (const float[]){5, 4, 3}, 3, 0);
    ck_assert_int_eq(gsx_dtype(index), GSX_I64);
    ck_assert_int_eq(gsx_read_i64(ctx, index, got, 3), GSX_OK);
    ck_assert_int_eq(got[0], 4);
    ck_assert_int_eq(got[1], 2);
    ck_assert_int_eq(got[2], 0);

    /* Either output may be left out. */
    index = NULL;
    ck_assert_int_eq(gsx_topk(ctx, t, 1, NULL, &index), GSX_OK);
    ck_assert_int_eq(gsx_read_i64(ctx, index, got, 1), GSX_OK);
    ck_assert_int_eq(got[0], 4);

    ck_assert_int_eq(gsx_topk(ctx, t, 6, &top, NULL), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_topk: k is 6, expected 0 to 5");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(scatter_1d_places_values_in_zeros)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t index_values[2] = {3, 0};
    gsx_tensor *index = gsx_from_i64(ctx, index_values, (const int64_t[]){2}, 1);
    gsx_tensor *values = vector_of(ctx, (const float[]){7, 8}, 2);

    assert_values(ctx, gsx_scatter_1d(ctx, 5, index, values), (const float[]){8, 0, 0, 7, 0}, 5, 0);
    ck_assert_ptr_null(gsx_scatter_1d(ctx, 3, index, values));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_BACKEND);
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- neural-network operations, by hand ---------------------------------- */

START_TEST(conv2d_matches_hand_computed_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const float image[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float ones[4] = {1, 1, 1, 1};
    gsx_tensor *x = from_values(ctx, image, (const int64_t[]){1, 1, 3, 3}, 4);
    gsx_tensor *w = from_values(ctx, ones, (const int64_t[]){1, 1, 2, 2}, 4);
    gsx_tensor *b = vector_of(ctx, (const float[]){0.5f}, 1);

    /* Each output is the sum of a 2 x 2 window of the 3 x 3 image. */
    assert_values(ctx, gsx_conv2d(ctx, x, w, NULL, 1, 0), (const float[]){12, 16, 24, 28}, 4, 0);
    assert_values(ctx, gsx_conv2d(ctx, x, w, b, 1, 0), (const float[]){12.5f, 16.5f, 24.5f, 28.5f}, 4, 0);

    /* With one pixel of zero padding and stride 2 the windows cover
     * {1}, {2, 3}, {4, 7} and {5, 6, 8, 9}. */
    assert_values(ctx, gsx_conv2d(ctx, x, w, NULL, 2, 1), (const float[]){1, 5, 11, 28}, 4, 0);
    assert_shape(gsx_conv2d(ctx, x, w, NULL, 2, 1), (const int64_t[]){1, 1, 2, 2}, 4);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(channels_last_conv2d_gives_same_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    float image[2 * 3 * 3];
    float weight[2 * 2 * 1 * 1] = {1, 2, -1, 0.5f};
    gsx_tensor *x, *w;

    for (int i = 0; i < 18; i++)
        image[i] = (float)i;
    x = gsx_channels_last(ctx, from_values(ctx, image, (const int64_t[]){1, 2, 3, 3}, 4));
    w = from_values(ctx, weight, (const int64_t[]){2, 2, 1, 1}, 4);

    /* out[0] = x[0] + 2 x[1]; out[1] = -x[0] + 0.5 x[1]; x[1] = x[0] + 9. */
    {
        float expected[18];

        for (int i = 0; i < 9; i++) {
            expected[i] = (float)i + 2 * (float)(i + 9);
            expected[9 + i] = -(float)i + 0.5f * (float)(i + 9);
        }
        assert_values(ctx, gsx_conv2d(ctx, x, w, NULL, 1, 0), expected, 18, 1e-5);
    }
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(linear_and_matmul_match_hand_computed_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = from_values(ctx, (const float[]){1, 2}, (const int64_t[]){1, 2}, 2);
    gsx_tensor *w = from_values(ctx, (const float[]){1, 1, 2, -1}, (const int64_t[]){2, 2}, 2);
    gsx_tensor *b = vector_of(ctx, (const float[]){0.5f, 0}, 2);

    assert_values(ctx, gsx_linear(ctx, x, w, b), (const float[]){3.5f, 0}, 2, 0);
    assert_values(ctx, gsx_linear(ctx, x, w, NULL), (const float[]){3, 0}, 2, 0);
    assert_values(ctx, gsx_matmul(ctx, x, w), (const float[]){5, -1}, 2, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(batch_norm_uses_running_statistics)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = from_values(ctx, (const float[]){5, 1, 3, 3}, (const int64_t[]){1, 2, 2, 1}, 4);
    gsx_tensor *weight = vector_of(ctx, (const float[]){2, 1}, 2);
    gsx_tensor *bias = vector_of(ctx, (const float[]){1, -1}, 2);
    gsx_tensor *mean = vector_of(ctx, (const float[]){1, 3}, 2);
    gsx_tensor *var = vector_of(ctx, (const float[]){4, 1}, 2);

    /* (x - mean) / sqrt(var) * weight + bias, per channel. */
    assert_values(ctx, gsx_batch_norm(ctx, x, weight, bias, mean, var, 0), (const float[]){5, 1, -1, -1}, 4, 1e-6);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(layer_norm_normalizes_last_dimension)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = from_values(ctx, (const float[]){1, 3, 10, 14}, (const int64_t[]){2, 2}, 2);
    gsx_tensor *weight = vector_of(ctx, (const float[]){2, 1}, 2);
    gsx_tensor *bias = vector_of(ctx, (const float[]){0, 0.5f}, 2);

    /* Each row normalises to (-1, 1) (population variance). */
    assert_values(ctx, gsx_layer_norm(ctx, x, weight, bias, 0), (const float[]){-2, 1.5f, -2, 1.5f}, 4, 1e-6);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(avg_pool2d_averages_blocks)
{
    gsx_ctx *ctx = gsx_ctx_new();
    float image[16];
    gsx_tensor *pooled;

    for (int i = 0; i < 16; i++)
        image[i] = (float)i;
    pooled = gsx_avg_pool2d(ctx, from_values(ctx, image, (const int64_t[]){1, 1, 4, 4}, 4), 2);
    assert_shape(pooled, (const int64_t[]){1, 1, 2, 2}, 4);
    assert_values(ctx, pooled, (const float[]){2.5f, 4.5f, 10.5f, 12.5f}, 4, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(attention_matches_hand_computed_softmax)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *q = from_values(ctx, (const float[]){2, 0}, (const int64_t[]){1, 2}, 2);
    gsx_tensor *k = from_values(ctx, (const float[]){1, 0, 0, 1}, (const int64_t[]){2, 2}, 2);
    gsx_tensor *v = from_values(ctx, (const float[]){1, 2, 3, 4}, (const int64_t[]){2, 2}, 2);
    gsx_tensor *mask = from_values(ctx, (const float[]){0, -INFINITY}, (const int64_t[]){1, 2}, 2);
    gsx_tensor *probs = NULL;
    /* Scores (2, 0) scaled by 0.5 give (1, 0). */
    const double p0 = exp(1.0) / (exp(1.0) + 1), p1 = 1 / (exp(1.0) + 1);

    assert_values(ctx, gsx_attention(ctx, q, k, v, NULL, 0.5, &probs),
                  (const float[]){(float)(p0 + 3 * p1), (float)(2 * p0 + 4 * p1)}, 2, 1e-6);
    assert_values(ctx, probs, (const float[]){(float)p0, (float)p1}, 2, 1e-6);

    /* The mask removes the second key. */
    assert_values(ctx, gsx_attention(ctx, q, k, v, mask, 0.5, NULL), (const float[]){1, 2}, 2, 1e-6);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(resize_bilinear_matches_hand_computed_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    /* f(y, x) = x + 2 y, which bilinear interpolation reproduces. */
    gsx_tensor *x = from_values(ctx, (const float[]){0, 1, 2, 3}, (const int64_t[]){1, 1, 2, 2}, 4);
    const float corner[3] = {0, 0.5f, 1};
    const float half_pixel[4] = {0, 0.25f, 0.75f, 1}; /* (i + 0.5) / 2 - 0.5, clamped */
    float expected[16];

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            expected[i * 3 + j] = corner[j] + 2 * corner[i];
    assert_values(ctx, gsx_resize_bilinear(ctx, x, 3, 3, 1), expected, 9, 1e-6);

    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            expected[i * 4 + j] = half_pixel[j] + 2 * half_pixel[i];
    assert_values(ctx, gsx_resize_bilinear(ctx, x, 4, 4, 0), expected, 16, 1e-6);
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- neural-network operations against torch ----------------------------- */

static char reference_dir[4096];
static int reference_ready;

/* Writes inputs and torch's results as raw float32 files. */
static const char *const REFERENCE_SCRIPT =
    "import sys, torch\n"
    "import torch.nn.functional as F\n"
    "d = sys.argv[1]\n"
    "g = torch.Generator().manual_seed(7)\n"
    "def r(*shape): return torch.randn(*shape, generator=g)\n"
    "def w(name, t): t.detach().contiguous().float().numpy().tofile(d + '/' + name + '.f32')\n"
    "x, wt, b = r(2, 3, 7, 7), r(4, 3, 3, 3), r(4)\n"
    "w('conv_x', x); w('conv_w', wt); w('conv_b', b)\n"
    "w('conv_y', F.conv2d(x, wt, b, stride=2, padding=1))\n"
    "x = r(1, 2, 3, 5); w('resize_x', x)\n"
    "w('resize_false', F.interpolate(x, size=(7, 4), mode='bilinear', align_corners=False))\n"
    "w('resize_true', F.interpolate(x, size=(7, 4), mode='bilinear', align_corners=True))\n"
    "q, k, v, m = r(2, 4, 5, 8), r(2, 4, 6, 8), r(2, 4, 6, 3), r(5, 6)\n"
    "for n, t in (('attn_q', q), ('attn_k', k), ('attn_v', v), ('attn_mask', m)): w(n, t)\n"
    "p = torch.softmax(q @ k.transpose(-2, -1) * 0.35 + m, -1)\n"
    "w('attn_out', p @ v); w('attn_probs', p)\n"
    "x, wt, b, mu, var = r(2, 3, 4, 4), r(3), r(3), r(3), r(3).abs() + 0.1\n"
    "for n, t in (('bn_x', x), ('bn_w', wt), ('bn_b', b), ('bn_mean', mu), ('bn_var', var)): w(n, t)\n"
    "w('bn_y', F.batch_norm(x, mu, var, wt, b, False, 0.0, 1e-5))\n"
    "x, wt, b = r(2, 5, 6), r(6), r(6)\n"
    "w('ln_x', x); w('ln_w', wt); w('ln_b', b)\n"
    "w('ln_y', F.layer_norm(x, (6,), wt, b, 1e-5))\n";

static void reference_setup(void)
{
    snprintf(reference_dir, sizeof reference_dir, "/tmp/check_shim_ref.XXXXXX");
    reference_ready = mkdtemp(reference_dir) != NULL && run_python(REFERENCE_SCRIPT, reference_dir) == 0;
}

static void reference_teardown(void)
{
    char command[4200];

    snprintf(command, sizeof command, "rm -rf '%s'", reference_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", reference_dir);
}

/* Loads reference file name as a tensor of the given shape. */
static gsx_tensor *reference(gsx_ctx *ctx, const char *name, const int64_t *shape, int ndim)
{
    char path[4200];
    size_t size = 0;
    unsigned char *data;
    int64_t n = 1;
    gsx_tensor *t;

    snprintf(path, sizeof path, "%s/%s.f32", reference_dir, name);
    data = tu_read_file(path, &size);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    ck_assert_uint_eq(size, (size_t)n * sizeof(float));
    t = from_values(ctx, (const float *)data, shape, ndim);
    free(data);
    return t;
}

/* Compares actual with the reference file name element by element. */
static void assert_reference(gsx_ctx *ctx, const gsx_tensor *actual, const char *name, const int64_t *shape, int ndim)
{
    gsx_tensor *expected = reference(ctx, name, shape, ndim);
    double max = 0;

    ck_assert_msg(actual != NULL, "%s: operation failed: %s", name, gsx_message(ctx));
    assert_shape(actual, shape, ndim);
    ck_assert_int_eq(gsx_min_max(ctx, gsx_sub(ctx, actual, expected), NULL, &max), GSX_OK);
    {
        double min = 0;

        ck_assert_int_eq(gsx_min_max(ctx, gsx_sub(ctx, actual, expected), &min, NULL), GSX_OK);
        ck_assert_msg(max <= TOLERANCE && -min <= TOLERANCE, "%s: differs from torch by up to %g", name,
                      fmax(max, -min));
    }
}

#define REQUIRE_REFERENCE()                                                      \
    do {                                                                         \
        if (!reference_ready)                                                    \
            TU_SKIP("Python with torch could not write the reference results"); \
    } while (0)

START_TEST(conv2d_matches_torch_reference)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x, *w, *b;

    REQUIRE_REFERENCE();
    x = reference(ctx, "conv_x", (const int64_t[]){2, 3, 7, 7}, 4);
    w = reference(ctx, "conv_w", (const int64_t[]){4, 3, 3, 3}, 4);
    b = reference(ctx, "conv_b", (const int64_t[]){4}, 1);
    assert_reference(ctx, gsx_conv2d(ctx, x, w, b, 2, 1), "conv_y", (const int64_t[]){2, 4, 4, 4}, 4);
    assert_reference(ctx, gsx_conv2d(ctx, gsx_channels_last(ctx, x), gsx_channels_last(ctx, w), b, 2, 1), "conv_y",
                     (const int64_t[]){2, 4, 4, 4}, 4);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(resize_bilinear_matches_torch_reference)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x;

    REQUIRE_REFERENCE();
    x = reference(ctx, "resize_x", (const int64_t[]){1, 2, 3, 5}, 4);
    assert_reference(ctx, gsx_resize_bilinear(ctx, x, 7, 4, 0), "resize_false", (const int64_t[]){1, 2, 7, 4}, 4);
    assert_reference(ctx, gsx_resize_bilinear(ctx, x, 7, 4, 1), "resize_true", (const int64_t[]){1, 2, 7, 4}, 4);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(attention_matches_torch_reference)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *q, *k, *v, *mask, *probs = NULL, *out;

    REQUIRE_REFERENCE();
    q = reference(ctx, "attn_q", (const int64_t[]){2, 4, 5, 8}, 4);
    k = reference(ctx, "attn_k", (const int64_t[]){2, 4, 6, 8}, 4);
    v = reference(ctx, "attn_v", (const int64_t[]){2, 4, 6, 3}, 4);
    mask = reference(ctx, "attn_mask", (const int64_t[]){5, 6}, 2);
    out = gsx_attention(ctx, q, k, v, mask, 0.35, &probs);
    assert_reference(ctx, out, "attn_out", (const int64_t[]){2, 4, 5, 3}, 4);
    assert_reference(ctx, probs, "attn_probs", (const int64_t[]){2, 4, 5, 6}, 4);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(norms_match_torch_reference)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const int64_t channels[1] = {3};
    const int64_t width[1] = {6};

    REQUIRE_REFERENCE();
    assert_reference(ctx,
                     gsx_batch_norm(ctx, reference(ctx, "bn_x", (const int64_t[]){2, 3, 4, 4}, 4),
                                    reference(ctx, "bn_w", channels, 1), reference(ctx, "bn_b", channels, 1),
                                    reference(ctx, "bn_mean", channels, 1), reference(ctx, "bn_var", channels, 1),
                                    1e-5),
                     "bn_y", (const int64_t[]){2, 3, 4, 4}, 4);
    assert_reference(ctx,
                     gsx_layer_norm(ctx, reference(ctx, "ln_x", (const int64_t[]){2, 5, 6}, 3),
                                    reference(ctx, "ln_w", width, 1), reference(ctx, "ln_b", width, 1), 1e-5),
                     "ln_y", (const int64_t[]){2, 5, 6}, 3);
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- autograd -------------------------------------------------------------- */

START_TEST(backward_gives_gradient_of_leaf)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = gsx_leaf(ctx, vector_of(ctx, (const float[]){1, 2, 3}, 3));
    gsx_tensor *y = gsx_sum(ctx, gsx_mul(ctx, x, x), NULL, 0, 0);

    /* d/dx sum(x^2) = 2 x */
    ck_assert_int_eq(gsx_backward(ctx, y), GSX_OK);
    assert_values(ctx, gsx_grad(ctx, x), (const float[]){2, 4, 6}, 3, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(retain_grad_keeps_intermediate_gradient)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = gsx_leaf(ctx, vector_of(ctx, (const float[]){1, -2}, 2));
    gsx_tensor *h = gsx_mul_scalar(ctx, x, 3);
    gsx_tensor *y;

    ck_assert_int_eq(gsx_retain_grad(ctx, h), GSX_OK);
    y = gsx_sum(ctx, gsx_mul(ctx, h, h), NULL, 0, 0);
    ck_assert_int_eq(gsx_backward(ctx, y), GSX_OK);

    /* y = sum(h^2) with h = 3 x: dy/dh = 2 h = 6 x, dy/dx = 18 x. */
    assert_values(ctx, gsx_grad(ctx, h), (const float[]){6, -12}, 2, 0);
    assert_values(ctx, gsx_grad(ctx, x), (const float[]){18, -36}, 2, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(attention_probs_carry_gradient_to_query)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *q = gsx_leaf(ctx, from_values(ctx, (const float[]){2, 0}, (const int64_t[]){1, 2}, 2));
    gsx_tensor *k = from_values(ctx, (const float[]){1, 0, 0, 1}, (const int64_t[]){2, 2}, 2);
    gsx_tensor *v = from_values(ctx, (const float[]){1, 2, 3, 4}, (const int64_t[]){2, 2}, 2);
    gsx_tensor *probs = NULL;
    /* With s = q k^T / 2, p = softmax(s) and loss = p_0:
     * dloss/ds = (p0 (1 - p0), -p0 p1) and dloss/dq = dloss/ds k / 2. */
    const double p0 = exp(1.0) / (exp(1.0) + 1), p1 = 1 - p0;

    ck_assert_ptr_nonnull(gsx_attention(ctx, q, k, v, NULL, 0.5, &probs));
    ck_assert_int_eq(gsx_backward(ctx, gsx_select(ctx, gsx_select(ctx, probs, 0, 0), 0, 0)), GSX_OK);
    assert_values(ctx, gsx_grad(ctx, q), (const float[]){(float)(p0 * p1 / 2), (float)(-p0 * p1 / 2)}, 2, 1e-6);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(grad_without_backward_fails)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = gsx_leaf(ctx, vector_of(ctx, (const float[]){1}, 1));

    ck_assert_ptr_null(gsx_grad(ctx, x));
    ck_assert_int_eq(gsx_status(ctx), GSX_ERR_ARGUMENT);
    ck_assert_msg(strncmp(gsx_message(ctx), "gsx_grad: tensor has no gradient", 32) == 0, "message is '%s'",
                  gsx_message(ctx));
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(operations_without_grad_inputs_record_no_history)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = from_values(ctx, (const float[]){1, 2, 3, 4}, (const int64_t[]){1, 1, 2, 2}, 4);
    gsx_tensor *y = gsx_sum(ctx, gsx_conv2d(ctx, x, x, NULL, 1, 0), NULL, 0, 0);

    ck_assert_int_eq(gsx_retain_grad(ctx, y), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_retain_grad: tensor does not require a gradient");
    gsx_clear_error(ctx);
    ck_assert_int_eq(gsx_backward(ctx, y), GSX_ERR_ARGUMENT);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(backward_rejects_non_scalar_root)
{
    gsx_ctx *ctx = gsx_ctx_new();
    gsx_tensor *x = gsx_leaf(ctx, vector_of(ctx, (const float[]){1, 2}, 2));

    ck_assert_int_eq(gsx_backward(ctx, gsx_mul(ctx, x, x)), GSX_ERR_ARGUMENT);
    ck_assert_str_eq(gsx_message(ctx), "gsx_backward: root has 2 elements, expected 1");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(leaf_and_detach_keep_values)
{
    gsx_ctx *ctx = gsx_ctx_new();
    const size_t mark = gsx_mark(ctx);
    gsx_tensor *source = vector_of(ctx, (const float[]){4, 5}, 2);
    gsx_tensor *leaf = gsx_leaf(ctx, source);
    gsx_tensor *detached;

    /* The leaf owns its storage, so it outlives the source tensor. */
    leaf = gsx_release_to(ctx, mark, leaf);
    assert_values(ctx, leaf, (const float[]){4, 5}, 2, 0);
    ck_assert_int_eq(gsx_retain_grad(ctx, leaf), GSX_OK);

    detached = gsx_detach(ctx, gsx_mul_scalar(ctx, leaf, 2));
    assert_values(ctx, detached, (const float[]){8, 10}, 2, 0);
    ck_assert_int_eq(gsx_retain_grad(ctx, detached), GSX_ERR_ARGUMENT);
    gsx_ctx_free(ctx);
}
END_TEST

/* ---- archives ---------------------------------------------------------------- */

/* Writes model.pt (TorchScript, through clip_archive.save_archive) and
 * dict.pt (torch.save) with the same three tensors into sys.argv[1]:
 * 96 bytes of float16, 20 bytes of float32 and 8 bytes of int64. */
static const char *const ARCHIVE_SCRIPT =
    "import sys, torch\n"
    "from clip_archive import save_archive\n"
    "d = sys.argv[1]\n"
    "sd = {\n"
    "    'visual.conv1.weight': (torch.arange(48, dtype=torch.float32).reshape(4, 3, 2, 2) / 8).half(),\n"
    "    'ln_final.bias': torch.arange(5, dtype=torch.float32) * 0.5,\n"
    "    'input_resolution': torch.tensor(224),\n"
    "}\n"
    "save_archive(sd, d + '/model.pt')\n"
    "torch.save(sd, d + '/dict.pt')\n"
    "torch.save({'w': torch.arange(6.0).reshape(2, 3).t(), 'p': torch.ones(2)}, d + '/strided.pt')\n"
    "torch.save(dict(torch.nn.Linear(3, 2).state_dict()), d + '/linear.pt')\n"
    "torch.save(torch.nn.Linear(3, 2).state_dict(), d + '/ordered.pt')\n"
    "torch.save({'w': torch.ones(2), 'epoch': 3}, d + '/mixed.pt')\n"
    "torch.save({'p': torch.nn.Parameter(torch.ones(2))}, d + '/parameter.pt')\n"
    "torch.save(torch.ones(2), d + '/tensor.pt')\n"
    "torch.save(sd, d + '/legacy.pt', _use_new_zipfile_serialization=False)\n";

#define ARCHIVE_TENSORS 3
#define ARCHIVE_BYTES (96 + 20 + 8)

struct loaded {
    gsx_ctx *ctx;
    int count;
    int stop_after; /* 0: never stop */
    int seen_conv, seen_bias, seen_resolution;
};

static void check_conv_weight(struct loaded *loaded, gsx_tensor *t)
{
    float values[48];

    ck_assert_int_eq(gsx_dtype(t), GSX_F16);
    assert_shape(t, (const int64_t[]){4, 3, 2, 2}, 4);
    ck_assert_int_eq(gsx_read_f32(loaded->ctx, t, values, 48), GSX_OK);
    for (int i = 0; i < 48; i++)
        ck_assert_float_eq(values[i], (float)i / 8);
    loaded->seen_conv++;
}

static int on_tensor(void *user, const char *name, gsx_tensor *t)
{
    struct loaded *loaded = user;

    ck_assert_ptr_nonnull(t);
    loaded->count++;
    if (strcmp(name, "visual.conv1.weight") == 0) {
        check_conv_weight(loaded, t);
    } else if (strcmp(name, "ln_final.bias") == 0) {
        ck_assert_int_eq(gsx_dtype(t), GSX_F32);
        assert_values(loaded->ctx, t, (const float[]){0, 0.5f, 1, 1.5f, 2}, 5, 0);
        loaded->seen_bias++;
    } else if (strcmp(name, "input_resolution") == 0) {
        int64_t value = 0;

        ck_assert_int_eq(gsx_dtype(t), GSX_I64);
        ck_assert_int_eq(gsx_ndim(t), 0);
        ck_assert_int_eq(gsx_read_i64(loaded->ctx, t, &value, 1), GSX_OK);
        ck_assert_int_eq(value, 224);
        loaded->seen_resolution++;
    } else {
        ck_abort_msg("unexpected tensor name '%s'", name);
    }
    /* Loaded tensors never take part in autograd. */
    ck_assert_int_eq(gsx_retain_grad(loaded->ctx, t), GSX_ERR_ARGUMENT);
    gsx_clear_error(loaded->ctx);
    return loaded->stop_after != 0 && loaded->count >= loaded->stop_after;
}

static char archive_dir[4096];
static int archives_ready;

/* Writes the archives of ARCHIVE_SCRIPT once for the whole test case. */
static void archive_setup(void)
{
    snprintf(archive_dir, sizeof archive_dir, "/tmp/check_shim_archives.XXXXXX");
    archives_ready = mkdtemp(archive_dir) != NULL && run_python(ARCHIVE_SCRIPT, archive_dir) == 0;
}

static void archive_teardown(void)
{
    char command[4200];

    snprintf(command, sizeof command, "rm -rf '%s'", archive_dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", archive_dir);
}

#define REQUIRE_ARCHIVES()                                                     \
    do {                                                                       \
        if (!archives_ready)                                                   \
            TU_SKIP("Python with torch could not write the test archives");   \
    } while (0)

static const char *archive(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", archive_dir, name);
    return buf;
}

static void assert_loads_all(const char *name)
{
    char path[4200];
    struct loaded loaded = {gsx_ctx_new(), 0, 0, 0, 0, 0};
    int rc = gsx_load_archive(loaded.ctx, archive(name, path, sizeof path), 0, 0, on_tensor, &loaded);

    ck_assert_msg(rc == GSX_OK, "%s: %s", name, gsx_message(loaded.ctx));
    ck_assert_int_eq(loaded.count, ARCHIVE_TENSORS);
    ck_assert_int_eq(loaded.seen_conv, 1);
    ck_assert_int_eq(loaded.seen_bias, 1);
    ck_assert_int_eq(loaded.seen_resolution, 1);
    ck_assert_uint_eq(gsx_mark(loaded.ctx), ARCHIVE_TENSORS);
    gsx_ctx_free(loaded.ctx);
}

START_TEST(load_archive_reads_torchscript_tensors)
{
    REQUIRE_ARCHIVES();
    assert_loads_all("model.pt");
}
END_TEST

START_TEST(load_archive_reads_torch_save_dict)
{
    REQUIRE_ARCHIVES();
    assert_loads_all("dict.pt");
}
END_TEST

struct named_values {
    gsx_ctx *ctx;
    int count;
};

static int on_strided(void *user, const char *name, gsx_tensor *t)
{
    struct named_values *seen = user;

    seen->count++;
    if (strcmp(name, "w") == 0) {
        /* arange(6).reshape(2, 3).t() */
        assert_shape(t, (const int64_t[]){3, 2}, 2);
        assert_values(seen->ctx, t, (const float[]){0, 3, 1, 4, 2, 5}, 6, 0);
    } else {
        ck_assert_str_eq(name, "p");
        assert_values(seen->ctx, t, (const float[]){1, 1}, 2, 0);
    }
    ck_assert_int_eq(gsx_retain_grad(seen->ctx, t), GSX_ERR_ARGUMENT);
    gsx_clear_error(seen->ctx);
    return 0;
}

static int on_linear(void *user, const char *name, gsx_tensor *t)
{
    struct named_values *seen = user;

    seen->count++;
    if (strcmp(name, "weight") == 0)
        assert_shape(t, (const int64_t[]){2, 3}, 2);
    else
        ck_assert_str_eq(name, "bias");
    return 0;
}

START_TEST(load_archive_reads_views_and_plain_dicts)
{
    char path[4200];
    struct named_values seen = {gsx_ctx_new(), 0};

    REQUIRE_ARCHIVES();
    ck_assert_msg(gsx_load_archive(seen.ctx, archive("strided.pt", path, sizeof path), 0, 0, on_strided, &seen) ==
                      GSX_OK,
                  "%s", gsx_message(seen.ctx));
    ck_assert_int_eq(seen.count, 2);

    seen.count = 0;
    ck_assert_msg(gsx_load_archive(seen.ctx, archive("linear.pt", path, sizeof path), 0, 0, on_linear, &seen) ==
                      GSX_OK,
                  "%s", gsx_message(seen.ctx));
    ck_assert_int_eq(seen.count, 2);
    gsx_ctx_free(seen.ctx);
}
END_TEST

START_TEST(load_archive_rejects_missing_file)
{
    gsx_ctx *ctx = gsx_ctx_new();
    int calls = 0;

    ck_assert_int_eq(gsx_load_archive(ctx, "/nonexistent/model.pt", 0, 0, count_calls, &calls), GSX_ERR_IO);
    ck_assert_str_eq(gsx_message(ctx), "gsx_load_archive: /nonexistent/model.pt: No such file or directory");
    ck_assert_int_eq(calls, 0);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(load_archive_rejects_directory)
{
    gsx_ctx *ctx = gsx_ctx_new();
    int calls = 0;

    ck_assert_int_eq(gsx_load_archive(ctx, "/tmp", 0, 0, count_calls, &calls), GSX_ERR_IO);
    ck_assert_str_eq(gsx_message(ctx), "gsx_load_archive: /tmp: is a directory");
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(load_archive_rejects_text_file)
{
    gsx_ctx *ctx = gsx_ctx_new();
    char dir[64], path[128];
    const char text[] = "visual.conv1.weight 1 2 3\n";
    int calls = 0;

    make_temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.pt", dir);
    write_file(path, text, sizeof text - 1);
    ck_assert_int_eq(gsx_load_archive(ctx, path, 0, 0, count_calls, &calls), GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "not a zip file, expected a TorchScript archive or a torch.save zip file"),
                  "message is '%s'", gsx_message(ctx));
    ck_assert_int_eq(calls, 0);

    gsx_clear_error(ctx);
    write_file(path, "", 0);
    ck_assert_int_eq(gsx_load_archive(ctx, path, 0, 0, count_calls, &calls), GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "file is empty"), "message is '%s'", gsx_message(ctx));
    gsx_ctx_free(ctx);
    remove_dir(dir);
}
END_TEST

START_TEST(load_archive_rejects_truncated_zip)
{
    gsx_ctx *ctx = gsx_ctx_new();
    char path[4200], cut[4300];
    size_t size = 0;
    unsigned char *data;
    int calls = 0;

    REQUIRE_ARCHIVES();
    data = tu_read_file(archive("model.pt", path, sizeof path), &size);
    ck_assert_ptr_nonnull(data);
    snprintf(cut, sizeof cut, "%s/cut.pt", archive_dir);

    /* Cut in the middle, and just before the end of the directory. */
    write_file(cut, data, size / 2);
    ck_assert_int_eq(gsx_load_archive(ctx, cut, 0, 0, count_calls, &calls), GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "damaged zip archive"), "message is '%s'", gsx_message(ctx));
    gsx_clear_error(ctx);
    write_file(cut, data, size - 10);
    ck_assert_int_eq(gsx_load_archive(ctx, cut, 0, 0, count_calls, &calls), GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "damaged zip archive"), "message is '%s'", gsx_message(ctx));
    ck_assert_int_eq(calls, 0);

    free(data);
    gsx_ctx_free(ctx);
}
END_TEST

START_TEST(load_archive_rejects_legacy_and_foreign_pickles)
{
    gsx_ctx *ctx = gsx_ctx_new();
    char path[4200];
    int calls = 0;

    REQUIRE_ARCHIVES();
    ck_assert_int_eq(gsx_load_archive(ctx, archive("legacy.pt", path, sizeof path), 0, 0, count_calls, &calls),
                     GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "legacy torch.save file"), "message is '%s'", gsx_message(ctx));

    gsx_clear_error(ctx);
    ck_assert_int_eq(gsx_load_archive(ctx, archive("mixed.pt", path, sizeof path), 0, 0, count_calls, &calls),
                     GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "entry 'epoch' is a Int, expected a tensor"), "message is '%s'",
                  gsx_message(ctx));

    gsx_clear_error(ctx);
    ck_assert_int_eq(gsx_load_archive(ctx, archive("tensor.pt", path, sizeof path), 0, 0, count_calls, &calls),
                     GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "contains a Tensor, expected a dict of tensors"), "message is '%s'",
                  gsx_message(ctx));

    /* libtorch 1.13's unpickler reads neither nn.Parameter objects... */
    gsx_clear_error(ctx);
    ck_assert_int_eq(gsx_load_archive(ctx, archive("parameter.pt", path, sizeof path), 0, 0, count_calls, &calls),
                     GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "nn.Parameter"), "message is '%s'", gsx_message(ctx));

    /* Nor OrderedDict, the type of model.state_dict(). */
    gsx_clear_error(ctx);
    ck_assert_int_eq(gsx_load_archive(ctx, archive("ordered.pt", path, sizeof path), 0, 0, count_calls, &calls),
                     GSX_ERR_FORMAT);
    ck_assert_msg(strstr(gsx_message(ctx), "save dict(model.state_dict()) instead"), "message is '%s'",
                  gsx_message(ctx));
    ck_assert_int_eq(calls, 0);
    gsx_ctx_free(ctx);
}
END_TEST

/* Checks the limits on one archive: one below the true value fails before
 * any callback, the true value passes. */
static void assert_limits(const char *name)
{
    char path[4200], expected[128];
    struct loaded loaded = {gsx_ctx_new(), 0, 0, 0, 0, 0};

    archive(name, path, sizeof path);
    ck_assert_int_eq(gsx_load_archive(loaded.ctx, path, ARCHIVE_TENSORS - 1, 0, on_tensor, &loaded), GSX_ERR_LIMIT);
    snprintf(expected, sizeof expected, "archive contains %d tensor storages, above the limit of %d (GSCAM_LOAD_MAX_TENSORS)",
             ARCHIVE_TENSORS, ARCHIVE_TENSORS - 1);
    ck_assert_msg(strstr(gsx_message(loaded.ctx), expected), "%s: message is '%s'", name, gsx_message(loaded.ctx));
    ck_assert_int_eq(loaded.count, 0);

    gsx_clear_error(loaded.ctx);
    ck_assert_int_eq(gsx_load_archive(loaded.ctx, path, 0, ARCHIVE_BYTES - 1, on_tensor, &loaded), GSX_ERR_LIMIT);
    snprintf(expected, sizeof expected, "archive contains %d bytes of tensor data, above the limit of %d bytes (GSCAM_LOAD_MAX_BYTES)",
             ARCHIVE_BYTES, ARCHIVE_BYTES - 1);
    ck_assert_msg(strstr(gsx_message(loaded.ctx), expected), "%s: message is '%s'", name, gsx_message(loaded.ctx));
    ck_assert_int_eq(loaded.count, 0);

    gsx_clear_error(loaded.ctx);
    ck_assert_msg(gsx_load_archive(loaded.ctx, path, ARCHIVE_TENSORS, ARCHIVE_BYTES, on_tensor, &loaded) == GSX_OK,
                  "%s: %s", name, gsx_message(loaded.ctx));
    ck_assert_int_eq(loaded.count, ARCHIVE_TENSORS);
    gsx_ctx_free(loaded.ctx);
}

START_TEST(load_archive_enforces_tensor_count_limit)
{
    REQUIRE_ARCHIVES();
    assert_limits("model.pt");
}
END_TEST

START_TEST(load_archive_enforces_limits_on_torch_save)
{
    REQUIRE_ARCHIVES();
    assert_limits("dict.pt");
}
END_TEST

static int record_and_stop(void *user, const char *name, gsx_tensor *t)
{
    (void)name;
    (void)t;
    gsx_fail(user, GSX_ERR_LIMIT, "model has too many layers");
    return 1;
}

START_TEST(load_archive_stops_when_callback_returns_nonzero)
{
    char path[4200];
    struct loaded loaded = {gsx_ctx_new(), 0, 1, 0, 0, 0};

    REQUIRE_ARCHIVES();
    archive("dict.pt", path, sizeof path);
    ck_assert_int_eq(gsx_load_archive(loaded.ctx, path, 0, 0, on_tensor, &loaded), GSX_ERR_ARGUMENT);
    ck_assert_int_eq(loaded.count, 1);
    ck_assert_msg(strstr(gsx_message(loaded.ctx), "loading stopped by the callback at tensor"), "message is '%s'",
                  gsx_message(loaded.ctx));

    /* A failure the callback recorded is kept. */
    gsx_clear_error(loaded.ctx);
    ck_assert_int_eq(gsx_load_archive(loaded.ctx, path, 0, 0, record_and_stop, loaded.ctx), GSX_ERR_LIMIT);
    ck_assert_str_eq(gsx_message(loaded.ctx), "model has too many layers");
    gsx_ctx_free(loaded.ctx);
}
END_TEST

/* ---- suite ------------------------------------------------------------------- */

static Suite *shim_suite(void)
{
    Suite *suite = suite_create("shim");
    TCase *context = tcase_create("context");
    TCase *ops = tcase_create("ops");
    TCase *parity = tcase_create("parity");
    TCase *autograd = tcase_create("autograd");
    TCase *archives = tcase_create("archives");

    tcase_add_test(context, ctx_new_starts_without_failure);
    tcase_add_test(context, fail_keeps_first_failure_only);
    tcase_add_test(context, clear_error_allows_work_again);
    tcase_add_test(context, failed_context_returns_null_without_work);
    tcase_add_test(context, null_input_records_argument_error);
    tcase_add_test(context, null_context_is_rejected_without_crash);
    tcase_add_test(context, backend_error_gives_one_line_message);
    tcase_add_test(context, invalid_parameters_record_argument_error);
    tcase_add_test(context, release_to_keeps_only_the_kept_tensor);
    tcase_add_test(context, release_to_frees_tensor_storage);
    tcase_add_test(context, set_threads_changes_thread_count);
    tcase_add_test(context, cpu_device_is_accepted);
    tcase_add_test(context, cuda_device_fails_with_clear_message);
    tcase_add_test(context, device_check_rejects_malformed_names);
    tcase_add_test(context, to_device_moves_to_cpu_and_rejects_unknown);
    tcase_add_test(context, from_f32_round_trips_values_and_shape);
    tcase_add_test(context, from_i64_round_trips_values);
    tcase_add_test(context, read_f32_rejects_wrong_count);
    tcase_add_test(context, zeros_has_shape_and_zero_values);
    tcase_add_test(context, all_finite_and_min_max_inspect_values);
    tcase_add_test(context, pool_keeps_freed_buffers_until_the_scope_closes);
    tcase_add_test(context, pool_leaves_small_and_outside_tensors_alone);
    tcase_add_test(context, pool_nested_scopes_empty_at_the_last_close);
    tcase_add_test(context, pool_tensors_outlive_their_scope);
    tcase_add_test(context, pool_scope_ends_despite_other_threads);
    tcase_add_test(context, pool_child_drops_other_threads_scopes);
    tcase_add_test(context, pool_frees_kept_buffers_when_memory_runs_out);
    tcase_add_test(context, failed_allocation_records_nomem);
    suite_add_tcase(suite, context);

    tcase_add_test(ops, shape_operations_move_values_as_torch_does);
    tcase_add_test(ops, clone_and_contiguous_copy_values);
    tcase_add_test(ops, elementwise_operations_broadcast);
    tcase_add_test(ops, activations_and_masks_match_definitions);
    tcase_add_test(ops, in_place_operations_change_their_input);
    tcase_add_test(ops, reductions_follow_dims_and_keepdim);
    tcase_add_test(ops, softmax_and_l2_normalize_match_definitions);
    tcase_add_test(ops, topk_returns_largest_first_sorted);
    tcase_add_test(ops, scatter_1d_places_values_in_zeros);
    tcase_add_test(ops, conv2d_matches_hand_computed_values);
    tcase_add_test(ops, channels_last_conv2d_gives_same_values);
    tcase_add_test(ops, linear_and_matmul_match_hand_computed_values);
    tcase_add_test(ops, batch_norm_uses_running_statistics);
    tcase_add_test(ops, layer_norm_normalizes_last_dimension);
    tcase_add_test(ops, avg_pool2d_averages_blocks);
    tcase_add_test(ops, attention_matches_hand_computed_softmax);
    tcase_add_test(ops, resize_bilinear_matches_hand_computed_values);
    suite_add_tcase(suite, ops);

    tcase_add_unchecked_fixture(parity, reference_setup, reference_teardown);
    tcase_add_test(parity, conv2d_matches_torch_reference);
    tcase_add_test(parity, resize_bilinear_matches_torch_reference);
    tcase_add_test(parity, attention_matches_torch_reference);
    tcase_add_test(parity, norms_match_torch_reference);
    tcase_set_timeout(parity, 60);
    suite_add_tcase(suite, parity);

    tcase_add_test(autograd, backward_gives_gradient_of_leaf);
    tcase_add_test(autograd, retain_grad_keeps_intermediate_gradient);
    tcase_add_test(autograd, attention_probs_carry_gradient_to_query);
    tcase_add_test(autograd, grad_without_backward_fails);
    tcase_add_test(autograd, operations_without_grad_inputs_record_no_history);
    tcase_add_test(autograd, backward_rejects_non_scalar_root);
    tcase_add_test(autograd, leaf_and_detach_keep_values);
    suite_add_tcase(suite, autograd);

    tcase_add_unchecked_fixture(archives, archive_setup, archive_teardown);
    tcase_add_test(archives, load_archive_reads_torchscript_tensors);
    tcase_add_test(archives, load_archive_reads_torch_save_dict);
    tcase_add_test(archives, load_archive_reads_views_and_plain_dicts);
    tcase_add_test(archives, load_archive_rejects_missing_file);
    tcase_add_test(archives, load_archive_rejects_directory);
    tcase_add_test(archives, load_archive_rejects_text_file);
    tcase_add_test(archives, load_archive_rejects_truncated_zip);
    tcase_add_test(archives, load_archive_rejects_legacy_and_foreign_pickles);
    tcase_add_test(archives, load_archive_enforces_tensor_count_limit);
    tcase_add_test(archives, load_archive_enforces_limits_on_torch_save);
    tcase_add_test(archives, load_archive_stops_when_callback_returns_nonzero);
    tcase_set_timeout(archives, 60);
    suite_add_tcase(suite, archives);
    return suite;
}

int main(void)
{
    return tu_run(shim_suite());
}
