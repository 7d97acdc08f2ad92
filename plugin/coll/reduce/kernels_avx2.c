/*
 * coll/reduce/kernels_avx2.c -- the kernel families (float32 / float64,
 * bfloat16 in float32, the integers; not float16) built for AVX2: this file
 * only is compiled with -mavx2 and vectorization on, no FMA and no
 * contraction (CMakeLists.txt), and resolve.c chooses its tables at run
 * time when the CPU has AVX2.  The loops are the families' own
 * (float_family.h, half.h, int_family.h), elementwise: every output element
 * is computed with the same operations in the same order as by the portable
 * kernels, so the results are bit-identical
 * (tests/unit/test_reduce_dispatch.c compares every op of every dtype on both
 * tables).  Measured (one core, 256K elements, accum + final of a sum, best
 * of 20): float32 0.23-0.30x the portable time, bfloat16 0.13-0.19x, int32
 * 0.30-0.47x, int64 0.52-0.77x.  float16 keeps the portable table: half.h's
 * branchy conversions ran 1.3-2x slower built this way; F16C is the lever.
 */
#include "plugin/coll/reduce/reduce.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include "plugin/coll/reduce/float_family.h"
#include "plugin/coll/reduce/half.h"
#include "plugin/coll/reduce/int_family.h"

#define DLC_SAME(v) (v)

DLC_FLOAT_KERNELS(f32v, float, float, DLC_SAME, DLC_SAME)
DLC_FLOAT_KERNELS(f64v, double, double, DLC_SAME, DLC_SAME)
DLC_FLOAT_KERNELS(bf16v, uint16_t, float, dlc_bf2f, dlc_f2bf)
DLC_INT_FAMILY(v, int_table_avx2)

const dlc_red_kernels *dlc_red_kernels_avx2(DLDataType dt)
{
    if (dt.lanes != 1)
        return NULL;
    switch (dt.code) {
    case kDLFloat:
        /* float16: the branchy conversions of half.h ran 1.3-2x slower
         * built for AVX2 than portable (1.4-2.2 ms vs 1.2-1.7 ms for 256K
         * elements), so float16 keeps the portable table; F16C is the lever. */
        return dt.bits == 32 ? &f32v_kernels : dt.bits == 64 ? &f64v_kernels : NULL;
    case kDLBfloat: return dt.bits == 16 ? &bf16v_kernels : NULL;
    default: return int_table_avx2(dt);
    }
}
#else
const dlc_red_kernels *dlc_red_kernels_avx2(DLDataType dt)
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
