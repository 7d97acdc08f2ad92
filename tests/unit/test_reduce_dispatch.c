/*
 * test_reduce_dispatch.c -- the AVX2 float kernels (coll/reduce/
 * kernels_float_avx2.c) against the portable ones (kernels_float.c): every
 * op of float32 and float64, first / accum / final over three contributions,
 * in place and not, with lengths that leave every vector tail, on data with
 * NaN, infinities, -0, subnormals and values of every magnitude: the outputs
 * must be equal bit for bit.  Also: dispatch picks the AVX2 table exactly
 * when the CPU has AVX2 and the plugin was built with it.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "plugin/coll/reduce/reduce.h"

#define MAXN 1031

static DLDataType fdt(uint8_t bits)
{
    DLDataType d = {kDLFloat, bits, 1};
    return d;
}

static uint64_t rnd_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* Element i of contribution c: mostly finite values of mixed magnitude, and
 * the special values now and then. */
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

static void fill(void *buf, int bits, size_t n, int c)
{
    for (size_t i = 0; i < n; i++) {
        double v = value(i, c);
        if (bits == 32)
            ((float *)buf)[i] = (float)v;
        else
            ((double *)buf)[i] = v;
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

Test(dispatch, avx2_kernels_bit_identical_to_portable)
{
    const dlcoll_red_op_t ops[] = {DLCOLL_RED_SUM, DLCOLL_RED_PROD, DLCOLL_RED_MIN,
                                   DLCOLL_RED_MAX, DLCOLL_RED_AVG, DLCOLL_RED_PREMUL_SUM};
    const size_t lens[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 255, 256, 257, MAXN};
    static double x[3][MAXN], acc_a[MAXN], acc_b[MAXN], out_a[MAXN], out_b[MAXN];
    int compared = 0;
    for (int bits = 32; bits <= 64; bits += 32) {
        const dlc_red_kernels *port = dlc_red_kernels_float(fdt((uint8_t)bits));
        const dlc_red_kernels *vec = dlc_red_kernels_float_avx2(fdt((uint8_t)bits));
        cr_assert_not_null(port);
        if (!vec || !dlc_red_cpu_has_avx2())
            continue; /* counted below: the dispatch test covers this case */
        size_t esz = (size_t)bits / 8;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
                size_t n = lens[l];
                for (int c = 0; c < 3; c++)
                    fill(x[c], bits, n, c);
                for (int in_place = 0; in_place < 2; in_place++) {
                    dlcoll_reduction_t red = dlcoll_reduction(ops[o]);
                    red.factor = 0.3;
                    dlc_red r;
                    dlc_err err;
                    dlc_err_clear(&err);
                    cr_assert_eq(dlc_red_resolve(&red, fdt((uint8_t)bits), 3, &r, &err),
                                 DLCOLL_SUCCESS, "%s", err.msg);
                    run(port, &r, x[0], x[1], x[2], acc_a, out_a, n, in_place, esz);
                    run(vec, &r, x[0], x[1], x[2], acc_b, out_b, n, in_place, esz);
                    cr_assert(memcmp(acc_a, acc_b, n * esz) == 0,
                              "float%d op %d n %zu: accumulators differ", bits, (int)ops[o], n);
                    cr_assert(memcmp(out_a, out_b, n * esz) == 0,
                              "float%d op %d n %zu in_place %d: outputs differ", bits, (int)ops[o],
                              n, in_place);
                    compared++;
                }
            }
        }
    }
    cr_assert(compared == 0 || compared == 2 * 6 * 13 * 2, "compared %d cases", compared);
}

Test(dispatch, resolve_picks_avx2_exactly_when_available)
{
    for (int bits = 32; bits <= 64; bits += 32) {
        dlcoll_reduction_t red = dlcoll_reduction(DLCOLL_RED_SUM);
        dlc_red r;
        dlc_err err;
        dlc_err_clear(&err);
        cr_assert_eq(dlc_red_resolve(&red, fdt((uint8_t)bits), 2, &r, &err), DLCOLL_SUCCESS);
        const dlc_red_kernels *vec = dlc_red_kernels_float_avx2(fdt((uint8_t)bits));
        const dlc_red_kernels *want =
            vec && dlc_red_cpu_has_avx2() ? vec : dlc_red_kernels_float(fdt((uint8_t)bits));
        cr_assert_eq(r.k, want, "float%d: resolve chose another kernel table", bits);
    }
#if defined(__x86_64__) && defined(__GNUC__)
    /* The plugin's x86-64 GCC/Clang build always has the AVX2 table. */
    cr_assert_not_null(dlc_red_kernels_float_avx2(fdt(32)));
#endif
}
