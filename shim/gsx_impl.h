/*
 * gsx_impl.h - what the shim's C++ files share: the context and tensor
 * structs and the helpers that keep exceptions from crossing into C.
 *
 * Include <ATen/ATen.h> (or <torch/torch.h>) before this header.
 */
#ifndef GSX_IMPL_H
#define GSX_IMPL_H

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "gsx.h"

struct gsx_tensor {
    at::Tensor t;
};

/* Maximum length of a context's message, terminator included. Longer
 * messages are cut. */
constexpr size_t GSX_MESSAGE_CAPACITY = 1024;

struct gsx_ctx {
    /* Every tensor handle the context owns, in creation order. */
    std::vector<std::unique_ptr<gsx_tensor>> tensors;
    int code = GSX_OK;
    /* A fixed buffer, so recording a failure never allocates. */
    char message[GSX_MESSAGE_CAPACITY] = "";
};

namespace gsx {

/* Records code and "<fn>: <text>" unless the context has already failed.
 * Only the first line of text is kept. Never throws. */
void record(gsx_ctx *ctx, int code, const char *fn, const char *text) noexcept;

/* Records the exception being handled (call only inside a catch block).
 * Allocation failures map to GSX_ERR_NOMEM, std::invalid_argument (the
 * shim's own checks) to GSX_ERR_ARGUMENT, and c10::Error and anything else
 * to GSX_ERR_BACKEND. */
void record_current_exception(gsx_ctx *ctx, const char *fn) noexcept;

/* The warning handler every entry point installs, so libtorch's warnings
 * are dropped instead of printed to stderr. libtorch keeps one handler per
 * thread. */
c10::WarningHandler *silent_warnings() noexcept;

/* Returns true when ctx can do work: it is not NULL, has not failed, and
 * no input is NULL. Records GSX_ERR_ARGUMENT for a NULL input. */
bool ready(gsx_ctx *ctx, const char *fn, std::initializer_list<const gsx_tensor *> inputs) noexcept;

/* Moves t into a new handle owned by ctx. May throw std::bad_alloc. */
gsx_tensor *adopt(gsx_ctx *ctx, at::Tensor t);

/* Runs body, which returns an at::Tensor, when ctx is ready for the inputs,
 * and returns the result as a handle owned by ctx, or NULL after recording
 * the failure. */
template <typename Body>
gsx_tensor *run(gsx_ctx *ctx, const char *fn, std::initializer_list<const gsx_tensor *> inputs,
                Body &&body) noexcept
{
    if (!ready(ctx, fn, inputs))
        return nullptr;
    c10::Warning::WarningHandlerGuard quiet(silent_warnings());
    try {
        return adopt(ctx, body());
    } catch (...) {
        record_current_exception(ctx, fn);
        return nullptr;
    }
}

/* Runs body, which returns nothing, the same way. Returns GSX_OK or the
 * context's failure code. */
template <typename Body>
int run_status(gsx_ctx *ctx, const char *fn, std::initializer_list<const gsx_tensor *> inputs,
               Body &&body) noexcept
{
    if (!ready(ctx, fn, inputs))
        return ctx ? ctx->code : GSX_ERR_ARGUMENT;
    c10::Warning::WarningHandlerGuard quiet(silent_warnings());
    try {
        body();
        return GSX_OK;
    } catch (...) {
        record_current_exception(ctx, fn);
        return ctx->code;
    }
}

/* Parses "cpu", "cuda" or "cuda:N" and checks that the device is usable.
 * Returns GSX_OK and sets *device, or GSX_ERR_DEVICE with a message in msg. */
int parse_device(const char *text, c10::Device *device, char *msg, size_t msg_size) noexcept;

/* Copies a C array of dimensions into a vector, rejecting ndim < 0. */
std::vector<int64_t> dims_of(const int64_t *dims, int ndim);

} // namespace gsx

#endif
