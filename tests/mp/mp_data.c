/*
 * mp_data.c -- byte patterns, guarded buffers and DLTensor helpers for the
 * multi-process tests (see mp_harness.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_harness.h"

void mp_fill(void *p, size_t n, uint32_t seed, int r, size_t first_index)
{
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = mp_pat(seed, r, first_index + i);
}

size_t mp_find_bad(const void *p, size_t n, uint32_t seed, int r, size_t first_index)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != mp_pat(seed, r, first_index + i))
            return i;
    return (size_t)-1;
}

int mp_buf_alloc(mp_buf *b, size_t size, size_t guard)
{
    memset(b, 0, sizeof *b);
    /* 64-byte alignment of data when guard is a multiple of 64. */
    if (posix_memalign((void **)&b->raw, 64, size + 2 * guard + 1) != 0)
        return -1;
    b->data = b->raw + guard;
    b->size = size;
    b->guard = guard;
    mp_fill(b->raw, guard, MP_SEED_GUARD, -2, 0);
    mp_fill(b->data + size, guard, MP_SEED_GUARD, -2, guard);
    mp_fill(b->data, size, MP_SEED_UNTOUCHED, -1, 0);
    return 0;
}

void mp_buf_free(mp_buf *b)
{
    free(b->raw);
    memset(b, 0, sizeof *b);
}

int mp_buf_guards_ok(const mp_buf *b, char *why, size_t cap)
{
    size_t i = mp_find_bad(b->raw, b->guard, MP_SEED_GUARD, -2, 0);
    if (i != (size_t)-1) {
        snprintf(why, cap, "guard byte %zu bytes BEFORE the buffer was overwritten",
                 b->guard - i);
        return 0;
    }
    i = mp_find_bad(b->data + b->size, b->guard, MP_SEED_GUARD, -2, b->guard);
    if (i != (size_t)-1) {
        snprintf(why, cap, "guard byte %zu bytes AFTER the end of the %zu-byte buffer was overwritten",
                 i, b->size);
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ dtypes */

DLDataType mp_dt(uint8_t code, uint8_t bits)
{
    DLDataType d;
    d.code = code;
    d.bits = bits;
    d.lanes = 1;
    return d;
}

size_t mp_dt_size(DLDataType dt)
{
    return (size_t)dt.bits / 8 * dt.lanes;
}

const mp_dtype mp_dtypes[] = {
    {"bool", {DLCOLL_DL_BOOL_CODE, 8, 1}},
    {"int8", {kDLInt, 8, 1}},
    {"int16", {kDLInt, 16, 1}},
    {"int32", {kDLInt, 32, 1}},
    {"int64", {kDLInt, 64, 1}},
    {"uint8", {kDLUInt, 8, 1}},
    {"uint16", {kDLUInt, 16, 1}},
    {"uint32", {kDLUInt, 32, 1}},
    {"uint64", {kDLUInt, 64, 1}},
    {"float16", {kDLFloat, 16, 1}},
    {"bfloat16", {kDLBfloat, 16, 1}},
    {"float32", {kDLFloat, 32, 1}},
    {"float64", {kDLFloat, 64, 1}},
    {"complex64", {kDLComplex, 64, 1}},
    {"complex128", {kDLComplex, 128, 1}},
};
const int mp_n_dtypes = (int)(sizeof mp_dtypes / sizeof mp_dtypes[0]);

/* ------------------------------------------------------------------ tensors */

void mp_tensor(DLTensor *t, void *data, uint64_t byte_offset, DLDataType dt, int ndim,
               int64_t *shape, int64_t *strides)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->device.device_type = kDLCPU;
    t->device.device_id = 0;
    t->ndim = ndim;
    t->dtype = dt;
    t->shape = shape;
    t->strides = strides;
    t->byte_offset = byte_offset;
}

size_t mp_numel(int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return n;
}

uint8_t *mp_elem_ptr(const DLTensor *t, size_t li)
{
    size_t es = mp_dt_size(t->dtype);
    int64_t off = 0;    /* in elements */
    int64_t compact = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t idx = (int64_t)(li % (size_t)t->shape[d]);
        li /= (size_t)t->shape[d];
        int64_t stride = t->strides ? t->strides[d] : compact;
        off += idx * stride;
        compact *= t->shape[d];
    }
    return (uint8_t *)t->data + t->byte_offset + (size_t)off * es;
}

void mp_tensor_fill(const DLTensor *t, uint32_t seed, int r)
{
    size_t es = mp_dt_size(t->dtype), n = mp_numel(t->ndim, t->shape);
    for (size_t e = 0; e < n; e++)
        mp_fill(mp_elem_ptr(t, e), es, seed, r, e * es);
}

int mp_tensor_matches(const DLTensor *t, uint32_t seed, int r, char *why, size_t cap)
{
    size_t es = mp_dt_size(t->dtype), n = mp_numel(t->ndim, t->shape);
    for (size_t e = 0; e < n; e++) {
        const uint8_t *p = mp_elem_ptr(t, e);
        size_t bad = mp_find_bad(p, es, seed, r, e * es);
        if (bad != (size_t)-1) {
            size_t i = e * es + bad, nbad = 0;
            for (size_t f = e; f < n; f++)
                nbad += mp_find_bad(mp_elem_ptr(t, f), es, seed, r, f * es) != (size_t)-1;
            snprintf(why, cap,
                     "logical byte %zu (element %zu of %zu) is 0x%02x, expected 0x%02x "
                     "(%zu of the remaining elements differ)",
                     i, e, n, p[bad], mp_pat(seed, r, i), nbad);
            return 0;
        }
    }
    return 1;
}

const char *mp_guess_owner(uint8_t got, uint32_t seed, int nranks, size_t i, char *buf, size_t cap)
{
    if (got == mp_pat(MP_SEED_UNTOUCHED, -1, i)) {
        snprintf(buf, cap, "looks unwritten");
        return buf;
    }
    for (int r = 0; r < nranks; r++)
        if (got == mp_pat(seed, r, i)) {
            snprintf(buf, cap, "matches rank %d's byte", r);
            return buf;
        }
    snprintf(buf, cap, "matches nothing known");
    return buf;
}
