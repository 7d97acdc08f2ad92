/*
 * coll/reduce/kernels_half.c -- float16 and bfloat16, accumulated in float32
 * and rounded once per output element (coll/reduce/half.h).
 */
#include "plugin/coll/reduce/float_family.h"
#include "plugin/coll/reduce/half.h"

DLC_FLOAT_KERNELS(f16, uint16_t, float, dlc_h2f, dlc_f2h)
DLC_FLOAT_KERNELS(bf16, uint16_t, float, dlc_bf2f, dlc_f2bf)

const dlc_red_kernels *dlc_red_kernels_half(DLDataType dt)
{
    if (dt.lanes != 1 || dt.bits != 16)
        return NULL;
    return dt.code == kDLFloat ? &f16_kernels : dt.code == kDLBfloat ? &bf16_kernels : NULL;
}
