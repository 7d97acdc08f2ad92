/*
 * tensor.c -- DLTensor validation and the contiguous runs of its bytes.
 *
 * dlc_tensor_describe() checks a borrowed DLTensor once and records what the
 * collectives need: the first byte, the element size, the element count and
 * whether the bytes are one run.  The collectives then see a tensor as its
 * logical (row-major) byte stream; dlc_tensor_for_runs() walks any slice of
 * that stream as maximal runs of bytes that are adjacent in memory.
 *
 * Layout model used by the run walker.  Dims of extent 1 never move the
 * address, so they are dropped.  The innermost remaining dims that are laid
 * out back to back with the element merge into one "chunk" of B bytes; the
 * other dims are merged with each other where one is exactly the next one
 * repeated (stride == inner extent * inner stride).  What remains is a small
 * odometer of k "outer" dims, each step of which starts a new chunk:
 *
 *     logical byte x  ->  chunk c = x / B, byte x % B of that chunk
 *     chunk c         ->  odometer digits of c over the outer extents
 *
 * A contiguous tensor has k == 0 and a single chunk of nbytes, so walking it
 * is O(ndim) whatever its size; a strided one costs O(ndim + runs).  Two
 * consecutive chunks can still be adjacent in memory by coincidence of the
 * strides (an odometer roll-over that lands right after the previous chunk);
 * the walker joins those too, so every run it reports is maximal.
 */
#include "plugin/util/copy_stream.h"
#include "plugin/util/tensor.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ dtypes */

size_t dlc_dtype_size(DLDataType dt)
{
    if (dt.lanes != 1)
        return 0;
    switch (dt.code) {
    case kDLInt:
    case kDLUInt:
        if (dt.bits == 8 || dt.bits == 16 || dt.bits == 32 || dt.bits == 64)
            return dt.bits / 8u;
        return 0;
    case kDLFloat:
        if (dt.bits == 16 || dt.bits == 32 || dt.bits == 64)
            return dt.bits / 8u;
        return 0;
    case kDLBfloat: return dt.bits == 16 ? 2 : 0;
    case kDLComplex:
        if (dt.bits == 64 || dt.bits == 128)
            return dt.bits / 8u;
        return 0;
    case DLCOLL_DL_BOOL_CODE: return dt.bits == 8 ? 1 : 0;
    default: return 0;
    }
}

const char *dlc_dtype_name(DLDataType dt, char *buf, size_t cap)
{
    const char *family = NULL;
    if (dlc_dtype_size(dt) != 0) {
        switch (dt.code) {
        case kDLInt: family = "int"; break;
        case kDLUInt: family = "uint"; break;
        case kDLFloat: family = "float"; break;
        case kDLBfloat: family = "bfloat"; break;
        case kDLComplex: family = "complex"; break;
        case DLCOLL_DL_BOOL_CODE: family = "bool"; break;
        default: break;
        }
    }
    if (!buf || cap == 0)
        return "";
    if (family && dt.code == DLCOLL_DL_BOOL_CODE)
        snprintf(buf, cap, "bool");
    else if (family)
        snprintf(buf, cap, "%s%u", family, (unsigned)dt.bits);
    else
        snprintf(buf, cap, "dtype(code=%u,bits=%u,lanes=%u)", (unsigned)dt.code, (unsigned)dt.bits,
                 (unsigned)dt.lanes);
    return buf;
}

int dlc_dtype_equal(DLDataType a, DLDataType b)
{
    return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}

int dlc_tensor_same_layout_shape(const dlc_tensor *a, const dlc_tensor *b)
{
    if (!dlc_dtype_equal(a->dtype, b->dtype) || a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ devices */

/* Device names as frameworks print them ("cuda:0"). */
static const char *device_name(int type)
{
    switch (type) {
    case 1: return "cpu";
    case 2: return "cuda";
    case 3: return "cuda_host";
    case 4: return "opencl";
    case 7: return "vulkan";
    case 8: return "metal";
    case 9: return "vpi";
    case 10: return "rocm";
    case 11: return "rocm_host";
    case 12: return "ext_dev";
    case 13: return "cuda_managed";
    case 14: return "oneapi";
    case 15: return "webgpu";
    case 16: return "hexagon";
    default: return NULL;
    }
}

/*
 * Which devices hold memory this process can read and write with the CPU.
 * kDLCPU, of course.  kDLCUDAHost and kDLROCMHost are page-locked host memory
 * (cudaHostAlloc / hipHostMalloc): ordinary virtual memory of this process
 * that the GPU can also reach, so memcpy and libfabric's shm / tcp providers
 * handle it like any other host buffer; they are accepted.  Device memory
 * (kDLCUDA, kDLROCM, ...) and managed memory (which may migrate to the GPU
 * and fault on access from another process's CMA read) are refused.
 */
static int device_is_host_memory(int type)
{
    return type == kDLCPU || type == kDLCUDAHost || type == kDLROCMHost;
}

/* ------------------------------------------------------------------ describe */

const char *dlc_shape_text(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && used < cap; i++)
        used +=
            (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, ")");
    return buf;
}

/* A dim that moves the address: extent > 1.  Used by the overlap check. */
typedef struct live_dim {
    int64_t extent;
    int64_t stride; /* elements */
} live_dim;

/* Insertion sort by stride (ndim <= 32, so this is plenty). */
static void sort_by_stride(live_dim *d, int n)
{
    for (int i = 1; i < n; i++) {
        live_dim x = d[i];
        int j = i - 1;
        while (j >= 0 && d[j].stride > x.stride) {
            d[j + 1] = d[j];
            j--;
        }
        d[j + 1] = x;
    }
}

dlcoll_status_t dlc_tensor_describe(const DLTensor *t, const char *what, dlc_tensor *out,
                                    dlc_err *err)
{
    char name[64], sbuf[DLC_MAX_NDIM * 24 + 4];
    if (!what)
        what = "tensor";
    if (!out)
        return dlc_fail(err, DLCOLL_ERR_INTERNAL, "%s: no place to describe the tensor", what);
    memset(out, 0, sizeof *out);
    if (!t)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: tensor pointer is NULL", what);

    /* Device. */
    if (!device_is_host_memory(t->device.device_type)) {
        const char *dev = device_name(t->device.device_type);
        if (dev)
            return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                            "%s: device %s:%d is not supported (CPU memory only)", what, dev,
                            t->device.device_id);
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "%s: device type %d (id %d) is not supported (CPU memory only)", what,
                        (int)t->device.device_type, t->device.device_id);
    }

    /* Dtype. */
    size_t esize = dlc_dtype_size(t->dtype);
    if (esize == 0) {
        dlc_dtype_name(t->dtype, name, sizeof name);
        if (t->dtype.lanes != 1)
            return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                            "%s: dtype %s is not supported (vector dtypes: lanes must be 1)", what,
                            name);
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "%s: dtype %s is not supported (bool, int/uint 8-64, float 16-64, "
                        "bfloat16, complex64/128 are)",
                        what, name);
    }

    /* Rank and shape. */
    if (t->ndim < 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: ndim %d is negative", what, t->ndim);
    if (t->ndim > DLC_MAX_NDIM)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "%s: ndim %d is more than the %d supported",
                        what, t->ndim, DLC_MAX_NDIM);
    if (t->ndim > 0 && !t->shape)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: ndim is %d but shape is NULL", what,
                        t->ndim);
    int ndim = t->ndim, has_zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (t->shape[i] < 0)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s: shape %s has a negative dim",
                            what, dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf));
        if (t->shape[i] == 0)
            has_zero = 1;
    }

    /* Element count and byte size, checked for overflow (a zero dim makes the
     * count 0 even when the other dims' product would overflow). */
    size_t numel = 1, nbytes;
    if (has_zero) {
        numel = 0;
    } else {
        for (int i = 0; i < ndim; i++)
            if (__builtin_mul_overflow(numel, (size_t)t->shape[i], &numel))
                return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                                "%s: shape %s has too many elements", what,
                                dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf));
    }
    if (__builtin_mul_overflow(numel, esize, &nbytes) || nbytes > (size_t)PTRDIFF_MAX)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s: shape %s of %s is too large to address", what,
                        dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf),
                        dlc_dtype_name(t->dtype, name, sizeof name));
    if (numel > 0 && !t->data)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s: data is NULL but shape %s has %zu elements", what,
                        dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf), numel);

    /* Strides: NULL means compact row-major.  A dim of extent <= 1 never moves
     * the address, so its stride is not checked (frameworks put anything
     * there); and a tensor with no elements touches no memory at all. */
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        out->shape[i] = t->shape[i];
    if (!t->strides) {
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            out->strides[i] = s;
            /* Bounded by numel when there are elements; with a zero dim the
             * others may be huge, and the strides never matter: saturate. */
            if (t->shape[i] > 1 && __builtin_mul_overflow(s, t->shape[i], &s))
                s = INT64_MAX;
        }
    } else {
        for (int i = 0; i < ndim; i++)
            out->strides[i] = t->strides[i];
    }

    live_dim live[DLC_MAX_NDIM];
    int nlive = 0;
    if (numel > 0) {
        for (int i = 0; i < ndim; i++) {
            if (t->shape[i] <= 1)
                continue;
            if (out->strides[i] < 0)
                return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                                "%s: negative stride %lld in dim %d is not supported", what,
                                (long long)out->strides[i], i);
            live[nlive].extent = t->shape[i];
            live[nlive].stride = out->strides[i];
            nlive++;
        }
    }

    /* Memory span in bytes: esize * (1 + sum (extent-1)*stride), overflow-checked. */
    size_t span_el = numel > 0 ? 1 : 0, span;
    for (int i = 0; i < nlive; i++) {
        size_t term;
        if (__builtin_mul_overflow((size_t)(live[i].extent - 1), (size_t)live[i].stride, &term) ||
            __builtin_add_overflow(span_el, term, &span_el))
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s: strides of shape %s reach beyond the address space", what,
                            dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf));
    }
    if (__builtin_mul_overflow(span_el, esize, &span) || span > (size_t)PTRDIFF_MAX)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "%s: strides of shape %s reach beyond the address space", what,
                        dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf));
    if (numel > 0) {
        uintptr_t end;
        if (__builtin_add_overflow((uintptr_t)t->data, (uintptr_t)t->byte_offset, &end) ||
            t->byte_offset > (uint64_t)PTRDIFF_MAX || __builtin_add_overflow(end, span, &end))
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s: byte_offset %llu puts the data beyond the address space", what,
                            (unsigned long long)t->byte_offset);
    }

    /* Overlap.  Sorted by stride, every dim must step over everything the
     * dims with smaller strides can reach: stride >= 1 + sum (extent-1)*stride
     * of those.  That is exact for every layout frameworks produce (permuted,
     * sliced, stepped views of one compact array) and rejects all layouts in
     * which two elements share an address, plus some exotic interleaved ones
     * that do not (those are refused as "may overlap"). */
    sort_by_stride(live, nlive);
    int64_t reach = 1; /* elements reachable by the inner dims, plus one */
    for (int i = 0; i < nlive; i++) {
        if (live[i].stride == 0)
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s: overlapping layout: a dim of extent %lld has stride 0 "
                            "(a broadcast view; make it contiguous first)",
                            what, (long long)live[i].extent);
        if (live[i].stride < reach) {
            char stbuf[DLC_MAX_NDIM * 24 + 4];
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "%s: overlapping layout: strides %s for shape %s may put two "
                            "elements at one address",
                            what, dlc_shape_text(out->strides, ndim, stbuf, sizeof stbuf),
                            dlc_shape_text(t->shape, ndim, sbuf, sizeof sbuf));
        }
        reach += (live[i].extent - 1) * live[i].stride; /* <= span: no overflow */
    }

    /* Contiguous: the dims that move the address, innermost first, are each
     * the next one repeated, starting from the element itself. */
    int contiguous = 1;
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0 && numel > 0; i--) {
        if (t->shape[i] <= 1)
            continue;
        if (out->strides[i] != expect) {
            contiguous = 0;
            break;
        }
        expect *= t->shape[i];
    }

    out->base = t->data ? (uint8_t *)t->data + t->byte_offset : NULL;
    out->dtype = t->dtype;
    out->elem_size = esize;
    out->numel = numel;
    out->nbytes = nbytes;
    out->contiguous = contiguous;
    return DLCOLL_SUCCESS;
}

/* ------------------------------------------------------------------ runs */

/* The tensor as chunks of `chunk` bytes placed by a k-digit odometer. */
typedef struct run_layout {
    size_t chunk; /* bytes adjacent in memory, B above      */
    int k;        /* outer dims, outermost first            */
    size_t extent[DLC_MAX_NDIM];
    size_t stride[DLC_MAX_NDIM]; /* bytes */
} run_layout;

static void layout_build(const dlc_tensor *t, run_layout *L)
{
    size_t ext[DLC_MAX_NDIM], str[DLC_MAX_NDIM];
    int m = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] <= 1)
            continue;
        ext[m] = (size_t)t->shape[i];
        str[m] = (size_t)t->strides[i] * t->elem_size;
        m++;
    }
    /* Innermost dims that continue the element form the chunk. */
    size_t chunk = t->elem_size;
    int i = m - 1;
    while (i >= 0 && str[i] == chunk) {
        chunk *= ext[i];
        i--;
    }
    L->chunk = chunk;
    /* Merge the rest where a dim is the next inner one repeated; built
     * innermost first into the top of the arrays, then moved down. */
    int top = DLC_MAX_NDIM;
    while (i >= 0) {
        size_t e = ext[i], s = str[i];
        i--;
        while (i >= 0 && str[i] == e * s) {
            e *= ext[i];
            i--;
        }
        top--;
        L->extent[top] = e;
        L->stride[top] = s;
    }
    L->k = DLC_MAX_NDIM - top;
    memmove(L->extent, L->extent + top, (size_t)L->k * sizeof L->extent[0]);
    memmove(L->stride, L->stride + top, (size_t)L->k * sizeof L->stride[0]);
}

/* Walks the runs of one byte range. */
typedef struct run_iter {
    run_layout L;
    uint8_t *base;
    size_t idx[DLC_MAX_NDIM]; /* odometer digits of the current chunk */
    size_t addr;              /* its byte offset from base            */
    size_t skip;              /* bytes to skip in it (first chunk)    */
    size_t left;              /* bytes of the range not yet returned  */
} run_iter;

/* Clamp [off, off+len) to the tensor; returns the clamped length. */
static size_t clamp_range(const dlc_tensor *t, size_t off, size_t len)
{
    if (off >= t->nbytes)
        return 0;
    return len < t->nbytes - off ? len : t->nbytes - off;
}

static void iter_init(run_iter *it, const dlc_tensor *t, size_t off, size_t len)
{
    it->left = clamp_range(t, off, len);
    if (it->left == 0)
        return;
    it->base = t->base;
    if (t->contiguous) {
        it->L.chunk = t->nbytes;
        it->L.k = 0;
    } else {
        layout_build(t, &it->L);
    }
    size_t c = off / it->L.chunk;
    it->skip = off % it->L.chunk;
    it->addr = 0;
    for (int j = it->L.k - 1; j >= 0; j--) {
        it->idx[j] = c % it->L.extent[j];
        c /= it->L.extent[j];
        it->addr += it->idx[j] * it->L.stride[j];
    }
}

/* Move to the next chunk (the caller knows there is one). */
static void iter_step(run_iter *it)
{
    for (int j = it->L.k - 1; j >= 0; j--) {
        it->addr += it->L.stride[j];
        if (++it->idx[j] < it->L.extent[j])
            return;
        it->addr -= it->L.extent[j] * it->L.stride[j];
        it->idx[j] = 0;
    }
}

/* Next maximal run; 0 when the range is done. */
static int iter_next(run_iter *it, uint8_t **ptr, size_t *n)
{
    if (it->left == 0)
        return 0;
    uint8_t *p = it->base + it->addr + it->skip;
    size_t take = it->L.chunk - it->skip;
    if (take > it->left)
        take = it->left;
    it->skip = 0;
    it->left -= take;
    if (it->left > 0)
        iter_step(it);
    /* Join chunks that happen to follow in memory. */
    while (it->left > 0 && it->base + it->addr == p + take) {
        size_t more = it->L.chunk < it->left ? it->L.chunk : it->left;
        take += more;
        it->left -= more;
        if (it->left > 0)
            iter_step(it);
    }
    *ptr = p;
    *n = take;
    return 1;
}

int dlc_tensor_for_runs(const dlc_tensor *t, size_t off, size_t len, dlc_run_fn fn, void *ctx)
{
    run_iter it;
    uint8_t *p;
    size_t n;
    iter_init(&it, t, off, len);
    while (iter_next(&it, &p, &n)) {
        int rc = fn(ctx, p, n);
        if (rc)
            return rc;
    }
    return 0;
}

/*
 * Count without walking: chunk transitions c -> c+1 for c in [c0, c1) break
 * the run unless the jump they make lands right after the chunk.  The
 * transition increments digit j (and resets the digits inside it) exactly
 * when c+1 is a multiple of Q_j = prod_{i>j} extent_i but not of Q_{j-1}; its
 * jump is stride_j - sum_{i>j} (extent_i - 1) * stride_i.  O(k).
 */
size_t dlc_tensor_run_count(const dlc_tensor *t, size_t off, size_t len)
{
    len = clamp_range(t, off, len);
    if (len == 0)
        return 0;
    if (t->contiguous)
        return 1;
    run_layout L;
    layout_build(t, &L);
    size_t c0 = off / L.chunk, c1 = (off + len - 1) / L.chunk;
    size_t runs = 1;
    size_t q = 1;      /* Q_j */
    int64_t inner = 0; /* sum_{i>j} (extent_i - 1) * stride_i */
    for (int j = L.k - 1; j >= 0; j--) {
        size_t q_outer = q * L.extent[j]; /* Q_{j-1}; <= chunks in the tensor */
        int64_t jump = (int64_t)L.stride[j] - inner;
        if (jump != (int64_t)L.chunk) {
            size_t at_j = c1 / q - c0 / q;              /* multiples of Q_j in (c0, c1]   */
            size_t above = c1 / q_outer - c0 / q_outer; /* ... that are of Q_{j-1} too */
            runs += at_j - above;
        }
        inner += (int64_t)((L.extent[j] - 1) * L.stride[j]);
        q = q_outer;
    }
    return runs;
}

void dlc_tensor_pack(const dlc_tensor *t, size_t off, size_t len, void *dst)
{
    run_iter it;
    uint8_t *p, *d = dst;
    size_t n;
    iter_init(&it, t, off, len);
    while (iter_next(&it, &p, &n)) {
        memcpy(d, p, n);
        d += n;
    }
}

static void unpack_with(const dlc_tensor *t, size_t off, size_t len, const void *src,
                        void *(*copy)(void *, const void *, size_t))
{
    run_iter it;
    uint8_t *p;
    const uint8_t *s = src;
    size_t n;
    iter_init(&it, t, off, len);
    while (iter_next(&it, &p, &n)) {
        copy(p, s, n);
        s += n;
    }
}

void dlc_tensor_unpack(const dlc_tensor *t, size_t off, size_t len, const void *src)
{
    unpack_with(t, off, len, src, memcpy);
}

/* Runs shorter than this are copied with memcpy: a streaming copy's fence
 * and unaligned head cost more than the cache misses it saves. */
#define STREAM_RUN_MIN 512

static void *copy_run_stream(void *dst, const void *src, size_t n)
{
    if (n < STREAM_RUN_MIN)
        return memcpy(dst, src, n);
    dlc_copy_stream(dst, src, n);
    return dst;
}

void dlc_tensor_unpack_stream(const dlc_tensor *t, size_t off, size_t len, const void *src)
{
    unpack_with(t, off, len, src, copy_run_stream);
}

/* ------------------------------------------------------------------ allgather output */

dlcoll_status_t dlc_tensor_check_gather_output(const dlc_tensor *in, const dlc_tensor *out, int n,
                                               dlc_err *err)
{
    char a[64], b[64];
    if (n < 1)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "output: %d ranks to gather from", n);
    if (!dlc_dtype_equal(in->dtype, out->dtype))
        return dlc_fail(
            err, DLCOLL_ERR_INVALID_ARGUMENT, "output dtype %s differs from input dtype %s",
            dlc_dtype_name(out->dtype, a, sizeof a), dlc_dtype_name(in->dtype, b, sizeof b));
    if (!out->contiguous)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "output must be contiguous");

    /* Shape (n, *in), or (n*in0, *in[1:]); for a 0-dim input only (n). */
    int stacked = out->ndim == in->ndim + 1 && out->shape[0] == n;
    for (int i = 0; stacked && i < in->ndim; i++)
        stacked = out->shape[i + 1] == in->shape[i];
    int concat = 0;
    int64_t n_in0 = 0;
    if (in->ndim > 0 && !__builtin_mul_overflow((int64_t)n, in->shape[0], &n_in0)) {
        concat = out->ndim == in->ndim && out->shape[0] == n_in0;
        for (int i = 1; concat && i < in->ndim; i++)
            concat = out->shape[i] == in->shape[i];
    }
    size_t want;
    if ((stacked || concat) && !__builtin_mul_overflow(in->numel, (size_t)n, &want) &&
        out->numel == want)
        return DLCOLL_SUCCESS;

    /* Explain what would have fit. */
    char have[DLC_MAX_NDIM * 24 + 4], inb[DLC_MAX_NDIM * 24 + 4];
    char need1[DLC_MAX_NDIM * 24 + 32], need2[DLC_MAX_NDIM * 24 + 4];
    int64_t shp[DLC_MAX_NDIM + 1];
    dlc_shape_text(out->shape, out->ndim, have, sizeof have);
    dlc_shape_text(in->shape, in->ndim, inb, sizeof inb);
    shp[0] = n;
    for (int i = 0; i < in->ndim; i++)
        shp[i + 1] = in->shape[i];
    dlc_shape_text(shp, in->ndim + 1, need2, sizeof need2);
    if (in->ndim == 0)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "output has shape %s but %d rank%s x input %s needs %s", have, n,
                        n == 1 ? "" : "s", inb, need2);
    for (int i = 0; i < in->ndim; i++)
        shp[i] = in->shape[i];
    shp[0] = n_in0;
    dlc_shape_text(shp, in->ndim, need1, sizeof need1);
    return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                    "output has shape %s but %d rank%s x input %s needs %s or %s", have, n,
                    n == 1 ? "" : "s", inb, need1, need2);
}
