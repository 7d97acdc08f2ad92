/*
 * test_reduce_kernels.c -- the reduction kernels (plugin/coll/reduce/) on
 * their own: float16 / bfloat16 conversions (every float16 bit pattern,
 * rounding ties, overflow, subnormals, NaN), integer wrap-around, integer
 * avg, NaN propagation of min / max, bool, and which dtype / op pairs are
 * refused.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "plugin/coll/reduce/half.h"
#include "plugin/coll/reduce/reduce.h"

static DLDataType dt(uint8_t code, uint8_t bits)
{
    DLDataType d = {code, bits, 1};
    return d;
}

static dlc_red resolve(dlcoll_red_op_t op, DLDataType d, int n, double factor)
{
    dlcoll_reduction_t r = dlcoll_reduction(op);
    r.factor = factor;
    dlc_red out;
    dlc_err err;
    dlc_err_clear(&err);
    cr_assert_eq(dlc_red_resolve(&r, d, n, &out, &err), DLCOLL_SUCCESS, "%s", err.msg);
    return out;
}

Test(half, every_float16_round_trips)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dlc_h2f((uint16_t)h);
        uint16_t back = dlc_f2h(f);
        int is_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu);
        if (is_nan)
            cr_assert((back & 0x7c00u) == 0x7c00u && (back & 0x3ffu), "NaN %#x -> %#x", h, back);
        else
            cr_assert_eq(back, h, "%#x -> %a -> %#x", h, (double)f, back);
    }
}

/* f2h gives the nearest float16 (ties to even) for floats between them. */
Test(half, float16_rounds_to_nearest_even)
{
    cr_assert_eq(dlc_f2h(1.0f + 0x1p-11f), 0x3c00); /* tie, to even (1.0) */
    cr_assert_eq(dlc_f2h(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie, to even (1 + 2^-9) */
    cr_assert_eq(dlc_f2h(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    cr_assert_eq(dlc_f2h(65504.0f), 0x7bff);
    cr_assert_eq(dlc_f2h(65519.0f), 0x7bff);
    cr_assert_eq(dlc_f2h(65520.0f), 0x7c00); /* rounds to infinity */
    cr_assert_eq(dlc_f2h(-1e10f), 0xfc00);
    cr_assert_eq(dlc_f2h(0x1p-24f), 0x0001);   /* smallest subnormal */
    cr_assert_eq(dlc_f2h(0x1p-25f), 0x0000);   /* tie, to even (0) */
    cr_assert_eq(dlc_f2h(0x1.8p-24f), 0x0002); /* tie, to even (2) */
    cr_assert_eq(dlc_f2h(0x1p-26f), 0x0000);
    cr_assert_eq(dlc_f2h(-0.0f), 0x8000);
    for (uint32_t h = 0; h < 0x7bff; h++) { /* midpoints between neighbours */
        float lo = dlc_h2f((uint16_t)h), hi = dlc_h2f((uint16_t)(h + 1));
        float mid = (float)(((double)lo + (double)hi) / 2);
        uint16_t want = (h & 1u) ? (uint16_t)(h + 1) : (uint16_t)h;
        cr_assert_eq(dlc_f2h(mid), want, "midpoint of %#x and %#x", h, h + 1);
        cr_assert_eq(dlc_f2h(nextafterf(mid, 0)), h);
        cr_assert_eq(dlc_f2h(nextafterf(mid, INFINITY)), h + 1);
    }
}

Test(half, bfloat16)
{
    cr_assert_eq(dlc_f2bf(1.0f), 0x3f80);
    cr_assert_eq(dlc_f2bf(1.0f + 0x1p-8f), 0x3f80);   /* tie, to even */
    cr_assert_eq(dlc_f2bf(1.0f + 3 * 0x1p-8f), 0x3f82); /* tie, to even */
    cr_assert_eq(dlc_f2bf(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    cr_assert_eq(dlc_f2bf(3.4e38f), 0x7f80); /* above the largest bfloat16: infinity */
    uint16_t n = dlc_f2bf(NAN);
    cr_assert((n & 0x7f80u) == 0x7f80u && (n & 0x7fu), "NaN -> %#x", n);
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7f80u) == 0x7f80u && (h & 0x7fu))
            continue;
        cr_assert_eq(dlc_f2bf(dlc_bf2f((uint16_t)h)), h);
    }
}

Test(kernels, float16_sum_rounds_once)
{
    /* 2048 + 1 + 1 in float16 step by step is 2048 (each +1 is a tie to
     * even); accumulated in float32 and rounded once it is 2050. */
    dlc_red r = resolve(DLCOLL_RED_SUM, dt(kDLFloat, 16), 3, 1);
    uint16_t a = dlc_f2h(2048.0f), b = dlc_f2h(1.0f), c = dlc_f2h(1.0f), out;
    float acc;
    r.k->first(&r, &acc, &a, 1);
    r.k->accum(&r, &acc, &b, 1);
    r.k->final(&r, &out, &acc, &c, 1);
    cr_assert_eq(dlc_h2f(out), 2050.0f);
}

Test(kernels, premul_avg_and_nan)
{
    dlc_red r = resolve(DLCOLL_RED_PREMUL_SUM, dt(kDLFloat, 32), 2, 0.5);
    float x[2] = {3, NAN}, y[2] = {5, 1}, acc[2], out[2];
    r.k->first(&r, acc, x, 2);
    r.k->final(&r, out, acc, y, 2);
    cr_assert_eq(out[0], 4.0f); /* 0.5*3 + 0.5*5 */
    cr_assert(isnan(out[1]));
    r = resolve(DLCOLL_RED_AVG, dt(kDLFloat, 64), 2, 1);
    double dx = 3, dy = 4, dacc, dout;
    r.k->first(&r, &dacc, &dx, 1);
    r.k->final(&r, &dout, &dacc, &dy, 1);
    cr_assert_eq(dout, 3.5);
    for (int op = DLCOLL_RED_MIN; op <= DLCOLL_RED_MAX; op++) {
        r = resolve((dlcoll_red_op_t)op, dt(kDLFloat, 32), 2, 1);
        float p[2] = {NAN, 1}, q[2] = {1, NAN}, a2[2], o2[2];
        r.k->first(&r, a2, p, 2);
        r.k->final(&r, o2, a2, q, 2);
        cr_assert(isnan(o2[0]) && isnan(o2[1]), "min/max must propagate NaN from either side");
    }
    /* A single contribution (N = 1) in place. */
    r = resolve(DLCOLL_RED_PREMUL_SUM, dt(kDLBfloat, 16), 1, 2.0);
    uint16_t h = dlc_f2bf(1.5f);
    r.k->final(&r, &h, NULL, &h, 1);
    cr_assert_eq(dlc_bf2f(h), 3.0f);
}

Test(kernels, integers_wrap_and_avg_truncates)
{
    dlc_red r = resolve(DLCOLL_RED_SUM, dt(kDLInt, 8), 2, 1);
    int8_t a = 127, b = 1, acc, out;
    r.k->first(&r, &acc, &a, 1);
    r.k->final(&r, &out, &acc, &b, 1);
    cr_assert_eq(out, -128);
    r = resolve(DLCOLL_RED_PROD, dt(kDLInt, 32), 2, 1);
    int32_t p = 65536, q = 65536, pacc, pout;
    r.k->first(&r, &pacc, &p, 1);
    r.k->final(&r, &pout, &pacc, &q, 1);
    cr_assert_eq(pout, 0);
    r = resolve(DLCOLL_RED_AVG, dt(kDLInt, 16), 2, 1);
    int16_t m = -3, n = -4, macc, mout;
    r.k->first(&r, &macc, &m, 1);
    r.k->final(&r, &mout, &macc, &n, 1);
    cr_assert_eq(mout, -3); /* -7 / 2 truncates toward zero */
    r = resolve(DLCOLL_RED_MIN, dt(kDLInt, 64), 2, 1);
    int64_t s = -1, t = 1, sacc, sout;
    r.k->first(&r, &sacc, &s, 1);
    r.k->final(&r, &sout, &sacc, &t, 1);
    cr_assert_eq(sout, -1);
    r = resolve(DLCOLL_RED_MIN, dt(kDLUInt, 64), 2, 1);
    uint64_t u = UINT64_MAX, v = 1, uacc, uout;
    r.k->first(&r, &uacc, &u, 1);
    r.k->final(&r, &uout, &uacc, &v, 1);
    cr_assert_eq(uout, 1);
    r = resolve(DLCOLL_RED_BXOR, dt(kDLUInt, 16), 2, 1);
    uint16_t x = 0xff00, y = 0x0ff0, xacc, xout;
    r.k->first(&r, &xacc, &x, 1);
    r.k->final(&r, &xout, &xacc, &y, 1);
    cr_assert_eq(xout, 0xf0f0);
}

Test(kernels, bool_is_logical)
{
    uint8_t a[4] = {0, 0, 7, 200}, b[4] = {0, 9, 0, 1}, acc[4], out[4];
    const uint8_t want_or[4] = {0, 1, 1, 1}, want_and[4] = {0, 0, 0, 1}, want_xor[4] = {0, 1, 1, 0};
    struct {
        dlcoll_red_op_t op;
        const uint8_t *want;
    } cases[] = {{DLCOLL_RED_SUM, want_or},   {DLCOLL_RED_MAX, want_or},
                 {DLCOLL_RED_BOR, want_or},   {DLCOLL_RED_PROD, want_and},
                 {DLCOLL_RED_MIN, want_and},  {DLCOLL_RED_BAND, want_and},
                 {DLCOLL_RED_BXOR, want_xor}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dlc_red r = resolve(cases[k].op, dt(DLCOLL_DL_BOOL_CODE, 8), 2, 1);
        r.k->first(&r, acc, a, 4);
        r.k->final(&r, out, acc, b, 4);
        cr_assert_arr_eq(out, cases[k].want, 4, "op %d", (int)cases[k].op);
    }
}

Test(kernels, refused_pairs)
{
    struct {
        dlcoll_red_op_t op;
        DLDataType d;
        dlcoll_status_t want;
    } cases[] = {
        {DLCOLL_RED_SUM, dt(kDLComplex, 64), DLCOLL_ERR_UNSUPPORTED},
        {DLCOLL_RED_AVG, dt(DLCOLL_DL_BOOL_CODE, 8), DLCOLL_ERR_UNSUPPORTED},
        {DLCOLL_RED_PREMUL_SUM, dt(DLCOLL_DL_BOOL_CODE, 8), DLCOLL_ERR_UNSUPPORTED},
        {DLCOLL_RED_PREMUL_SUM, dt(kDLInt, 32), DLCOLL_ERR_UNSUPPORTED},
        {DLCOLL_RED_BAND, dt(kDLFloat, 32), DLCOLL_ERR_UNSUPPORTED},
        {DLCOLL_RED_BXOR, dt(kDLBfloat, 16), DLCOLL_ERR_UNSUPPORTED},
        {(dlcoll_red_op_t)9, dt(kDLFloat, 32), DLCOLL_ERR_INVALID_ARGUMENT},
        {(dlcoll_red_op_t)-1, dt(kDLFloat, 32), DLCOLL_ERR_INVALID_ARGUMENT},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dlcoll_reduction_t r = dlcoll_reduction(cases[k].op);
        dlc_red out;
        dlc_err err;
        dlc_err_clear(&err);
        cr_assert_eq(dlc_red_resolve(&r, cases[k].d, 2, &out, &err), cases[k].want, "case %zu",
                     k);
        cr_assert_neq(err.msg[0], '\0');
    }
    dlc_red r = resolve(DLCOLL_RED_SUM, dt(kDLFloat, 16), 2, 1);
    cr_assert_eq(r.acc_size, 4, "float16 accumulates in float32");
    r = resolve(DLCOLL_RED_SUM, dt(kDLFloat, 64), 2, 1);
    cr_assert_eq(r.acc_size, 8);
}
