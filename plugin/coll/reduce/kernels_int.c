/*
 * coll/reduce/kernels_int.c -- the signed and unsigned integers of 8 to 64
 * bits.  The accumulator is the dtype itself; SUM and PROD compute in the
 * unsigned type of the same width, so overflow wraps (modulo 2^bits) and is
 * never undefined; MIN and MAX compare in the dtype (signed or not); AVG
 * divides the wrapped sum once by N, truncating toward zero.
 */
#include <string.h>

#include "plugin/coll/reduce/binop.h"
#include "plugin/coll/reduce/reduce.h"

/* T the dtype, U its unsigned type, W a 64-bit type of T's signedness. */
#define DLC_INT_KERNELS(NAME, T, U, W)                                                             \
    static void NAME##_first(const dlc_red *r, void *acc, const void *x, size_t n)                 \
    {                                                                                              \
        memcpy(acc, x, n * sizeof(T));                                                             \
    }                                                                                              \
    static void NAME##_combine(const dlc_red *r, T *dst, const T *src, const T *x, size_t n)       \
    {                                                                                              \
        switch (r->op) {                                                                           \
        case DLCOLL_RED_PROD: DLC_RED_LOOP(n, dst[i] = (T)((U)src[i] * (U)x[i])); break;           \
        case DLCOLL_RED_MIN: DLC_RED_LOOP(n, dst[i] = DLC_OP_MIN(src[i], x[i])); break;            \
        case DLCOLL_RED_MAX: DLC_RED_LOOP(n, dst[i] = DLC_OP_MAX(src[i], x[i])); break;            \
        case DLCOLL_RED_BAND: DLC_RED_LOOP(n, dst[i] = (T)((U)src[i] & (U)x[i])); break;           \
        case DLCOLL_RED_BOR: DLC_RED_LOOP(n, dst[i] = (T)((U)src[i] | (U)x[i])); break;            \
        case DLCOLL_RED_BXOR: DLC_RED_LOOP(n, dst[i] = (T)((U)src[i] ^ (U)x[i])); break;           \
        default: /* SUM, AVG */ DLC_RED_LOOP(n, dst[i] = (T)((U)src[i] + (U)x[i])); break;         \
        }                                                                                          \
    }                                                                                              \
    static void NAME##_accum(const dlc_red *r, void *acc, const void *x, size_t n)                 \
    {                                                                                              \
        NAME##_combine(r, acc, acc, x, n);                                                         \
    }                                                                                              \
    static void NAME##_final(const dlc_red *r, void *outv, const void *acc, const void *x,         \
                             size_t n)                                                             \
    {                                                                                              \
        T *out = outv;                                                                             \
        if (acc)                                                                                   \
            NAME##_combine(r, out, acc, x, n);                                                     \
        else if (out != x)                                                                         \
            memmove(out, x, n * sizeof(T));                                                        \
        if (r->op == DLCOLL_RED_AVG) {                                                             \
            W d = (W)r->nranks;                                                                    \
            DLC_RED_LOOP(n, out[i] = (T)((W)out[i] / d));                                          \
        }                                                                                          \
    }                                                                                              \
    static const dlc_red_kernels NAME##_kernels = {NAME##_first, NAME##_accum, NAME##_final};

DLC_INT_KERNELS(i8, int8_t, uint8_t, int64_t)
DLC_INT_KERNELS(i16, int16_t, uint16_t, int64_t)
DLC_INT_KERNELS(i32, int32_t, uint32_t, int64_t)
DLC_INT_KERNELS(i64, int64_t, uint64_t, int64_t)
DLC_INT_KERNELS(u8, uint8_t, uint8_t, uint64_t)
DLC_INT_KERNELS(u16, uint16_t, uint16_t, uint64_t)
DLC_INT_KERNELS(u32, uint32_t, uint32_t, uint64_t)
DLC_INT_KERNELS(u64, uint64_t, uint64_t, uint64_t)

const dlc_red_kernels *dlc_red_kernels_int(DLDataType dt)
{
    if (dt.lanes != 1 || (dt.code != kDLInt && dt.code != kDLUInt))
        return NULL;
    int s = dt.code == kDLInt;
    switch (dt.bits) {
    case 8: return s ? &i8_kernels : &u8_kernels;
    case 16: return s ? &i16_kernels : &u16_kernels;
    case 32: return s ? &i32_kernels : &u32_kernels;
    case 64: return s ? &i64_kernels : &u64_kernels;
    default: return NULL;
    }
}
