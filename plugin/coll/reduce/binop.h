/*
 * coll/reduce/binop.h -- the elementwise operators the kernels expand to.
 * MIN and MAX propagate NaN: when either side is NaN the result is NaN (the
 * comparison a != a is true only for NaN; for integers it is never true).
 */
#ifndef DLC_BINOP_H
#define DLC_BINOP_H

#define DLC_OP_SUM(a, b) ((a) + (b))
#define DLC_OP_PROD(a, b) ((a) * (b))
#define DLC_OP_MIN(a, b) (((a) < (b) || (a) != (a)) ? (a) : (b))
#define DLC_OP_MAX(a, b) (((a) > (b) || (a) != (a)) ? (a) : (b))

/* for (i < n) dst[i] = expr, a loop the compiler can vectorize. */
#define DLC_RED_LOOP(n, body)                                                                      \
    do {                                                                                           \
        for (size_t i = 0; i < (n); i++) {                                                         \
            body;                                                                                  \
        }                                                                                          \
    } while (0)

#endif
