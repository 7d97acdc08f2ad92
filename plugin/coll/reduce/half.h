/*
 * coll/reduce/half.h -- float16 and bfloat16 to and from float32, rounding
 * to nearest, ties to even, without the FPU's rounding mode (integer
 * arithmetic on the bits).  NaN stays NaN (quieted); float16 overflow gives
 * infinity; subnormals are exact.
 */
#ifndef DLC_HALF_H
#define DLC_HALF_H

#include <stdint.h>
#include <string.h>

static inline float dlc_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t dlc_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float dlc_h2f(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1fu)
        return dlc_f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        float v = (float)man * 0x1p-24f; /* exact: man < 2^10 */
        return sign ? -v : v;
    }
    return dlc_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t dlc_f2h(float f)
{
    uint32_t u = dlc_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, set the quiet bit */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* 65520 and above (and infinity) round to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) { /* below 2^-14: a float16 subnormal (or zero) */
        uint32_t e = a >> 23, shift = 126u - e;
        if (shift > 24u)
            return sign;
        uint32_t m = (a & 0x7fffffu) | 0x800000u;
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    r -= 0x38000000u; /* exponent bias 127 -> 15 */
    return (uint16_t)(sign | (r >> 13));
}

static inline float dlc_bf2f(uint16_t h)
{
    return dlc_f32_from_bits((uint32_t)h << 16);
}

static inline uint16_t dlc_f2bf(float f)
{
    uint32_t u = dlc_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

#endif
