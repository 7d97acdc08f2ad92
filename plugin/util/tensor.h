/*
 * tensor.h -- DLTensor validation and layout for the collectives.
 *
 * A tensor is viewed as a sequence of elements in logical (C / row-major)
 * order; its bytes are one or more contiguous runs in memory.  Collectives move
 * the logical byte stream, so a strided tensor and a contiguous one with the
 * same shape and dtype exchange the same bytes.
 */
#ifndef DLC_TENSOR_H
#define DLC_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "plugin/util/error.h"

#define DLC_MAX_NDIM 32

typedef struct dlc_tensor {
    uint8_t *base; /* data + byte_offset */
    DLDataType dtype;
    size_t elem_size; /* bytes per element (bits/8 * lanes) */
    size_t numel;
    size_t nbytes; /* numel * elem_size */
    int ndim;
    int64_t shape[DLC_MAX_NDIM];
    int64_t strides[DLC_MAX_NDIM]; /* in elements; filled in for NULL (compact) strides */
    int contiguous;                /* the bytes are one run starting at base */
} dlc_tensor;

/* Validate t and fill out.  `what` names the argument in messages ("input",
 * "outputs[3]").  Rejects: NULL, non-CPU device (DLCOLL_ERR_UNSUPPORTED), unknown
 * or non-byte-sized dtype, lanes != 1, negative dims, ndim > DLC_MAX_NDIM, NULL data
 * with numel > 0, negative strides, overlapping layouts (two elements at one address). */
dlcoll_status_t dlc_tensor_describe(const DLTensor *t, const char *what, dlc_tensor *out,
                                    dlc_err *err);

/* Bytes per element of a supported dtype, 0 if unsupported.  Supported: bool
 * (code 6, 8 bits), int/uint 8-64, float 16/32/64, bfloat 16, complex 64/128. */
size_t dlc_dtype_size(DLDataType dt);

/* "(3, 4)" into buf ("()" for a 0-dim shape); returns buf. */
const char *dlc_shape_text(const int64_t *shape, int ndim, char *buf, size_t cap);

/* "float32", "int64", "bool", ... or "dtype(code=C,bits=B,lanes=L)" written into buf. */
const char *dlc_dtype_name(DLDataType dt, char *buf, size_t cap);

int dlc_dtype_equal(DLDataType a, DLDataType b);

/* Same dtype and shape. */
int dlc_tensor_same_layout_shape(const dlc_tensor *a, const dlc_tensor *b);

/* Iterate the contiguous runs covering logical bytes [off, off+len):
 * calls fn(ctx, ptr, n) for each run in order; stops and returns non-zero when fn does. */
typedef int (*dlc_run_fn)(void *ctx, uint8_t *ptr, size_t n);
int dlc_tensor_for_runs(const dlc_tensor *t, size_t off, size_t len, dlc_run_fn fn, void *ctx);

/* Number of contiguous runs covering logical bytes [off, off+len). */
size_t dlc_tensor_run_count(const dlc_tensor *t, size_t off, size_t len);

/* Copy logical bytes [off, off+len) of t to/from a contiguous buffer. */
void dlc_tensor_pack(const dlc_tensor *t, size_t off, size_t len, void *dst);
void dlc_tensor_unpack(const dlc_tensor *t, size_t off, size_t len, const void *src);
/* dlc_tensor_unpack with streaming stores (copy_stream.h) for runs of at
 * least 512 bytes: for outputs that the cache cannot hold. */
void dlc_tensor_unpack_stream(const dlc_tensor *t, size_t off, size_t len, const void *src);

/* For allgather's single output: check out is contiguous, has in's dtype and shape
 * (n, *in) or (n*in0, *in[1:]) (for in->ndim == 0 only (n)), and holds n*in->numel
 * elements.  On success *block_bytes = in->nbytes. */
dlcoll_status_t dlc_tensor_check_gather_output(const dlc_tensor *in, const dlc_tensor *out, int n,
                                               dlc_err *err);

#endif
