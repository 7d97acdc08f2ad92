/*
 * coll/reduce/kernels_int.c -- the signed and unsigned integers of 8 to 64
 * bits.  The accumulator is the dtype itself; SUM and PROD compute in the
 * unsigned type of the same width, so overflow wraps (modulo 2^bits) and is
 * never undefined; MIN and MAX compare in the dtype (signed or not); AVG
 * divides the wrapped sum once by N, truncating toward zero.
 */
#include "plugin/coll/reduce/int_family.h"

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
