/*
 * gsx_ops.cpp - tensor operations: dtype, device and layout, shape,
 * element-wise, reductions, and the neural-network operations.
 *
 * Each operation records autograd history only when an input requires a
 * gradient (libtorch's own rule); loaded weights never do.
 */
#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "gsx_impl.h"

namespace {

using gsx::run;

void require_dim(const at::Tensor &t, int64_t expected, const char *what)
{
    if (t.dim() != expected)
        throw std::invalid_argument(std::string(what) + " has " + std::to_string(t.dim()) +
                                    " dimensions, expected " + std::to_string(expected));
}

void require_at_least(int64_t value, int64_t minimum, const char *what)
{
    if (value < minimum)
        throw std::invalid_argument(std::string(what) + " is " + std::to_string(value) +
                                    ", expected >= " + std::to_string(minimum));
}

c10::optional<at::Tensor> optional_of(const gsx_tensor *t)
{
    if (!t)
        return c10::nullopt;
    return t->t;
}

} // namespace

extern "C" {

/* ---- dtype, device, layout ----------------------------------------------- */

gsx_tensor *gsx_to_f32(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_to_f32", {t}, [&] { return t->t.to(at::kFloat); });
}

gsx_tensor *gsx_to_device(gsx_ctx *ctx, const gsx_tensor *t, const char *device)
{
    if (!gsx::ready(ctx, "gsx_to_device", {t}))
        return nullptr;

    char message[256];
    c10::Device target(c10::kCPU);
    if (gsx::parse_device(device, &target, message, sizeof message) != GSX_OK) {
        gsx::record(ctx, GSX_ERR_DEVICE, "gsx_to_device", message);
        return nullptr;
    }
    return run(ctx, "gsx_to_device", {t}, [&] { return t->t.to(target); });
}

gsx_tensor *gsx_contiguous(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_contiguous", {t}, [&] { return t->t.contiguous(); });
}

gsx_tensor *gsx_channels_last(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_channels_last", {t}, [&] {
        require_dim(t->t, 4, "tensor");
        return t->t.contiguous(at::MemoryFormat::ChannelsLast);
    });
}

gsx_tensor *gsx_clone(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_clone", {t}, [&] { return t->t.clone(); });
}

/* ---- shape --------------------------------------------------------------- */

gsx_tensor *gsx_reshape(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *shape, int ndim)
{
    return run(ctx, "gsx_reshape", {t}, [&] { return t->t.reshape(gsx::dims_of(shape, ndim)); });
}

gsx_tensor *gsx_permute(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndim)
{
    return run(ctx, "gsx_permute", {t}, [&] { return t->t.permute(gsx::dims_of(dims, ndim)); });
}

gsx_tensor *gsx_transpose(gsx_ctx *ctx, const gsx_tensor *t, int d0, int d1)
{
    return run(ctx, "gsx_transpose", {t}, [&] { return t->t.transpose(d0, d1); });
}

gsx_tensor *gsx_slice(gsx_ctx *ctx, const gsx_tensor *t, int dim, int64_t start, int64_t end)
{
    return run(ctx, "gsx_slice", {t}, [&] { return t->t.slice(dim, start, end); });
}

gsx_tensor *gsx_select(gsx_ctx *ctx, const gsx_tensor *t, int dim, int64_t index)
{
    return run(ctx, "gsx_select", {t}, [&] { return t->t.select(dim, index); });
}

gsx_tensor *gsx_index_select(gsx_ctx *ctx, const gsx_tensor *t, int dim, const gsx_tensor *index)
{
    return run(ctx, "gsx_index_select", {t, index}, [&] { return t->t.index_select(dim, index->t); });
}

gsx_tensor *gsx_cat(gsx_ctx *ctx, gsx_tensor *const *ts, int n, int dim)
{
    if (!gsx::ready(ctx, "gsx_cat", {}))
        return nullptr;
    if (!ts || n < 1) {
        gsx::record(ctx, GSX_ERR_ARGUMENT, "gsx_cat", "no input tensors");
        return nullptr;
    }
    for (int i = 0; i < n; i++) {
        if (!ts[i]) {
            gsx::record(ctx, GSX_ERR_ARGUMENT, "gsx_cat", "NULL input");
            return nullptr;
        }
    }

    return run(ctx, "gsx_cat", {}, [&] {
        std::vector<at::Tensor> parts;
        parts.reserve(static_cast<size_t>(n));
        for (int i = 0; i < n; i++)
            parts.push_back(ts[i]->t);
        return at::cat(parts, dim);
    });
}

gsx_tensor *gsx_unsqueeze(gsx_ctx *ctx, const gsx_tensor *t, int dim)
{
    return run(ctx, "gsx_unsqueeze", {t}, [&] { return t->t.unsqueeze(dim); });
}

gsx_tensor *gsx_repeat(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *reps, int ndim)
{
    return run(ctx, "gsx_repeat", {t}, [&] { return t->t.repeat(gsx::dims_of(reps, ndim)); });
}

/* ---- element-wise (broadcasting) ----------------------------------------- */

gsx_tensor *gsx_add(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b)
{
    return run(ctx, "gsx_add", {a, b}, [&] { return at::add(a->t, b->t); });
}

gsx_tensor *gsx_sub(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b)
{
    return run(ctx, "gsx_sub", {a, b}, [&] { return at::sub(a->t, b->t); });
}

gsx_tensor *gsx_mul(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b)
{
    return run(ctx, "gsx_mul", {a, b}, [&] { return at::mul(a->t, b->t); });
}

gsx_tensor *gsx_div(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b)
{
    return run(ctx, "gsx_div", {a, b}, [&] { return at::div(a->t, b->t); });
}

gsx_tensor *gsx_add_scalar(gsx_ctx *ctx, const gsx_tensor *t, double s)
{
    return run(ctx, "gsx_add_scalar", {t}, [&] { return at::add(t->t, s); });
}

gsx_tensor *gsx_mul_scalar(gsx_ctx *ctx, const gsx_tensor *t, double s)
{
    return run(ctx, "gsx_mul_scalar", {t}, [&] { return at::mul(t->t, s); });
}

gsx_tensor *gsx_pow_scalar(gsx_ctx *ctx, const gsx_tensor *t, double p)
{
    return run(ctx, "gsx_pow_scalar", {t}, [&] { return at::pow(t->t, p); });
}

gsx_tensor *gsx_exp(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_exp", {t}, [&] { return at::exp(t->t); });
}

gsx_tensor *gsx_rsqrt(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_rsqrt", {t}, [&] { return at::rsqrt(t->t); });
}

gsx_tensor *gsx_relu(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_relu", {t}, [&] { return at::relu(t->t); });
}

int gsx_relu_in_place(gsx_ctx *ctx, gsx_tensor *t)
{
    return gsx::run_status(ctx, "gsx_relu_in_place", {t}, [&] { t->t.relu_(); });
}

int gsx_add_in_place(gsx_ctx *ctx, gsx_tensor *a, const gsx_tensor *b)
{
    return gsx::run_status(ctx, "gsx_add_in_place", {a, b}, [&] { a->t.add_(b->t); });
}

gsx_tensor *gsx_sigmoid(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_sigmoid", {t}, [&] { return at::sigmoid(t->t); });
}

gsx_tensor *gsx_nan_to(gsx_ctx *ctx, const gsx_tensor *t, double value)
{
    // nan_to_num would also clamp infinities to the largest finite value,
    // so they are passed through explicitly.
    const double inf = std::numeric_limits<double>::infinity();
    return run(ctx, "gsx_nan_to", {t}, [&] { return at::nan_to_num(t->t, value, inf, -inf); });
}

gsx_tensor *gsx_eq_zero(gsx_ctx *ctx, const gsx_tensor *t)
{
    return run(ctx, "gsx_eq_zero", {t}, [&] { return at::eq(t->t, 0).to(at::kFloat); });
}

gsx_tensor *gsx_where(gsx_ctx *ctx, const gsx_tensor *cond, const gsx_tensor *a, const gsx_tensor *b)
{
    return run(ctx, "gsx_where", {cond, a, b}, [&] { return at::where(at::ne(cond->t, 0), a->t, b->t); });
}

/* ---- reductions ---------------------------------------------------------- */
/* An empty dimension list (ndims 0) reduces over every dimension. */

gsx_tensor *gsx_sum(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim)
{
    return run(ctx, "gsx_sum", {t}, [&] { return at::sum(t->t, gsx::dims_of(dims, ndims), keepdim != 0); });
}

gsx_tensor *gsx_mean(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim)
{
    return run(ctx, "gsx_mean", {t}, [&] { return at::mean(t->t, gsx::dims_of(dims, ndims), keepdim != 0); });
}

gsx_tensor *gsx_amax(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim)
{
    return run(ctx, "gsx_amax", {t}, [&] { return at::amax(t->t, gsx::dims_of(dims, ndims), keepdim != 0); });
}

gsx_tensor *gsx_amin(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim)
{
    return run(ctx, "gsx_amin", {t}, [&] { return at::amin(t->t, gsx::dims_of(dims, ndims), keepdim != 0); });
}

gsx_tensor *gsx_softmax(gsx_ctx *ctx, const gsx_tensor *t, int dim)
{
    return run(ctx, "gsx_softmax", {t}, [&] { return at::softmax(t->t, dim); });
}

/* Divides by the plain norm, as CLIP does, with no epsilon: a zero vector
 * gives NaN. */
gsx_tensor *gsx_l2_normalize(gsx_ctx *ctx, const gsx_tensor *t, int dim)
{
    return run(ctx, "gsx_l2_normalize", {t}, [&] {
        return at::div(t->t, at::linalg_vector_norm(t->t, 2, at::IntArrayRef{dim}, true));
    });
}

int gsx_topk(gsx_ctx *ctx, const gsx_tensor *t, int64_t k, gsx_tensor **values, gsx_tensor **indices)
{
    return gsx::run_status(ctx, "gsx_topk", {t}, [&] {
        require_dim(t->t, 1, "tensor");
        if (k < 0 || k > t->t.size(0))
            throw std::invalid_argument("k is " + std::to_string(k) + ", expected 0 to " +
                                        std::to_string(t->t.size(0)));

        auto top = at::topk(t->t, k, 0, /*largest=*/true, /*sorted=*/true);
        gsx_tensor *value_handle = values ? gsx::adopt(ctx, std::get<0>(top)) : nullptr;
        gsx_tensor *index_handle = indices ? gsx::adopt(ctx, std::get<1>(top)) : nullptr;
        if (values)
            *values = value_handle;
        if (indices)
            *indices = index_handle;
    });
}

gsx_tensor *gsx_scatter_1d(gsx_ctx *ctx, int64_t n, const gsx_tensor *indices, const gsx_tensor *values)
{
    return run(ctx, "gsx_scatter_1d", {indices, values}, [&] {
        require_at_least(n, 0, "n");
        require_dim(indices->t, 1, "indices");
        require_dim(values->t, 1, "values");
        at::Tensor out = at::zeros({n}, values->t.options());
        return out.index_put_({indices->t}, values->t);
    });
}

/* ---- linear algebra and neural-network operations ------------------------ */

gsx_tensor *gsx_matmul(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b)
{
    return run(ctx, "gsx_matmul", {a, b}, [&] { return at::matmul(a->t, b->t); });
}

gsx_tensor *gsx_linear(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *w, const gsx_tensor *b)
{
    return run(ctx, "gsx_linear", {x, w}, [&] { return at::linear(x->t, w->t, optional_of(b)); });
}

gsx_tensor *gsx_conv2d(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *w, const gsx_tensor *b,
                       int stride, int padding)
{
    return run(ctx, "gsx_conv2d", {x, w}, [&] {
        require_at_least(stride, 1, "stride");
        require_at_least(padding, 0, "padding");
        return at::conv2d(x->t, w->t, optional_of(b), {stride, stride}, {padding, padding});
    });
}

gsx_tensor *gsx_batch_norm(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *weight,
                           const gsx_tensor *bias, const gsx_tensor *mean, const gsx_tensor *var,
                           double eps)
{
    return run(ctx, "gsx_batch_norm", {x, weight, bias, mean, var}, [&] {
        return at::batch_norm(x->t, weight->t, bias->t, mean->t, var->t, /*training=*/false,
                              /*momentum=*/0.0, eps, /*cudnn_enabled=*/true);
    });
}

gsx_tensor *gsx_layer_norm(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *weight,
                           const gsx_tensor *bias, double eps)
{
    return run(ctx, "gsx_layer_norm", {x, weight, bias}, [&] {
        if (x->t.dim() < 1)
            throw std::invalid_argument("input has 0 dimensions, expected at least 1");
        return at::layer_norm(x->t, {x->t.size(-1)}, weight->t, bias->t, eps);
    });
}

gsx_tensor *gsx_avg_pool2d(gsx_ctx *ctx, const gsx_tensor *x, int k)
{
    return run(ctx, "gsx_avg_pool2d", {x}, [&] {
        require_at_least(k, 1, "kernel size");
        return at::avg_pool2d(x->t, {k, k}, {k, k});
    });
}

gsx_tensor *gsx_attention(gsx_ctx *ctx, const gsx_tensor *q, const gsx_tensor *k, const gsx_tensor *v,
                          const gsx_tensor *mask, double scale, gsx_tensor **probs)
{
    if (!gsx::ready(ctx, "gsx_attention", {q, k, v}))
        return nullptr;

    at::Tensor weights;
    gsx_tensor *out = run(ctx, "gsx_attention", {}, [&] {
        at::Tensor scores = at::matmul(q->t, k->t.transpose(-2, -1));

        // Without autograd the fresh scores can be updated in place, saving
        // a buffer the size of the attention matrix.
        const bool track = scores.requires_grad() || (mask && mask->t.requires_grad());
        if (track)
            scores = at::mul(scores, scale);
        else
            scores.mul_(scale);
        if (mask) {
            const bool fits = at::infer_size(scores.sizes(), mask->t.sizes()) == scores.sizes();
            if (track || !fits)
                scores = at::add(scores, mask->t);
            else
                scores.add_(mask->t);
        }

        weights = at::softmax(scores, -1);
        return at::matmul(weights, v->t);
    });
    if (!out || !probs)
        return out;

    gsx_tensor *probs_handle = run(ctx, "gsx_attention", {}, [&] { return weights; });
    if (!probs_handle)
        return nullptr;
    *probs = probs_handle;
    return out;
}

gsx_tensor *gsx_resize_bilinear(gsx_ctx *ctx, const gsx_tensor *x, int64_t height, int64_t width,
                                int align_corners)
{
    return run(ctx, "gsx_resize_bilinear", {x}, [&] {
        require_dim(x->t, 4, "input");
        require_at_least(height, 1, "height");
        require_at_least(width, 1, "width");
        return at::upsample_bilinear2d(x->t, {height, width}, align_corners != 0, c10::nullopt,
                                       c10::nullopt);
    });
}

} // extern "C"
