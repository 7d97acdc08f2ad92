/*
 * mp_reduce.h -- inputs and float64 / exact references for the reduction
 * tests (test_reduce.c).
 *
 * Element i of rank r's input in case `seed` is a function of (seed, r, i,
 * dtype, op), so any rank can compute every rank's input and the expected
 * result of any element.  Floating-point inputs are exactly representable
 * in their dtype (k/64 with |k| < 2048 for float16, k/16 with |k| < 256 for
 * bfloat16; {±0.5, ±0.75, 1, 1.5, 2} for prod); element 5 of the last
 * rank is NaN when `nan` is set.  Integer inputs use every bit (sums and
 * products wrap).  bool inputs are 0 or an arbitrary non-zero byte.
 *
 * The check (mp_red_check): integers and bool exactly (wrapping arithmetic
 * in uint64, truncated to the width; min / max in the dtype's signedness;
 * avg = the wrapped sum / N, truncating toward zero), min and max of floats
 * exactly, NaN where a NaN went in, and the other float results against a
 * float64 reference within the bound the documented order gives
 * (docs/abi.md section 15):
 *   sum, avg, premul_sum: N * u_acc * sum|t_i| + (u_out + u_acc) * |ref| + the
 *                         smallest subnormal of the dtype
 *   prod:                 (N * u_acc + u_out) * |ref| + the smallest subnormal
 * with u_acc = 2^-24 (float16, bfloat16, float32: accumulated in float32)
 * or 2^-53 (float64), u_out the unit roundoff of the dtype (2^-11, 2^-8,
 * 2^-24, 2^-53) and t_i the terms (factor * input).
 */
#ifndef MP_REDUCE_H
#define MP_REDUCE_H

#include "mp_harness.h"

/* The ops of dlcoll_red_op_t the plugin must support for dt (1) or refuse
 * with DLCOLL_ERR_UNSUPPORTED (0). */
int mp_red_supported(DLDataType dt, int op);
/* "sum", "premul_sum", ... */
const char *mp_red_name(int op);
#define MP_N_RED_OPS 9

/* The factor rank r passes to premul_sum. */
static inline double mp_red_factor(int r)
{
    return 0.5 + 0.25 * r;
}

/* Write elements [first, first + n) of rank r's input (contiguously) to buf. */
void mp_red_fill(void *buf, DLDataType dt, int op, uint32_t seed, int r, size_t first, size_t n,
                 int nan);

/* Check got[0 .. n) against the reduction over `nranks` ranks of input
 * elements [first, first + n).  1 when right; otherwise reports through
 * mp_fail (label first) and returns 0. */
int mp_red_check(mp_ctx *ctx, const void *got, DLDataType dt, int op, uint32_t seed, int nranks,
                 size_t first, size_t n, int nan, const char *label);

/* FNV-1a over bytes, continuing from h. */
uint64_t mp_fnv(uint64_t h, const void *p, size_t n);

#endif
