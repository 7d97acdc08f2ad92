/*
 * test_reduce_dispatch.c -- the kernels built for AVX2 (coll/reduce/
 * kernels_avx2.c) against the portable ones (kernels_float.c,
 * kernels_half.c, kernels_int.c): every dtype of the three families x every
 * op it supports, first / accum / final over three contributions, in place
 * and not, with lengths that leave every vector tail, on data with NaN,
 * infinities, -0, subnormals and values of every magnitude (random bit
 * patterns for the 16-bit floats and the integers): the accumulators and
 * the outputs must be equal bit for bit.  Also: resolve picks the AVX2 table
 * exactly when the CPU has AVX2 and the plugin was built with it.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "plugin/coll/reduce/reduce.h"

#define MAXN 1031

static uint64_t rnd_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* A float64 value: mostly finite of mixed magnitude, the special values now
 * and then. */
static double value(size_t i, int c)
{
    static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e-310, -4.9e-324,
                                     1e308, 3.4e38, 1.17e-38};
    uint64_t r = rnd();
    if ((r & 31) == 0)
        return special[(r >> 8) % (sizeof special / sizeof special[0])];
    double m = (double)(int64_t)(r >> 11) / (double)(1ull << 52); /* [0, 2048) */
    int e = (int)((r >> 5) % 60) - 30;
    return ((i + (size_t)c) & 1 ? -m : m) * ldexp(1.0, e);
}

static void fill(void *buf, DLDataType dt, size_t n, int c)
{
    size_t es = dt.bits / 8u;
    for (size_t i = 0; i < n; i++) {
        if (dt.code == kDLFloat && dt.bits == 32) {
            ((float *)buf)[i] = (float)value(i, c);
        } else if (dt.code == kDLFloat && dt.bits == 64) {
            ((double *)buf)[i] = value(i, c);
        } else {
            uint64_t r = rnd();
            if (dt.bits == 16 && (r & 7) != 0)
                r &= 0xbfffu; /* mostly moderate exponents, NaN and inf sometimes */
            memcpy((uint8_t *)buf + i * es, &r, es);
        }
    }
}

/* out = final(accum(first(x0), x1), x2) with kernels k; in place: out is x2. */
static void run(const dlc_red_kernels *k, dlc_red *r, const void *x0, const void *x1,
                const void *x2, void *acc, void *out, size_t n, int in_place, size_t esz)
{
    r->k = k;
    k->first(r, acc, x0, n);
    k->accum(r, acc, x1, n);
    if (in_place) {
        memcpy(out, x2, n * esz);
        k->final(r, out, acc, out, n);
    } else {
        k->final(r, out, acc, x2, n);
    }
}

static const DLDataType dtypes[] = {
    {kDLFloat, 32, 1}, {kDLFloat, 64, 1}, {kDLFloat, 16, 1}, {kDLBfloat, 16, 1},
    {kDLInt, 8, 1},    {kDLInt, 16, 1},   {kDLInt, 32, 1},   {kDLInt, 64, 1},
    {kDLUInt, 8, 1},   {kDLUInt, 16, 1},  {kDLUInt, 32, 1},  {kDLUInt, 64, 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

static const dlc_red_kernels *portable(DLDataType dt)
{
    const dlc_red_kernels *k = dlc_red_kernels_float(dt);
    if (!k)
        k = dlc_red_kernels_half(dt);
    if (!k)
        k = dlc_red_kernels_int(dt);
    return k;
}

Test(dispatch, avx2_kernels_bit_identical_to_portable)
{
    const dlcoll_red_op_t ops[] = {DLCOLL_RED_SUM,  DLCOLL_RED_PROD, DLCOLL_RED_MIN,
                                   DLCOLL_RED_MAX,  DLCOLL_RED_AVG,  DLCOLL_RED_PREMUL_SUM,
                                   DLCOLL_RED_BAND, DLCOLL_RED_BOR,  DLCOLL_RED_BXOR};
    const size_t lens[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 255, 256, 257, MAXN};
    static double x[3][MAXN], acc_a[MAXN], acc_b[MAXN], out_a[MAXN], out_b[MAXN];
    int compared = 0, expected = 0;
    for (size_t d = 0; d < N_DTYPES; d++) {
        DLDataType dt = dtypes[d];
        const dlc_red_kernels *port = portable(dt), *vec = dlc_red_kernels_avx2(dt);
        cr_assert_not_null(port);
        int have = vec && dlc_red_cpu_has_avx2();
        if (dt.code == kDLFloat && dt.bits == 16) {
            cr_assert_null(vec, "float16 keeps the portable kernels (kernels_avx2.c says why)");
            continue;
        }
        size_t esz = dt.bits / 8u;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            dlcoll_reduction_t red = dlcoll_reduction(ops[o]);
            red.factor = 0.3;
            dlc_red r;
            dlc_err err;
            dlc_err_clear(&err);
            if (dlc_red_resolve(&red, dt, 3, &r, &err) != DLCOLL_SUCCESS)
                continue; /* an op the dtype does not have */
            for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                size_t n = lens[l];
                for (int in_place = 0; in_place < 2; in_place++) {
                    expected++;
                    if (!have)
                        continue;
                    for (int c = 0; c < 3; c++)
                        fill(x[c], dt, n, c);
                    run(port, &r, x[0], x[1], x[2], acc_a, out_a, n, in_place, esz);
                    run(vec, &r, x[0], x[1], x[2], acc_b, out_b, n, in_place, esz);
                    cr_assert(memcmp(acc_a, acc_b, n * r.acc_size) == 0,
                              "dtype %d/%d op %d n %zu: accumulators differ", dt.code, dt.bits,
                              (int)ops[o], n);
                    cr_assert(memcmp(out_a, out_b, n * esz) == 0,
                              "dtype %d/%d op %d n %zu in_place %d: outputs differ", dt.code,
                              dt.bits, (int)ops[o], n, in_place);
                    compared++;
                }
            }
        }
    }
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2"))
        cr_assert_eq(compared, expected, "compared %d of %d cases", compared, expected);
#endif
    cr_assert(expected > 200, "only %d cases", expected);
}

Test(dispatch, resolve_picks_avx2_exactly_when_available)
{
    for (size_t d = 0; d < N_DTYPES; d++) {
        dlcoll_reduction_t red = dlcoll_reduction(DLCOLL_RED_SUM);
        dlc_red r;
        dlc_err err;
        dlc_err_clear(&err);
        cr_assert_eq(dlc_red_resolve(&red, dtypes[d], 2, &r, &err), DLCOLL_SUCCESS);
        const dlc_red_kernels *vec = dlc_red_kernels_avx2(dtypes[d]);
        const dlc_red_kernels *want = vec && dlc_red_cpu_has_avx2() ? vec : portable(dtypes[d]);
        cr_assert_eq(r.k, want, "dtype %zu: resolve chose another kernel table", d);
    }
#if defined(__x86_64__) && defined(__GNUC__)
    /* The plugin's x86-64 GCC/Clang build always has the AVX2 tables. */
    DLDataType f32 = {kDLFloat, 32, 1};
    cr_assert_not_null(dlc_red_kernels_avx2(f32));
#endif
}
