/*
 * copy_stream.c -- streaming (non-temporal) copies (copy_stream.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/util/copy_stream.h"

#if defined(__x86_64__)
#include <emmintrin.h>

void dlc_copy_stream(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    /* Streaming stores need a 16-byte aligned destination: copy the head. */
    size_t head = (16u - ((uintptr_t)d & 15u)) & 15u;
    if (head > n)
        head = n;
    memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    for (; n >= 64; d += 64, s += 64, n -= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + 32));
        __m128i e = _mm_loadu_si128((const __m128i *)(const void *)(s + 48));
        _mm_stream_si128((__m128i *)(void *)d, a);
        _mm_stream_si128((__m128i *)(void *)(d + 16), b);
        _mm_stream_si128((__m128i *)(void *)(d + 32), c);
        _mm_stream_si128((__m128i *)(void *)(d + 48), e);
    }
    memcpy(d, s, n);
    _mm_sfence();
}
#else
void dlc_copy_stream(void *dst, const void *src, size_t n)
{
    memcpy(dst, src, n);
}
#endif

#define STREAM_MIN_UNKNOWN_CACHE ((size_t)16 << 20)

static size_t cache_half(void)
{
    long llc = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
    if (llc <= 0)
        llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return llc > 0 ? (size_t)llc / 2 : STREAM_MIN_UNKNOWN_CACHE;
}

size_t dlc_stream_min_bytes(long long configured)
{
    if (configured >= 0)
        return configured > 0 ? (size_t)configured : SIZE_MAX;
    /* Benign race: every thread computes the same value. */
    static _Atomic size_t cached;
    size_t v = cached;
    if (v == 0) {
        v = cache_half();
        cached = v;
    }
    return v;
}
