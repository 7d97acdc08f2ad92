/*
 * coll/reduce/kernels_bool.c -- bool (one byte per element, any non-zero
 * byte is true, results are 0 or 1): SUM, MAX and BOR are logical or, PROD,
 * MIN and BAND logical and, BXOR logical xor (dlc_red_resolve refuses AVG
 * and PREMUL_SUM).  The accumulator is one normalized byte.
 */
#include "plugin/coll/reduce/binop.h"
#include "plugin/coll/reduce/reduce.h"

static int is_and(dlcoll_red_op_t op)
{
    return op == DLCOLL_RED_PROD || op == DLCOLL_RED_MIN || op == DLCOLL_RED_BAND;
}

static void b_first(const dlc_red *r, void *accv, const void *xv, size_t n)
{
    uint8_t *acc = accv;
    const uint8_t *x = xv;
    DLC_RED_LOOP(n, acc[i] = x[i] != 0);
}

static void b_combine(const dlc_red *r, uint8_t *dst, const uint8_t *src, const uint8_t *x,
                      size_t n)
{
    if (is_and(r->op))
        DLC_RED_LOOP(n, dst[i] = (uint8_t)((src[i] != 0) & (x[i] != 0)));
    else if (r->op == DLCOLL_RED_BXOR)
        DLC_RED_LOOP(n, dst[i] = (uint8_t)((src[i] != 0) ^ (x[i] != 0)));
    else
        DLC_RED_LOOP(n, dst[i] = (uint8_t)((src[i] != 0) | (x[i] != 0)));
}

static void b_accum(const dlc_red *r, void *acc, const void *x, size_t n)
{
    b_combine(r, acc, acc, x, n);
}

static void b_final(const dlc_red *r, void *out, const void *acc, const void *x, size_t n)
{
    if (acc)
        b_combine(r, out, acc, x, n);
    else
        b_first(r, out, x, n);
}

static const dlc_red_kernels bool_kernels = {b_first, b_accum, b_final};

const dlc_red_kernels *dlc_red_kernels_bool(void)
{
    return &bool_kernels;
}
