/*
 * coll/reduce/kernels_float.c -- float32 and float64 (accumulated in their
 * own type).
 */
#include "plugin/coll/reduce/float_family.h"

#define DLC_SAME(v) (v)

DLC_FLOAT_KERNELS(f32, float, float, DLC_SAME, DLC_SAME)
DLC_FLOAT_KERNELS(f64, double, double, DLC_SAME, DLC_SAME)

const dlc_red_kernels *dlc_red_kernels_float(DLDataType dt)
{
    if (dt.code != kDLFloat || dt.lanes != 1)
        return NULL;
    return dt.bits == 32 ? &f32_kernels : dt.bits == 64 ? &f64_kernels : NULL;
}
