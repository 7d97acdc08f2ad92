/*
 * mp_reduce.c -- inputs and references of the reduction tests (mp_reduce.h).
 * Independent of the plugin's code: its own float16 / bfloat16 encoding
 * (exact, for representable values) and decoding (ldexp).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mp_reduce.h"

enum { K_BOOL, K_INT, K_UINT, K_FLOAT, K_COMPLEX };

static int kind(DLDataType dt)
{
    switch (dt.code) {
    case kDLInt: return K_INT;
    case kDLUInt: return K_UINT;
    case kDLFloat:
    case kDLBfloat: return K_FLOAT;
    case kDLComplex: return K_COMPLEX;
    default: return K_BOOL;
    }
}

static const char *const names[MP_N_RED_OPS] = {"sum",        "prod", "min", "max", "avg",
                                                "premul_sum", "band", "bor", "bxor"};

const char *mp_red_name(int op)
{
    return op >= 0 && op < MP_N_RED_OPS ? names[op] : "?";
}

int mp_red_supported(DLDataType dt, int op)
{
    int k = kind(dt), bitwise = op >= DLCOLL_RED_BAND;
    switch (k) {
    case K_BOOL: return op != DLCOLL_RED_AVG && op != DLCOLL_RED_PREMUL_SUM;
    case K_INT:
    case K_UINT: return op != DLCOLL_RED_PREMUL_SUM;
    case K_FLOAT: return !bitwise;
    default: return 0;
    }
}

uint64_t mp_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix(uint32_t seed, int r, size_t i)
{
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)(r + 1) * 0xC2B2AE3D27D4EB4Full +
                 (uint64_t)seed * 0x165667B19E3779F9ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    x *= 0x94D049BB133111EBull;
    return x ^ (x >> 32);
}

/* The float value of element i of rank r (exactly representable in dt). */
static double fvalue(DLDataType dt, int op, uint32_t seed, int r, size_t i, int nranks_nan)
{
    uint64_t h = mix(seed, r, i);
    if (op == DLCOLL_RED_PROD) {
        static const double v[] = {0.5, -0.5, 0.75, -0.75, 1.0, 1.5, 2.0, -1.0};
        return v[h % 8];
    }
    if (dt.code == kDLBfloat)
        return (double)((int)(h % 511) - 255) / 16.0;
    return (double)((int)(h % 4095) - 2047) / 64.0;
}

static int is_nan_elem(int nan, int r, int nranks, size_t i)
{
    return nan && r == nranks - 1 && i == 5;
}

static uint16_t f16_bits(double v) /* v exactly representable, or NaN */
{
    if (v != v)
        return 0x7e00;
    uint16_t sign = v < 0 ? 0x8000 : 0;
    double a = fabs(v);
    if (a == 0)
        return sign;
    int e;
    double m = frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    if (e - 1 < -14)         /* subnormal: a = k * 2^-24 */
        return (uint16_t)(sign | (uint16_t)ldexp(a, 24));
    uint16_t man = (uint16_t)(ldexp(m, 11) - 1024.0);
    return (uint16_t)(sign | (uint16_t)((e - 1 + 15) << 10) | man);
}

static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, man = h & 0x3ff;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0x1f)
        return man ? NAN : s * INFINITY;
    if (e == 0)
        return s * ldexp(man, -24);
    return s * ldexp(1024 + man, e - 25);
}

static uint16_t bf16_bits(double v)
{
    float f = v != v ? NAN : (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

static double bf16_value(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put_float(void *buf, DLDataType dt, size_t j, double v)
{
    if (dt.code == kDLBfloat) {
        ((uint16_t *)buf)[j] = bf16_bits(v);
    } else if (dt.bits == 16) {
        ((uint16_t *)buf)[j] = f16_bits(v);
    } else if (dt.bits == 32) {
        ((float *)buf)[j] = (float)v;
    } else {
        ((double *)buf)[j] = v;
    }
}

static double get_float(const void *buf, DLDataType dt, size_t j)
{
    if (dt.code == kDLBfloat)
        return bf16_value(((const uint16_t *)buf)[j]);
    if (dt.bits == 16)
        return f16_value(((const uint16_t *)buf)[j]);
    if (dt.bits == 32)
        return ((const float *)buf)[j];
    return ((const double *)buf)[j];
}

/* Integer element j as uint64 (sign-extended for signed dtypes). */
static uint64_t get_int(const void *buf, DLDataType dt, size_t j)
{
    int s = dt.code == kDLInt;
    switch (dt.bits) {
    case 8: return s ? (uint64_t)(int64_t)((const int8_t *)buf)[j] : ((const uint8_t *)buf)[j];
    case 16: return s ? (uint64_t)(int64_t)((const int16_t *)buf)[j] : ((const uint16_t *)buf)[j];
    case 32: return s ? (uint64_t)(int64_t)((const int32_t *)buf)[j] : ((const uint32_t *)buf)[j];
    default: return ((const uint64_t *)buf)[j];
    }
}

static void put_int(void *buf, DLDataType dt, size_t j, uint64_t v)
{
    switch (dt.bits) {
    case 8: ((uint8_t *)buf)[j] = (uint8_t)v; break;
    case 16: ((uint16_t *)buf)[j] = (uint16_t)v; break;
    case 32: ((uint32_t *)buf)[j] = (uint32_t)v; break;
    default: ((uint64_t *)buf)[j] = v; break;
    }
}

static uint64_t ivalue(DLDataType dt, uint32_t seed, int r, size_t i)
{
    uint64_t v = mix(seed, r, i), out;
    uint8_t tmp[8];
    put_int(tmp, dt, 0, v); /* truncate to the width, then read back sign-extended */
    out = get_int(tmp, dt, 0);
    return out;
}

void mp_red_fill(void *buf, DLDataType dt, int op, uint32_t seed, int r, size_t first, size_t n,
                 int nan)
{
    int k = kind(dt);
    /* The fill does not know N; the NaN goes into every rank's element 5
     * only when the caller passes nan = N (see is_nan_elem). */
    for (size_t j = 0; j < n; j++) {
        size_t i = first + j;
        if (k == K_FLOAT) {
            double v = is_nan_elem(nan, r, nan, i) ? NAN : fvalue(dt, op, seed, r, i, nan);
            put_float(buf, dt, j, v);
        } else if (k == K_BOOL) {
            uint64_t h = mix(seed, r, i);
            ((uint8_t *)buf)[j] = (h & 1) ? (uint8_t)(1 + (h >> 8) % 255) : 0;
        } else {
            put_int(buf, dt, j, ivalue(dt, seed, r, i));
        }
    }
}

static double smallest(DLDataType dt)
{
    if (dt.code == kDLBfloat)
        return ldexp(1.0, -133);
    if (dt.bits == 16)
        return ldexp(1.0, -24);
    if (dt.bits == 32)
        return ldexp(1.0, -149);
    return ldexp(1.0, -1074);
}

static double u_out(DLDataType dt)
{
    if (dt.code == kDLBfloat)
        return ldexp(1.0, -8);
    if (dt.bits == 16)
        return ldexp(1.0, -11);
    if (dt.bits == 32)
        return ldexp(1.0, -24);
    return ldexp(1.0, -53);
}

static int check_float(mp_ctx *ctx, const void *got, DLDataType dt, int op, uint32_t seed,
                       int nranks, size_t first, size_t n, int nan, const char *label)
{
    double ua = dt.bits == 64 ? ldexp(1.0, -53) : ldexp(1.0, -24), uo = u_out(dt);
    for (size_t j = 0; j < n; j++) {
        size_t i = first + j;
        double g = get_float(got, dt, j);
        int want_nan = 0;
        double ref = 0, mag = 0;
        for (int r = 0; r < nranks; r++) {
            if (is_nan_elem(nan ? nranks : 0, r, nranks, i)) {
                want_nan = 1;
                continue;
            }
            double x = fvalue(dt, op, seed, r, i, 0);
            double t = op == DLCOLL_RED_PREMUL_SUM ? mp_red_factor(r) * x : x;
            if (r == 0)
                ref = t;
            else if (op == DLCOLL_RED_PROD)
                ref *= t;
            else if (op == DLCOLL_RED_MIN)
                ref = t < ref ? t : ref;
            else if (op == DLCOLL_RED_MAX)
                ref = t > ref ? t : ref;
            else
                ref += t;
            mag += fabs(t);
        }
        if (want_nan) {
            if (g == g) {
                mp_fail(ctx, __FILE__, __LINE__, "%s: element %zu is %.17g, expected NaN", label,
                        i, g);
                return 0;
            }
            continue;
        }
        if (op == DLCOLL_RED_AVG) {
            ref /= nranks;
            mag /= nranks;
        }
        double tol;
        if (op == DLCOLL_RED_MIN || op == DLCOLL_RED_MAX)
            tol = 0;
        else if (op == DLCOLL_RED_PROD)
            tol = (nranks * ua + uo) * fabs(ref) + smallest(dt);
        else
            tol = nranks * ua * mag + (uo + ua) * fabs(ref) + smallest(dt);
        if (!(fabs(g - ref) <= tol)) {
            mp_fail(ctx, __FILE__, __LINE__,
                    "%s: element %zu is %.17g, the float64 reference %.17g (tolerance %.3g)",
                    label, i, g, ref, tol);
            return 0;
        }
    }
    return 1;
}

static uint64_t trunc_w(DLDataType dt, uint64_t v)
{
    uint8_t tmp[8];
    put_int(tmp, dt, 0, v);
    return get_int(tmp, dt, 0);
}

static int check_int(mp_ctx *ctx, const void *got, DLDataType dt, int op, uint32_t seed,
                     int nranks, size_t first, size_t n, const char *label)
{
    int s = dt.code == kDLInt;
    for (size_t j = 0; j < n; j++) {
        size_t i = first + j;
        uint64_t acc = ivalue(dt, seed, 0, i);
        for (int r = 1; r < nranks; r++) {
            uint64_t x = ivalue(dt, seed, r, i);
            switch (op) {
            case DLCOLL_RED_PROD: acc *= x; break;
            case DLCOLL_RED_MIN:
                acc = s ? ((int64_t)x < (int64_t)acc ? x : acc) : (x < acc ? x : acc);
                break;
            case DLCOLL_RED_MAX:
                acc = s ? ((int64_t)x > (int64_t)acc ? x : acc) : (x > acc ? x : acc);
                break;
            case DLCOLL_RED_BAND: acc &= x; break;
            case DLCOLL_RED_BOR: acc |= x; break;
            case DLCOLL_RED_BXOR: acc ^= x; break;
            default: acc += x; break;
            }
            acc = trunc_w(dt, acc);
        }
        if (op == DLCOLL_RED_AVG)
            acc = s ? (uint64_t)((int64_t)acc / nranks) : acc / (uint64_t)nranks;
        acc = trunc_w(dt, acc);
        uint64_t g = get_int(got, dt, j);
        if (g != acc) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: element %zu is %#llx, expected %#llx", label, i,
                    (unsigned long long)g, (unsigned long long)acc);
            return 0;
        }
    }
    return 1;
}

static int check_bool(mp_ctx *ctx, const void *got, int op, uint32_t seed, int nranks,
                      size_t first, size_t n, const char *label)
{
    int is_and = op == DLCOLL_RED_PROD || op == DLCOLL_RED_MIN || op == DLCOLL_RED_BAND;
    for (size_t j = 0; j < n; j++) {
        size_t i = first + j;
        int acc = (mix(seed, 0, i) & 1) != 0;
        for (int r = 1; r < nranks; r++) {
            int x = (mix(seed, r, i) & 1) != 0;
            acc = is_and ? (acc & x) : op == DLCOLL_RED_BXOR ? (acc ^ x) : (acc | x);
        }
        uint8_t g = ((const uint8_t *)got)[j];
        if (g != acc) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: element %zu is %u, expected %d", label, i, g,
                    acc);
            return 0;
        }
    }
    return 1;
}

int mp_red_check(mp_ctx *ctx, const void *got, DLDataType dt, int op, uint32_t seed, int nranks,
                 size_t first, size_t n, int nan, const char *label)
{
    switch (kind(dt)) {
    case K_FLOAT: return check_float(ctx, got, dt, op, seed, nranks, first, n, nan, label);
    case K_BOOL: return check_bool(ctx, got, op, seed, nranks, first, n, label);
    case K_INT:
    case K_UINT: return check_int(ctx, got, dt, op, seed, nranks, first, n, label);
    default: mp_fail(ctx, __FILE__, __LINE__, "%s: no reference for this dtype", label); return 0;
    }
}
