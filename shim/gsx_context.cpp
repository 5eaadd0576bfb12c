/*
 * gsx_context.cpp - contexts, failures, marks, process-wide settings, and
 * tensor creation and read-out.
 */
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "gsx_impl.h"

namespace {

class SilentWarningHandler final : public c10::WarningHandler {
public:
    void process(const c10::SourceLocation &, const std::string &, const bool) override {}
};

/* Copies the first non-empty line of text into out (capacity size). */
void copy_first_line(char *out, size_t size, const char *text)
{
    if (size == 0)
        return;
    if (!text)
        text = "";
    while (*text == '\n' || *text == '\r' || *text == ' ')
        text++;

    size_t n = std::strcspn(text, "\r\n");
    if (n >= size)
        n = size - 1;
    std::memcpy(out, text, n);
    out[n] = '\0';
}

/* Copies a C shape into a vector. Rejects a NULL array and negative sizes
 * here, so the message names the bad dimension. */
std::vector<int64_t> shape_of(const int64_t *shape, int ndim)
{
    if (ndim < 0)
        throw std::invalid_argument("ndim is " + std::to_string(ndim) + ", expected >= 0");
    if (ndim > 0 && !shape)
        throw std::invalid_argument("shape is NULL");

    std::vector<int64_t> out(shape, shape + ndim);
    for (int i = 0; i < ndim; i++) {
        if (out[i] < 0)
            throw std::invalid_argument("shape[" + std::to_string(i) + "] is " +
                                        std::to_string(out[i]) + ", expected >= 0");
    }
    return out;
}

/* Returns a new tensor of the given dtype holding a copy of data. */
at::Tensor tensor_from(const void *data, const int64_t *shape, int ndim, at::ScalarType type)
{
    at::Tensor t = at::empty(shape_of(shape, ndim), at::TensorOptions().dtype(type));
    if (t.numel() > 0) {
        if (!data)
            throw std::invalid_argument("data is NULL");
        std::memcpy(t.data_ptr(), data, t.nbytes());
    }
    return t;
}

/* Copies t, converted to type on the CPU, into out (n elements). */
void read_into(const at::Tensor &t, at::ScalarType type, void *out, size_t n)
{
    if (static_cast<uint64_t>(t.numel()) != n)
        throw std::invalid_argument("tensor has " + std::to_string(t.numel()) +
                                    " elements, output has room for " + std::to_string(n));
    if (n > 0 && !out)
        throw std::invalid_argument("output is NULL");

    const at::Tensor host = t.detach().to(at::kCPU, type).contiguous();
    if (n > 0)
        std::memcpy(out, host.data_ptr(), host.nbytes());
}

/* Writes a formatted line into msg when the caller gave room for one. */
template <typename... Args>
void put_message(char *msg, size_t msg_size, const char *format, Args... args)
{
    if (msg && msg_size > 0)
        std::snprintf(msg, msg_size, format, args...);
}

} // namespace

namespace gsx {

c10::WarningHandler *silent_warnings() noexcept
{
    static SilentWarningHandler handler;
    return &handler;
}

void record(gsx_ctx *ctx, int code, const char *fn, const char *text) noexcept
{
    if (!ctx || ctx->code != GSX_OK)
        return;

    ctx->code = code == GSX_OK ? GSX_ERR_ARGUMENT : code;
    int prefix = 0;
    if (fn)
        prefix = std::snprintf(ctx->message, sizeof ctx->message, "%s: ", fn);
    if (prefix < 0 || static_cast<size_t>(prefix) >= sizeof ctx->message)
        prefix = 0;
    copy_first_line(ctx->message + prefix, sizeof ctx->message - prefix, text);
}

void record_current_exception(gsx_ctx *ctx, const char *fn) noexcept
{
    try {
        throw;
    } catch (const c10::OutOfMemoryError &e) {
        record(ctx, GSX_ERR_NOMEM, fn, e.what_without_backtrace());
    } catch (const c10::Error &e) {
        // libtorch's CPU allocator reports exhaustion as a plain c10::Error.
        // libtorch 1.13 says "can't allocate memory" (read from libc10.so).
        // "not enough memory" is kept for other releases' wording.
        const char *text = e.what_without_backtrace();
        const bool nomem = std::strstr(text, "not enough memory") != nullptr ||
                           std::strstr(text, "can't allocate memory") != nullptr;
        record(ctx, nomem ? GSX_ERR_NOMEM : GSX_ERR_BACKEND, fn, text);
    } catch (const std::bad_alloc &) {
        record(ctx, GSX_ERR_NOMEM, fn, "out of memory");
    } catch (const std::invalid_argument &e) {
        record(ctx, GSX_ERR_ARGUMENT, fn, e.what());
    } catch (const std::exception &e) {
        record(ctx, GSX_ERR_BACKEND, fn, e.what());
    } catch (...) {
        record(ctx, GSX_ERR_BACKEND, fn, "unknown exception");
    }
}

bool ready(gsx_ctx *ctx, const char *fn, std::initializer_list<const gsx_tensor *> inputs) noexcept
{
    if (!ctx || ctx->code != GSX_OK)
        return false;
    for (const gsx_tensor *t : inputs) {
        if (!t) {
            record(ctx, GSX_ERR_ARGUMENT, fn, "NULL input");
            return false;
        }
    }
    return true;
}

gsx_tensor *adopt(gsx_ctx *ctx, at::Tensor t)
{
    // Reserve first so that push_back cannot throw after the handle exists.
    ctx->tensors.reserve(ctx->tensors.size() + 1);
    ctx->tensors.push_back(std::unique_ptr<gsx_tensor>(new gsx_tensor{std::move(t)}));
    return ctx->tensors.back().get();
}

std::vector<int64_t> dims_of(const int64_t *dims, int ndim)
{
    if (ndim < 0)
        throw std::invalid_argument("ndim is " + std::to_string(ndim) + ", expected >= 0");
    if (ndim > 0 && !dims)
        throw std::invalid_argument("dimension list is NULL");
    return std::vector<int64_t>(dims, dims + ndim);
}

int parse_device(const char *text, c10::Device *device, char *msg, size_t msg_size) noexcept
{
    put_message(msg, msg_size, "%s", "");
    if (!text) {
        put_message(msg, msg_size, "device is NULL (expected cpu, cuda or cuda:N)");
        return GSX_ERR_DEVICE;
    }
    if (std::strcmp(text, "cpu") == 0) {
        *device = c10::Device(c10::kCPU);
        return GSX_OK;
    }

    long index = -1;
    if (std::strncmp(text, "cuda", 4) != 0 || (text[4] != '\0' && text[4] != ':')) {
        put_message(msg, msg_size, "device %s: unknown device (expected cpu, cuda or cuda:N)", text);
        return GSX_ERR_DEVICE;
    }
    if (text[4] == ':') {
        const char *digits = text + 5;
        char *end = nullptr;
        errno = 0;
        index = std::strtol(digits, &end, 10);
        const bool all_digits = *digits != '\0' && std::strspn(digits, "0123456789") == std::strlen(digits);
        if (!all_digits || errno != 0 || index > 1023) {
            put_message(msg, msg_size, "device %s: invalid CUDA device index (expected cuda:N, N >= 0)", text);
            return GSX_ERR_DEVICE;
        }
    }

    try {
        if (!at::hasCUDA()) {
            put_message(msg, msg_size, "device %s: this libtorch build has no CUDA support", text);
            return GSX_ERR_DEVICE;
        }
        if (!torch::cuda::is_available()) {
            put_message(msg, msg_size, "device %s: no CUDA device is available", text);
            return GSX_ERR_DEVICE;
        }
        const long count = static_cast<long>(torch::cuda::device_count());
        if (index >= count) {
            put_message(msg, msg_size, "device %s: only %ld CUDA device(s) available", text, count);
            return GSX_ERR_DEVICE;
        }
        *device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
        return GSX_OK;
    } catch (...) {
        put_message(msg, msg_size, "device %s: CUDA query failed", text);
        return GSX_ERR_DEVICE;
    }
}

} // namespace gsx

using gsx::record;

extern "C" {

/* ---- contexts ------------------------------------------------------------ */

gsx_ctx *gsx_ctx_new(void)
{
    return new (std::nothrow) gsx_ctx();
}

void gsx_ctx_free(gsx_ctx *ctx)
{
    delete ctx;
}

/* A NULL context (gsx_ctx_new failed) reads as GSX_ERR_NOMEM. */
int gsx_status(const gsx_ctx *ctx)
{
    return ctx ? ctx->code : GSX_ERR_NOMEM;
}

const char *gsx_message(const gsx_ctx *ctx)
{
    return ctx ? ctx->message : "no context (gsx_ctx_new failed: out of memory)";
}

void gsx_clear_error(gsx_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->code = GSX_OK;
    ctx->message[0] = '\0';
}

void gsx_fail(gsx_ctx *ctx, int code, const char *msg)
{
    record(ctx, code, nullptr, msg);
}

size_t gsx_mark(const gsx_ctx *ctx)
{
    return ctx ? ctx->tensors.size() : 0;
}

/* NOTE: a released tensor's storage stays alive while keep still refers to
 * it, as a view of it or through the autograd graph that produced keep. */
gsx_tensor *gsx_release_to(gsx_ctx *ctx, size_t mark, gsx_tensor *keep)
{
    if (!ctx || mark >= ctx->tensors.size())
        return keep;

    auto &tensors = ctx->tensors;
    std::unique_ptr<gsx_tensor> kept;
    for (size_t i = mark; i < tensors.size(); i++) {
        if (tensors[i].get() == keep) {
            kept = std::move(tensors[i]);
            break;
        }
    }

    // Erasing never grows the vector, so the push_back below cannot reallocate.
    tensors.erase(tensors.begin() + static_cast<std::ptrdiff_t>(mark), tensors.end());
    if (kept)
        tensors.push_back(std::move(kept));
    return keep;
}

/* ---- process-wide settings ----------------------------------------------- */

/* Sizes OpenBLAS's own thread pool, which at::set_num_threads leaves alone
 * (libtorch 1.13 sizes only OpenMP and its pthreadpool). libtorch's matrix
 * products reach OpenBLAS when it provides libblas.so.3. The symbol is
 * looked up at run time because other BLAS builds lack it.
 * NOTE: not found when OpenBLAS was loaded with RTLD_LOCAL; then BLAS keeps
 * its default of one thread per core. */
static void set_blas_threads(int n)
{
    using setter = void (*)(int);
    static const setter set = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));

    if (set)
        set(n);
}

/* Sets only a count that changed. at::set_num_threads with the current
 * count still cost about 40 ms per call with 2 threads (measured), eight
 * times a whole GradCAM map of the shapes model. */
void gsx_set_threads(int n)
{
    static std::atomic<int> blas_threads{0};

    if (n < 1)
        return;
    c10::Warning::WarningHandlerGuard quiet(gsx::silent_warnings());
    try {
        if (at::get_num_threads() != n)
            at::set_num_threads(n);
    } catch (...) {
        // The header gives this function no way to report a failure.
    }
    if (blas_threads.exchange(n) != n)
        set_blas_threads(n);
}

int gsx_get_threads(void)
{
    try {
        return at::get_num_threads();
    } catch (...) {
        return 1;
    }
}

int gsx_device_check(const char *device, char *msg, size_t msg_size)
{
    c10::Device parsed(c10::kCPU);
    return gsx::parse_device(device, &parsed, msg, msg_size);
}

/* ---- creation and read-out ----------------------------------------------- */

gsx_tensor *gsx_from_f32(gsx_ctx *ctx, const float *data, const int64_t *shape, int ndim)
{
    return gsx::run(ctx, "gsx_from_f32", {}, [&] { return tensor_from(data, shape, ndim, at::kFloat); });
}

gsx_tensor *gsx_from_i64(gsx_ctx *ctx, const int64_t *data, const int64_t *shape, int ndim)
{
    return gsx::run(ctx, "gsx_from_i64", {}, [&] { return tensor_from(data, shape, ndim, at::kLong); });
}

gsx_tensor *gsx_zeros(gsx_ctx *ctx, const int64_t *shape, int ndim)
{
    return gsx::run(ctx, "gsx_zeros", {}, [&] { return at::zeros(shape_of(shape, ndim), at::kFloat); });
}

int gsx_read_f32(gsx_ctx *ctx, const gsx_tensor *t, float *out, size_t n)
{
    return gsx::run_status(ctx, "gsx_read_f32", {t}, [&] { read_into(t->t, at::kFloat, out, n); });
}

int gsx_read_i64(gsx_ctx *ctx, const gsx_tensor *t, int64_t *out, size_t n)
{
    return gsx::run_status(ctx, "gsx_read_i64", {t}, [&] { read_into(t->t, at::kLong, out, n); });
}

/* The four queries below take no context, so a NULL tensor returns -1. */
int gsx_ndim(const gsx_tensor *t)
{
    return t ? static_cast<int>(t->t.dim()) : -1;
}

int64_t gsx_size(const gsx_tensor *t, int d)
{
    if (!t)
        return -1;

    const int64_t ndim = t->t.dim();
    const int64_t index = d < 0 ? d + ndim : d;
    if (index < 0 || index >= ndim)
        return -1;
    return t->t.sizes()[static_cast<size_t>(index)];
}

int64_t gsx_numel(const gsx_tensor *t)
{
    return t ? t->t.numel() : -1;
}

int gsx_dtype(const gsx_tensor *t)
{
    if (!t)
        return -1;

    switch (t->t.scalar_type()) {
    case at::kFloat:
        return GSX_F32;
    case at::kHalf:
        return GSX_F16;
    case at::kBFloat16:
        return GSX_BF16;
    case at::kDouble:
        return GSX_F64;
    case at::kLong:
        return GSX_I64;
    case at::kInt:
        return GSX_I32;
    default:
        return GSX_OTHER;
    }
}

int gsx_all_finite(gsx_ctx *ctx, const gsx_tensor *t, int *finite)
{
    return gsx::run_status(ctx, "gsx_all_finite", {t}, [&] {
        if (!finite)
            throw std::invalid_argument("finite is NULL");
        *finite = at::isfinite(t->t.detach()).all().item<bool>() ? 1 : 0;
    });
}

int gsx_min_max(gsx_ctx *ctx, const gsx_tensor *t, double *min, double *max)
{
    return gsx::run_status(ctx, "gsx_min_max", {t}, [&] {
        at::Tensor values = t->t.detach();
        if (values.numel() == 0)
            throw std::invalid_argument("tensor is empty");

        // libtorch 1.13 has no CPU aminmax kernel for float16, and float32
        // represents every float16 and bfloat16 value exactly.
        if (values.scalar_type() == at::kHalf || values.scalar_type() == at::kBFloat16)
            values = values.to(at::kFloat);
        auto range = at::aminmax(values);
        if (min)
            *min = std::get<0>(range).item<double>();
        if (max)
            *max = std::get<1>(range).item<double>();
    });
}

} // extern "C"
