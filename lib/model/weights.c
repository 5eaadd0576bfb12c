/*
 * weights.c - the named tensors of a CLIP archive, looked up by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

struct gs_entry {
    char *name;
    gsx_tensor *tensor;
};

struct gs_weights {
    struct gs_entry *entries;
    size_t count;
    size_t capacity;
};

struct load_state {
    gsx_ctx *ctx;
    struct gs_weights *w;
    char *msg;
    gscam_status status;
};

static void format_shape(const gsx_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    int nd = gsx_ndim(t);

    buf[0] = '\0';
    if (nd == 0) {
        snprintf(buf, size, "scalar");
        return;
    }
    for (int i = 0; i < nd && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "x" : "", (long long)gsx_size(t, i));
}

static int add_entry(struct gs_weights *w, const char *name, gsx_tensor *t)
{
    if (w->count == w->capacity) {
        size_t cap = w->capacity ? 2 * w->capacity : 256;
        struct gs_entry *grown = realloc(w->entries, cap * sizeof *grown);
        if (!grown)
            return -1;
        w->entries = grown;
        w->capacity = cap;
    }
    w->entries[w->count].name = strdup(name);
    if (!w->entries[w->count].name)
        return -1;
    w->entries[w->count].tensor = t;
    w->count++;
    return 0;
}

/* Converts one archive tensor to float32 and checks it, then stores it. */
static int on_tensor(void *user, const char *name, gsx_tensor *t)
{
    struct load_state *st = user;
    int dtype = gsx_dtype(t);
    int finite = 1;

    if (dtype == GSX_F16 || dtype == GSX_BF16 || dtype == GSX_F64)
        t = gsx_to_f32(st->ctx, t);
    if (dtype == GSX_F32 || dtype == GSX_F16 || dtype == GSX_BF16 || dtype == GSX_F64) {
        if (gsx_all_finite(st->ctx, t, &finite) != GSX_OK)
            return 1;
        if (!finite) {
            st->status = gs_fail(st->msg, GSCAM_ERR_MODEL,
                                 "tensor %s holds NaN or infinite values", name);
            return 1;
        }
    }
    if (add_entry(st->w, name, t) != 0) {
        st->status = gs_fail(st->msg, GSCAM_ERR_OUT_OF_MEMORY, "out of memory storing tensor %s", name);
        return 1;
    }
    return 0;
}

static gscam_status status_from_shim(int code)
{
    switch (code) {
    case GSX_ERR_NOMEM: return GSCAM_ERR_OUT_OF_MEMORY;
    case GSX_ERR_IO: return GSCAM_ERR_IO;
    case GSX_ERR_LIMIT: return GSCAM_ERR_LIMIT;
    case GSX_ERR_DEVICE: return GSCAM_ERR_DEVICE;
    case GSX_ERR_FORMAT: return GSCAM_ERR_MODEL;
    default: return GSCAM_ERR_BACKEND;
    }
}

gscam_status gs_weights_load(gsx_ctx *ctx, const char *path, size_t max_tensors, uint64_t max_bytes,
                             struct gs_weights **out, char *msg)
{
    struct load_state st = {ctx, NULL, msg, GSCAM_OK};
    int rc;

    *out = NULL;
    st.w = calloc(1, sizeof *st.w);
    if (!st.w)
        return gs_fail(msg, GSCAM_ERR_OUT_OF_MEMORY, "out of memory loading %s", path);

    rc = gsx_load_archive(ctx, path, max_tensors, max_bytes, on_tensor, &st);
    if (st.status != GSCAM_OK) {
        gs_weights_free(st.w);
        return st.status;
    }
    if (rc != GSX_OK) {
        const char *why = gsx_message(ctx);

        /* Shim messages start with the shim function's name, which means
         * nothing to a caller. */
        if (strncmp(why, "gsx_", 4) == 0 && strstr(why, ": "))
            why = strstr(why, ": ") + 2;
        /* ... and may repeat the path. */
        if (strncmp(why, path, strlen(path)) == 0 && strncmp(why + strlen(path), ": ", 2) == 0)
            why += strlen(path) + 2;
        gs_weights_free(st.w);
        return gs_fail(msg, status_from_shim(rc), "cannot load model %s: %s", path, why);
    }
    if (st.w->count == 0) {
        gs_weights_free(st.w);
        return gs_fail(msg, GSCAM_ERR_MODEL, "model %s holds no tensors", path);
    }
    *out = st.w;
    return GSCAM_OK;
}

void gs_weights_free(struct gs_weights *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++)
        free(w->entries[i].name);
    free(w->entries);
    free(w);
}

gsx_tensor *gs_weights_find(const struct gs_weights *w, const char *name)
{
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return w->entries[i].tensor;
    return NULL;
}

int gs_weights_count_indexed(const struct gs_weights *w, const char *prefix)
{
    size_t plen = strlen(prefix);
    long highest = -1;

    /* Indices are contiguous from 0 in every CLIP layout; the count is the
     * highest index plus one, and gaps are caught when a block is missing. */
    for (size_t i = 0; i < w->count; i++) {
        const char *name = w->entries[i].name;
        char *end;
        long idx;

        if (strncmp(name, prefix, plen) != 0 || name[plen] != '.')
            continue;
        if (name[plen + 1] < '0' || name[plen + 1] > '9')
            continue;
        idx = strtol(name + plen + 1, &end, 10);
        if (*end == '.' && idx > highest && idx < 100000)
            highest = idx;
    }
    return (int)(highest + 1);
}

gscam_status gs_weights_get(const struct gs_weights *w, const char *name, const int64_t *shape,
                            int ndim, gsx_tensor **out, char *msg)
{
    gsx_tensor *t = gs_weights_find(w, name);
    int ok;

    *out = NULL;
    if (!t)
        return gs_fail(msg, GSCAM_ERR_MODEL, "tensor %s is missing from the archive", name);
    ok = gsx_ndim(t) == ndim && gsx_dtype(t) == GSX_F32;
    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || gsx_size(t, i) == shape[i];
    if (!ok) {
        char got[96], want[96];
        size_t used = 0;

        format_shape(t, got, sizeof got);
        want[0] = '\0';
        for (int i = 0; i < ndim && used < sizeof want; i++) {
            if (shape[i] < 0)
                used += (size_t)snprintf(want + used, sizeof want - used, "%s*", i ? "x" : "");
            else
                used += (size_t)snprintf(want + used, sizeof want - used, "%s%lld", i ? "x" : "",
                                         (long long)shape[i]);
        }
        if (ndim == 0)
            snprintf(want, sizeof want, "scalar");
        if (gsx_dtype(t) != GSX_F32)
            return gs_fail(msg, GSCAM_ERR_MODEL, "tensor %s is not a floating-point tensor", name);
        return gs_fail(msg, GSCAM_ERR_MODEL, "tensor %s has shape %s, expected %s", name, got, want);
    }
    *out = t;
    return GSCAM_OK;
}

int gs_weights_scalar_i64(const struct gs_weights *w, gsx_ctx *ctx, const char *name, int64_t *value)
{
    gsx_tensor *t = gs_weights_find(w, name);

    if (!t || gsx_numel(t) != 1 || gsx_dtype(t) != GSX_I64)
        return 0;
    return gsx_read_i64(ctx, t, value, 1) == GSX_OK;
}
