/*
 * coll/reduce/reduce.h -- the elementwise reductions of allreduce and
 * reduce_scatter.
 *
 * A reduction over N contributions x_0 .. x_{N-1} (in the order the algorithm
 * fixes, docs/abi.md section 15) runs as
 *
 *     acc  = pre(x_a)                 dlc_red_first
 *     acc  = acc (op) pre(x_b)        dlc_red_accum, once per further contribution
 *     out  = post(acc (op) pre(x_c))  dlc_red_final (the last contribution)
 *
 * acc is in the accumulator type (float32 for float16 / bfloat16, the dtype
 * itself otherwise, integers as their unsigned type so that overflow wraps),
 * pre() multiplies by this rank's factor for PREMUL_SUM, post() divides by N
 * for AVG and rounds to the dtype once.  A partial result that travels
 * between ranks is an acc array (dlc_red.acc_size bytes per element).
 */
#ifndef DLC_REDUCE_H
#define DLC_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "plugin/util/error.h"

struct dlc_red;

typedef struct dlc_red_kernels {
    void (*first)(const struct dlc_red *r, void *acc, const void *x, size_t n);
    void (*accum)(const struct dlc_red *r, void *acc, const void *x, size_t n);
    /* acc NULL: out = post(pre(x)) (a single contribution). */
    void (*final)(const struct dlc_red *r, void *out, const void *acc, const void *x, size_t n);
} dlc_red_kernels;

typedef struct dlc_red {
    dlcoll_red_op_t op;
    double factor; /* PREMUL_SUM */
    int nranks;    /* AVG's divisor */
    DLDataType dtype;
    size_t elem_size; /* bytes of one element of the dtype */
    size_t acc_size;  /* bytes of one accumulator element */
    const dlc_red_kernels *k;
} dlc_red;

/* Check the reduction (its size and op) against dtype for nranks ranks and
 * fill *out.  INVALID_ARGUMENT for an unknown op or a bad struct size,
 * UNSUPPORTED for an op the dtype has no meaning for (complex, AVG or
 * PREMUL_SUM of bool, PREMUL_SUM of integers, bitwise ops of floats). */
dlcoll_status_t dlc_red_resolve(const dlcoll_reduction_t *red, DLDataType dtype, int nranks,
                                dlc_red *out, dlc_err *err);

/* "sum", "premul_sum", ... ("op(N)" for an unknown value, into buf). */
const char *dlc_red_op_name(int op, char *buf, size_t cap);

/* The kernel tables, one per family (coll/reduce/kernels_*.c); NULL for a
 * dtype the family does not hold. */
const dlc_red_kernels *dlc_red_kernels_float(DLDataType dt);
const dlc_red_kernels *dlc_red_kernels_half(DLDataType dt);
const dlc_red_kernels *dlc_red_kernels_int(DLDataType dt);
const dlc_red_kernels *dlc_red_kernels_bool(void);

/* The table of dt's family built for AVX2 (kernels_avx2.c; NULL when not
 * built so, or for bool and complex), and whether this CPU runs them.
 * Bit-identical to the portable tables. */
const dlc_red_kernels *dlc_red_kernels_avx2(DLDataType dt);
int dlc_red_cpu_has_avx2(void);

#endif
