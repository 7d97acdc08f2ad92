/*
 * fuzz_tensor.c -- libFuzzer: DLTensor validation (util/tensor.c) against a
 * naive model of its rules.  The input is a tensor description: ndim,
 * dtype, byte_offset, a data address, shape and (optional) strides.  The
 * model accepts exactly when dlc_tensor_describe does for CPU tensors of a
 * known dtype with non-negative strides and no overlap it can see; where
 * both accept, the byte count and base must agree.
 */
#include <stdint.h>
#include <string.h>

#include "plugin/util/tensor.h"

typedef struct input {
    uint8_t ndim, code, bits, has_strides;
    uint64_t offset, data;
    int64_t shape[4], strides[4];
} input;

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    input in;
    memset(&in, 0, sizeof in);
    memcpy(&in, buf, len < sizeof in ? len : sizeof in);
    int ndim = in.ndim % 5;
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = (void *)(uintptr_t)in.data;
    t.device.device_type = kDLCPU;
    t.ndim = ndim;
    t.dtype.code = in.code % 5;
    t.dtype.bits = in.bits;
    t.dtype.lanes = 1;
    t.shape = in.shape;
    t.strides = (in.has_strides & 1) ? in.strides : NULL;
    t.byte_offset = in.offset;
    dlc_tensor d;
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_tensor_describe(&t, "fuzz", &d, &err);

    /* The model: numel without overflow, every dim >= 0, an offset the
     * address space holds. */
    int model_ok = 1, has_zero = 0;
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (in.shape[i] < 0)
            model_ok = 0;
        has_zero |= in.shape[i] == 0;
    }
    for (int i = 0; i < ndim && !has_zero; i++)
        if (in.shape[i] >= 0 && __builtin_mul_overflow(numel, (uint64_t)in.shape[i], &numel))
            model_ok = 0; /* a zero dim makes any product empty */
    if (has_zero)
        numel = 0;
    uintptr_t base;
    if (in.offset > (uint64_t)PTRDIFF_MAX ||
        __builtin_add_overflow((uintptr_t)in.data, (uintptr_t)in.offset, &base))
        model_ok = 0;
    if (!model_ok && st == DLCOLL_SUCCESS)
        __builtin_trap(); /* accepted what the rules refuse */
    if (st == DLCOLL_SUCCESS) {
        size_t es = dlc_dtype_size(t.dtype);
        uint64_t bytes;
        if (__builtin_mul_overflow(numel, (uint64_t)es, &bytes) || bytes != d.nbytes ||
            d.numel != numel)
            __builtin_trap();
        if (t.data && (uintptr_t)d.base != base)
            __builtin_trap();
    }
    if (st != DLCOLL_SUCCESS && err.msg[0] == '\0')
        __builtin_trap(); /* every refusal says why */
    return 0;
}
