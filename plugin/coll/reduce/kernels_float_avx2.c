/*
 * coll/reduce/kernels_float_avx2.c -- float32 and float64 kernels built for
 * AVX2 (this file only is compiled with -mavx2 and vectorization on, no FMA,
 * no contraction: CMakeLists.txt), chosen at run time by resolve.c when the
 * CPU has AVX2.  The loops are float_family.h's, elementwise: every output
 * element is computed with the same operations in the same order as by the
 * portable kernels of kernels_float.c, so the results are bit-identical
 * (tests/unit/test_reduce_kernels.c checks every op on both tables).
 */
#include "plugin/coll/reduce/reduce.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include "plugin/coll/reduce/float_family.h"

#define DLC_SAME(v) (v)

DLC_FLOAT_KERNELS(f32v, float, float, DLC_SAME, DLC_SAME)
DLC_FLOAT_KERNELS(f64v, double, double, DLC_SAME, DLC_SAME)

const dlc_red_kernels *dlc_red_kernels_float_avx2(DLDataType dt)
{
    if (dt.code != kDLFloat || dt.lanes != 1)
        return NULL;
    return dt.bits == 32 ? &f32v_kernels : dt.bits == 64 ? &f64v_kernels : NULL;
}
#else
const dlc_red_kernels *dlc_red_kernels_float_avx2(DLDataType dt)
{
    (void)dt;
    return NULL; /* not built for AVX2 (not x86-64, or a compiler without -mavx2) */
}
#endif

int dlc_red_cpu_has_avx2(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}
