/*
 * gsx.h - the C face of the libtorch shim.
 *
 * A thin, generic layer of tensor handles and operations over libtorch. It knows
 * nothing about CLIP: the models are written in C over these functions. Every
 * entry point is extern "C" and catches every exception, so no C++ exception
 * ever reaches C code.
 *
 * Ownership: every tensor an operation returns belongs to the context passed to
 * it, and lives until the context is freed or a gsx_release_to() call drops it.
 * Input tensors may belong to any context (model weights live in a long-lived
 * one, per-call work in another).
 *
 * Errors: a context records the first failure. Once it has failed, every
 * operation on it returns NULL (or a non-zero status) without doing work, so
 * a chain of operations can be checked once at its end. A NULL input makes an
 * operation fail too. gsx_status() and gsx_message() read the failure.
 */
#ifndef GSX_H
#define GSX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gsx_ctx gsx_ctx;
typedef struct gsx_tensor gsx_tensor;

/* Failure kinds recorded by a context. */
enum gsx_code {
    GSX_OK = 0,
    GSX_ERR_BACKEND = 1,   /* libtorch raised an error (shape mismatch, ...) */
    GSX_ERR_NOMEM = 2,     /* allocation failed */
    GSX_ERR_ARGUMENT = 3,  /* NULL input or invalid parameter */
    GSX_ERR_IO = 4,        /* file could not be read */
    GSX_ERR_FORMAT = 5,    /* file is not a readable archive */
    GSX_ERR_DEVICE = 6,    /* device unknown or not available */
    GSX_ERR_LIMIT = 7      /* archive exceeds a caller's limit */
};

enum gsx_dtype {
    GSX_F32 = 0,
    GSX_F16 = 1,
    GSX_BF16 = 2,
    GSX_F64 = 3,
    GSX_I64 = 4,
    GSX_I32 = 5,
    GSX_OTHER = 6
};

/* ---- contexts ------------------------------------------------------------ */

/* Returns NULL only when memory is exhausted. */
gsx_ctx *gsx_ctx_new(void);
/* Frees the context and every tensor it owns; NULL is accepted. */
void gsx_ctx_free(gsx_ctx *ctx);
/* Returns the first failure's code, GSX_OK if none. */
int gsx_status(const gsx_ctx *ctx);
/* Returns the first failure's one-line message, "" if none. */
const char *gsx_message(const gsx_ctx *ctx);
/* Forgets the recorded failure so the context can be used again. */
void gsx_clear_error(gsx_ctx *ctx);
/* Records a failure from C code (first failure wins); printf-free, copies msg. */
void gsx_fail(gsx_ctx *ctx, int code, const char *msg);

/* Number of tensors the context owns; use as a mark for gsx_release_to(). */
size_t gsx_mark(const gsx_ctx *ctx);
/* Frees every tensor created in ctx after mark, except keep (which may be
 * NULL). Returns keep, still valid and now owned just after the mark. */
gsx_tensor *gsx_release_to(gsx_ctx *ctx, size_t mark, gsx_tensor *keep);

/* ---- process-wide settings ----------------------------------------------- */

/* Sets libtorch's intra-op thread count (n >= 1). Process-wide. */
void gsx_set_threads(int n);
int gsx_get_threads(void);
/* Opens a buffer reuse scope on the calling thread. Inside it, libtorch's
 * CPU buffers of 1 MiB or more made on this thread are kept when freed and
 * handed out again, so repeated passes of the same shapes do not fault
 * their memory in again. Returns 1 when the scope is open, or 0 when the
 * cache could not be set up (the computation then runs as before). Scopes
 * nest. The outermost scope of each thread keeps its own cache, which is
 * emptied when that scope closes. */
int gsx_pool_open(void);
/* Closes a scope. Pass what gsx_pool_open() returned. */
void gsx_pool_close(int opened);
/* Returns the bytes of freed buffers kept for reuse by every open scope. */
size_t gsx_pool_held(void);
/* Checks a device string: "cpu", "cuda" or "cuda:N". Returns GSX_OK, or
 * GSX_ERR_DEVICE with a message in msg (capacity msg_size). */
int gsx_device_check(const char *device, char *msg, size_t msg_size);

/* ---- archives ------------------------------------------------------------ */

/* Called once per named tensor of an archive. Return 0 to go on, non-zero to
 * stop loading (gsx_load_archive then fails with the context's error, or with
 * GSX_ERR_ARGUMENT if the callback recorded none). */
typedef int (*gsx_named_fn)(void *user, const char *name, gsx_tensor *tensor);

/* Reads every named tensor of a TorchScript archive (parameters and buffers,
 * as a state dict names them) or of a file written by torch.save holding a
 * dict of tensors. Tensors are created in ctx, on the CPU, detached, in their
 * stored dtype. Fails with GSX_ERR_LIMIT before reading tensor data when the
 * archive holds more than max_tensors tensors or more than max_bytes of
 * tensor data (0 means no limit). Returns GSX_OK or the failure code. */
int gsx_load_archive(gsx_ctx *ctx, const char *path, size_t max_tensors,
                     uint64_t max_bytes, gsx_named_fn fn, void *user);

/* ---- creation and read-out ----------------------------------------------- */

/* Copies n = prod(shape) floats into a new float32 CPU tensor. */
gsx_tensor *gsx_from_f32(gsx_ctx *ctx, const float *data, const int64_t *shape, int ndim);
/* Copies n = prod(shape) int64 values into a new int64 CPU tensor. */
gsx_tensor *gsx_from_i64(gsx_ctx *ctx, const int64_t *data, const int64_t *shape, int ndim);
gsx_tensor *gsx_zeros(gsx_ctx *ctx, const int64_t *shape, int ndim);
/* Copies the tensor, converted to float32 on the CPU, into out (n values).
 * Fails if n differs from the element count. */
int gsx_read_f32(gsx_ctx *ctx, const gsx_tensor *t, float *out, size_t n);
int gsx_read_i64(gsx_ctx *ctx, const gsx_tensor *t, int64_t *out, size_t n);

int gsx_ndim(const gsx_tensor *t);
/* Size of dimension d (negative counts from the end); -1 if out of range. */
int64_t gsx_size(const gsx_tensor *t, int d);
int64_t gsx_numel(const gsx_tensor *t);
int gsx_dtype(const gsx_tensor *t);
/* Stores 1 in *finite when no element is NaN or infinite. */
int gsx_all_finite(gsx_ctx *ctx, const gsx_tensor *t, int *finite);
/* Minimum and maximum over all elements. */
int gsx_min_max(gsx_ctx *ctx, const gsx_tensor *t, double *min, double *max);

/* ---- dtype, device, layout ----------------------------------------------- */

gsx_tensor *gsx_to_f32(gsx_ctx *ctx, const gsx_tensor *t);
gsx_tensor *gsx_to_device(gsx_ctx *ctx, const gsx_tensor *t, const char *device);
gsx_tensor *gsx_contiguous(gsx_ctx *ctx, const gsx_tensor *t);
/* Returns t in channels-last memory format (4-D tensors only). */
gsx_tensor *gsx_channels_last(gsx_ctx *ctx, const gsx_tensor *t);
gsx_tensor *gsx_clone(gsx_ctx *ctx, const gsx_tensor *t);

/* ---- shape --------------------------------------------------------------- */

gsx_tensor *gsx_reshape(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *shape, int ndim);
gsx_tensor *gsx_permute(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndim);
gsx_tensor *gsx_transpose(gsx_ctx *ctx, const gsx_tensor *t, int d0, int d1);
/* Elements [start, end) along dim. */
gsx_tensor *gsx_slice(gsx_ctx *ctx, const gsx_tensor *t, int dim, int64_t start, int64_t end);
/* Removes dim by taking index along it. */
gsx_tensor *gsx_select(gsx_ctx *ctx, const gsx_tensor *t, int dim, int64_t index);
/* Rows of t along dim at the int64 indices in index (1-D). */
gsx_tensor *gsx_index_select(gsx_ctx *ctx, const gsx_tensor *t, int dim, const gsx_tensor *index);
gsx_tensor *gsx_cat(gsx_ctx *ctx, gsx_tensor *const *ts, int n, int dim);
gsx_tensor *gsx_unsqueeze(gsx_ctx *ctx, const gsx_tensor *t, int dim);
/* Repeats t along each dimension (torch.Tensor.repeat). */
gsx_tensor *gsx_repeat(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *reps, int ndim);

/* ---- element-wise (broadcasting) ----------------------------------------- */

gsx_tensor *gsx_add(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b);
gsx_tensor *gsx_sub(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b);
gsx_tensor *gsx_mul(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b);
gsx_tensor *gsx_div(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b);
gsx_tensor *gsx_add_scalar(gsx_ctx *ctx, const gsx_tensor *t, double s);
gsx_tensor *gsx_mul_scalar(gsx_ctx *ctx, const gsx_tensor *t, double s);
gsx_tensor *gsx_pow_scalar(gsx_ctx *ctx, const gsx_tensor *t, double p);
gsx_tensor *gsx_exp(gsx_ctx *ctx, const gsx_tensor *t);
gsx_tensor *gsx_rsqrt(gsx_ctx *ctx, const gsx_tensor *t);
gsx_tensor *gsx_relu(gsx_ctx *ctx, const gsx_tensor *t);
/* In-place forms, for tensors that no autograd graph refers to: t = relu(t),
 * and a += b with b broadcast to a's shape. Each saves an allocation. */
int gsx_relu_in_place(gsx_ctx *ctx, gsx_tensor *t);
int gsx_add_in_place(gsx_ctx *ctx, gsx_tensor *a, const gsx_tensor *b);
gsx_tensor *gsx_sigmoid(gsx_ctx *ctx, const gsx_tensor *t);
/* Replaces NaN by value (infinities are kept). */
gsx_tensor *gsx_nan_to(gsx_ctx *ctx, const gsx_tensor *t, double value);
/* 1 where t == 0, else 0, as float32. */
gsx_tensor *gsx_eq_zero(gsx_ctx *ctx, const gsx_tensor *t);
/* where(cond != 0, a, b). */
gsx_tensor *gsx_where(gsx_ctx *ctx, const gsx_tensor *cond, const gsx_tensor *a, const gsx_tensor *b);

/* ---- reductions ---------------------------------------------------------- */

gsx_tensor *gsx_sum(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim);
gsx_tensor *gsx_mean(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim);
gsx_tensor *gsx_amax(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim);
gsx_tensor *gsx_amin(gsx_ctx *ctx, const gsx_tensor *t, const int64_t *dims, int ndims, int keepdim);
gsx_tensor *gsx_softmax(gsx_ctx *ctx, const gsx_tensor *t, int dim);
/* t divided by its L2 norm along dim. */
gsx_tensor *gsx_l2_normalize(gsx_ctx *ctx, const gsx_tensor *t, int dim);
/* The k largest entries of a 1-D tensor, in descending order; ties resolved
 * as torch.topk does. Either output may be NULL if not wanted. */
int gsx_topk(gsx_ctx *ctx, const gsx_tensor *t, int64_t k, gsx_tensor **values, gsx_tensor **indices);
/* A zero 1-D tensor of length n with values scattered at the int64 indices. */
gsx_tensor *gsx_scatter_1d(gsx_ctx *ctx, int64_t n, const gsx_tensor *indices, const gsx_tensor *values);

/* ---- linear algebra and neural-network operations ------------------------ */

gsx_tensor *gsx_matmul(gsx_ctx *ctx, const gsx_tensor *a, const gsx_tensor *b);
/* x @ w^T + b; b may be NULL. */
gsx_tensor *gsx_linear(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *w, const gsx_tensor *b);
/* 2-D convolution, NCHW, square stride and padding; b may be NULL. */
gsx_tensor *gsx_conv2d(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *w, const gsx_tensor *b,
                       int stride, int padding);
/* Inference-mode batch norm with running statistics. */
gsx_tensor *gsx_batch_norm(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *weight,
                           const gsx_tensor *bias, const gsx_tensor *mean, const gsx_tensor *var,
                           double eps);
/* Layer norm over the last dimension. */
gsx_tensor *gsx_layer_norm(gsx_ctx *ctx, const gsx_tensor *x, const gsx_tensor *weight,
                           const gsx_tensor *bias, double eps);
/* Average pooling with kernel k and stride k. */
gsx_tensor *gsx_avg_pool2d(gsx_ctx *ctx, const gsx_tensor *x, int k);
/* softmax(q k^T * scale + mask) v over the last two dimensions of q, k, v
 * (batch dimensions broadcast); mask may be NULL. When probs is not NULL it
 * receives the attention probabilities, part of the autograd graph. */
gsx_tensor *gsx_attention(gsx_ctx *ctx, const gsx_tensor *q, const gsx_tensor *k, const gsx_tensor *v,
                          const gsx_tensor *mask, double scale, gsx_tensor **probs);
/* Bilinear resize of an N x C x H x W tensor, no antialiasing. */
gsx_tensor *gsx_resize_bilinear(gsx_ctx *ctx, const gsx_tensor *x, int64_t height, int64_t width,
                                int align_corners);

/* ---- autograd ------------------------------------------------------------ */

/* A new leaf: t's values, detached, with gradient tracking on. */
gsx_tensor *gsx_leaf(gsx_ctx *ctx, const gsx_tensor *t);
/* Backpropagates from a one-element tensor. */
int gsx_backward(gsx_ctx *ctx, const gsx_tensor *root);
/* The gradient accumulated in t (a leaf, or a tensor gsx_retain_grad was
 * called on); fails when there is none. */
gsx_tensor *gsx_grad(gsx_ctx *ctx, const gsx_tensor *t);
/* Asks autograd to keep the gradient of a non-leaf tensor. */
int gsx_retain_grad(gsx_ctx *ctx, gsx_tensor *t);
/* t's values without autograd history. */
gsx_tensor *gsx_detach(gsx_ctx *ctx, const gsx_tensor *t);

#ifdef __cplusplus
}
#endif

#endif
