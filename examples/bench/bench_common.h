/*
 * bench_common.h -- what every allgather benchmark driver shares.
 *
 * dlcoll-bench (the plugin, through the ABI), mpi_allgather_bench (Open MPI or
 * MPICH), gloo_allgather_bench (Gloo, C++) and memcpy_bound (the copy bound)
 * all include this header, so that they parse the same options, pick the same
 * iteration counts, fill and verify data the same way and print the same
 * table and CSV.  A comparison is only fair when the method is identical.
 *
 * Header-only (static functions), C11 and C++11 clean.
 *
 * The method, per (size, convention), the same on every rank:
 *   1. barrier; a probe of 2 timed calls (first connections, page faults);
 *      the slowest rank's faster call is t_probe;
 *   2. warm-up: -w calls, or by default min(auto/10, 20% of the budget),
 *      3..100; t_warm is the slowest rank's median warm-up call;
 *   3. timed calls: -n, or by default min(auto, budget / t_warm), 5..1000,
 *      where auto = 1 GiB / (N * size) ("iterations scaled by size") and the
 *      budget is -T seconds;
 *   4. every call is timed on its own; per rank avg/median/min/max over the
 *      calls; the table shows the maximum over ranks of each (the slowest
 *      rank decides when a collective is done).  The median is there for busy
 *      machines, where a few calls that lose the CPU dominate the average;
 *   5. after timing, every byte of the output is compared with the sending
 *      rank's pattern; the verdicts are combined over ranks.
 * All decisions use values reduced over ranks, so every rank runs exactly the
 * same number of collective calls.
 *
 * algbw = N * size / avg time (GB/s, 1e9 bytes), busbw = (N - 1) / N * algbw,
 * with size the per-rank input size in bytes.  (The CSV has the median too,
 * so a report can compute bandwidth from it.)
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ options */

#define BENCH_MAX_SIZE_DEFAULT ((size_t)64 << 20)
#define BENCH_AUTO_BYTES ((double)(1u << 30))   /* bytes gathered per size, by default */
#define BENCH_AUTO_MAX_ITERS 1000
#define BENCH_MIN_ITERS 5
#define BENCH_MAX_WARMUP 100

typedef struct bench_opts {
    size_t min_size, max_size;  /* -b, -e: per-rank bytes                    */
    double factor;              /* -f: size step (>= 2 in practice)           */
    int warmup;                 /* -w: warm-up calls, -1 = automatic          */
    int iters;                  /* -n: timed calls, -1 = automatic            */
    double budget_s;            /* -T: seconds of timed calls per size        */
    const char *csv_path;       /* -c: CSV file (rank 0 writes it)            */
    const char *system;         /* -s: label in the table and CSV             */
    int quiet;                  /* -q: no table on stdout (CSV only)          */
} bench_opts;

static inline void bench_opts_default(bench_opts *o, const char *system)
{
    memset(o, 0, sizeof *o);
    o->min_size = 8;
    o->max_size = BENCH_MAX_SIZE_DEFAULT;
    o->factor = 2.0;
    o->warmup = -1;
    o->iters = -1;
    o->budget_s = 1.0;
    o->csv_path = NULL;
    o->system = system;
}

/* "64", "4K", "16M", "1G" (powers of 1024; "KiB", "MB" ... also accepted).
 * Returns 0 and the byte count, or -1. */
static inline int bench_parse_size(const char *s, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -1;
    unsigned long long mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    default: return -1;
    }
    if (*end == 'i')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0' || v > (1ull << 40) / mul)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

/* Human-readable size: "8", "64K", "16M" (exact powers), else bytes. */
static inline const char *bench_size_text(size_t n, char *buf, size_t cap)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, cap, "%zuM", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, cap, "%zuK", n >> 10);
    else
        snprintf(buf, cap, "%zu", n);
    return buf;
}

/* The options every driver takes. */
#define BENCH_COMMON_OPTSTRING "b:e:f:w:n:T:c:s:qh"

static inline void bench_common_usage(FILE *f)
{
    fprintf(f,
            "  -b SIZE    smallest per-rank size in bytes (K/M/G suffixes; default 8)\n"
            "  -e SIZE    largest per-rank size (default 64M)\n"
            "  -f FACTOR  size multiplier between steps (default 2)\n"
            "  -w N       warm-up calls per size (default: automatic, 3..100)\n"
            "  -n N       timed calls per size (default: 1 GiB / (ranks * size),\n"
            "             5..1000, fewer when they would exceed the -T budget)\n"
            "  -T SECS    time budget for the timed calls of one size (default 1)\n"
            "  -c FILE    also write the results as CSV to FILE (rank 0)\n"
            "  -s NAME    system label in the table and CSV\n"
            "  -q         no table on stdout (errors still go to stderr)\n"
            "  -h         this help\n");
}

/* Handle one common option; returns 1 if handled, 0 if not a common option,
 * -1 on a bad value (message already printed). */
static inline int bench_common_opt(bench_opts *o, int opt, const char *arg, const char *prog)
{
    char *end = NULL;
    switch (opt) {
    case 'b':
    case 'e':
        if (bench_parse_size(arg, opt == 'b' ? &o->min_size : &o->max_size) != 0) {
            fprintf(stderr, "%s: -%c %s: not a size (e.g. 8, 64K, 16M)\n", prog, opt, arg);
            return -1;
        }
        return 1;
    case 'f':
        o->factor = strtod(arg, &end);
        if (!end || *end || !(o->factor > 1.0)) {
            fprintf(stderr, "%s: -f %s: the factor must be a number > 1\n", prog, arg);
            return -1;
        }
        return 1;
    case 'w':
    case 'n': {
        long v = strtol(arg, &end, 10);
        if (!end || *end || v < (opt == 'w' ? 0 : 1) || v > 100000000) {
            fprintf(stderr, "%s: -%c %s: expected a count %s\n", prog, opt, arg,
                    opt == 'w' ? ">= 0" : ">= 1");
            return -1;
        }
        if (opt == 'w')
            o->warmup = (int)v;
        else
            o->iters = (int)v;
        return 1;
    }
    case 'T':
        o->budget_s = strtod(arg, &end);
        if (!end || *end || !(o->budget_s > 0.0) || o->budget_s > 3600.0) {
            fprintf(stderr, "%s: -T %s: expected seconds > 0\n", prog, arg);
            return -1;
        }
        return 1;
    case 'c':
        o->csv_path = arg;
        return 1;
    case 's':
        o->system = arg;
        return 1;
    case 'q':
        o->quiet = 1;
        return 1;
    default:
        return 0;
    }
}

/* Check the option set as a whole. */
static inline int bench_opts_check(const bench_opts *o, const char *prog)
{
    if (o->min_size < 1 || o->max_size < o->min_size) {
        fprintf(stderr, "%s: sizes: need 1 <= -b (%zu) <= -e (%zu)\n", prog, o->min_size,
                o->max_size);
        return -1;
    }
    return 0;
}

/* The next size after s: s * factor, at least s + 1. */
static inline size_t bench_next_size(const bench_opts *o, size_t s)
{
    double next = (double)s * o->factor;
    size_t n = (size_t)(next + 0.5);
    return n > s ? n : s + 1;
}

/* ------------------------------------------------------------------ time */

static inline double bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ------------------------------------------------------------------ data */

/* Word j (8 bytes) of rank r's block for seed: a mixed hash, so that a block
 * from the wrong rank, a shifted copy or stale data from another size is
 * always noticed. */
static inline uint64_t bench_word(int r, uint32_t seed, uint64_t j)
{
    uint64_t x = j * UINT64_C(0x9E3779B97F4A7C15) + (uint64_t)(r + 1) * UINT64_C(0xD1B54A32D192ED03) +
                 (uint64_t)seed * UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 29;
    return x;
}

/* Byte i of rank r's block. */
static inline uint8_t bench_byte(int r, uint32_t seed, size_t i)
{
    uint64_t w = bench_word(r, seed, i / 8);
    uint8_t b[8];
    memcpy(b, &w, 8);
    return b[i % 8];
}

/* Fill len bytes with rank r's pattern; invert != 0 writes its complement
 * (the "poison" put into outputs before a run: every byte differs from the
 * expected one, so a byte nobody wrote can never pass the check). */
static inline void bench_fill(void *buf, size_t len, int r, uint32_t seed, int invert)
{
    uint8_t *p = (uint8_t *)buf;
    size_t words = len / 8;
    uint64_t mask = invert ? ~UINT64_C(0) : 0;
    for (size_t j = 0; j < words; j++) {
        uint64_t w = bench_word(r, seed, j) ^ mask;
        memcpy(p + 8 * j, &w, 8);
    }
    for (size_t i = words * 8; i < len; i++)
        p[i] = (uint8_t)(bench_byte(r, seed, i) ^ (uint8_t)mask);
}

/* Offset of the first byte of buf that differs from rank r's pattern, or
 * (size_t)-1 when all len bytes match. */
static inline size_t bench_find_bad(const void *buf, size_t len, int r, uint32_t seed)
{
    const uint8_t *p = (const uint8_t *)buf;
    size_t words = len / 8;
    for (size_t j = 0; j < words; j++) {
        uint64_t got;
        memcpy(&got, p + 8 * j, 8);
        if (got != bench_word(r, seed, j)) {
            for (size_t i = 8 * j;; i++)
                if (p[i] != bench_byte(r, seed, i))
                    return i;
        }
    }
    for (size_t i = words * 8; i < len; i++)
        if (p[i] != bench_byte(r, seed, i))
            return i;
    return (size_t)-1;
}

/* Seed of the pattern for one size and convention. */
static inline uint32_t bench_seed(size_t size, int conv)
{
    return (uint32_t)(size * 2654435761u) ^ (uint32_t)(conv + 1) * 0x51ED27u;
}

/* Allocation that exits with a message when memory runs out. */
static inline void *bench_xmalloc(size_t n, const char *prog, int rank)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "%s: rank %d: out of memory (%zu bytes)\n", prog, rank, n);
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------ the measurement */

/* What a driver provides: one collective call, a barrier, an in-place
 * maximum over ranks of n doubles (the result on every rank).  Each returns
 * 0 on success; on failure the driver has printed why (naming the rank). */
typedef struct bench_ops {
    void *ctx;
    int (*call)(void *ctx);
    int (*barrier)(void *ctx);
    int (*max_reduce)(void *ctx, double *vals, int n);
} bench_ops;

typedef struct bench_result {
    size_t size;          /* per-rank bytes                          */
    int nranks;
    int warmup, iters;
    double avg_us, med_us, min_us, max_us;   /* each the maximum over ranks */
    double algbw, busbw;  /* GB/s, from avg_us                        */
    int ok;               /* data verified on every rank               */
} bench_result;

static inline double bench_fmin(double a, double b)
{
    return a < b ? a : b;
}

static inline int bench_clamp(double v, int lo, int hi)
{
    if (!(v >= lo))    /* also NaN */
        return lo;
    if (v > hi)
        return hi;
    return (int)v;
}

/* Median of n values (reorders them). */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Call ops->call n times, storing each call's time in times[0..n-1]. */
static inline int bench_timed_calls(const bench_ops *ops, int n, double *times)
{
    for (int i = 0; i < n; i++) {
        double a = bench_now_us();
        int rc = ops->call(ops->ctx);
        if (rc != 0)
            return rc;
        times[i] = bench_now_us() - a;
    }
    return 0;
}

/* Steps 1-4 of the method (top of the file), with times[] big enough for
 * BENCH_MAX_WARMUP, BENCH_AUTO_MAX_ITERS and o->iters values. */
static inline int bench_measure_into(const bench_ops *ops, const bench_opts *o, size_t size,
                                     int nranks, double *times, bench_result *res)
{
    double gathered = (double)size * (double)(nranks > 0 ? nranks : 1);
    int auto_iters = bench_clamp(BENCH_AUTO_BYTES / gathered, BENCH_MIN_ITERS, BENCH_AUTO_MAX_ITERS);
    int rc;

    if ((rc = ops->barrier(ops->ctx)) != 0)
        return rc;

    /* 1. Probe (skipped when both counts are given): the first calls of a
     *    size may connect peers or fault pages in. */
    double t_probe = 0.0;
    if (o->warmup < 0 || o->iters < 0) {
        if ((rc = bench_timed_calls(ops, 2, times)) != 0)
            return rc;
        t_probe = bench_fmin(times[0], times[1]);
        if ((rc = ops->max_reduce(ops->ctx, &t_probe, 1)) != 0)
            return rc;
        if (t_probe < 0.01)
            t_probe = 0.01;
    }

    /* 2. Warm-up.  Its median call time estimates the cost of a call: the
     *    median, because on a busy machine a single call can take a whole
     *    scheduler time slice. */
    int warm = o->warmup >= 0
                   ? o->warmup
                   : bench_clamp(bench_fmin(auto_iters / 10.0, 0.2 * o->budget_s * 1e6 / t_probe), 3,
                                 BENCH_MAX_WARMUP);
    if ((rc = bench_timed_calls(ops, warm, times)) != 0)
        return rc;
    double t_warm = warm > 0 ? bench_median(times, warm) : t_probe;

    /* 3. How many timed calls. */
    int iters = o->iters;
    if (iters < 0) {
        if ((rc = ops->max_reduce(ops->ctx, &t_warm, 1)) != 0)
            return rc;
        if (t_warm < 0.01)
            t_warm = 0.01;
        iters = bench_clamp(bench_fmin((double)auto_iters, o->budget_s * 1e6 / t_warm),
                            BENCH_MIN_ITERS, BENCH_AUTO_MAX_ITERS);
    }

    /* 4. Timed calls, each on its own. */
    if ((rc = ops->barrier(ops->ctx)) != 0)
        return rc;
    if ((rc = bench_timed_calls(ops, iters, times)) != 0)
        return rc;
    double sum = 0.0, tmin = 1e300, tmax = 0.0;
    for (int i = 0; i < iters; i++) {
        sum += times[i];
        tmin = bench_fmin(tmin, times[i]);
        tmax = times[i] > tmax ? times[i] : tmax;
    }
    double stats[4] = {sum / iters, bench_median(times, iters), tmin, tmax};
    if ((rc = ops->max_reduce(ops->ctx, stats, 4)) != 0)
        return rc;

    res->warmup = warm;
    res->iters = iters;
    res->avg_us = stats[0];
    res->med_us = stats[1];
    res->min_us = stats[2];
    res->max_us = stats[3];
    res->algbw = gathered / (stats[0] * 1e-6) / 1e9;
    res->busbw = nranks > 1 ? res->algbw * (nranks - 1) / nranks : res->algbw;
    return 0;
}

/* Measure one size (steps 1-4); fills *res except res->ok.  Returns 0, or
 * the first failing call's result. */
static inline int bench_measure(const bench_ops *ops, const bench_opts *o, size_t size, int nranks,
                                bench_result *res)
{
    int cap = BENCH_AUTO_MAX_ITERS;
    if (o->iters > cap)
        cap = o->iters;
    if (o->warmup > cap)
        cap = o->warmup;
    double *times = (double *)bench_xmalloc(sizeof(double) * (size_t)cap, "bench", -1);
    memset(res, 0, sizeof *res);
    res->size = size;
    res->nranks = nranks;
    int rc = bench_measure_into(ops, o, size, nranks, times, res);
    free(times);
    return rc;
}

/* ------------------------------------------------------------------ output */

/* Table: one row per (size, convention). */
static inline void bench_print_header(FILE *f)
{
    fprintf(f, "#%11s %12s %7s %7s %11s %11s %11s %11s %11s %11s %6s\n", "size(B)", "count", "conv",
            "iters", "avg(us)", "median(us)", "min(us)", "max(us)", "algbw(GB/s)", "busbw(GB/s)",
            "check");
    fflush(f);
}

static inline void bench_print_row(FILE *f, const bench_result *r, const char *conv)
{
    fprintf(f, "%12zu %12zu %7s %7d %11.2f %11.2f %11.2f %11.2f %11.3f %11.3f %6s\n", r->size,
            r->size, conv, r->iters, r->avg_us, r->med_us, r->min_us, r->max_us, r->algbw, r->busbw,
            r->ok ? "ok" : "FAILED");
    fflush(f);
}

#define BENCH_CSV_HEADER                                                                \
    "system,provider,algo,np,conv,size,count,warmup,iters,avg_us,med_us,min_us,max_us," \
    "algbw_GBps,busbw_GBps,check\n"

/* Open the CSV file (rank 0) and write the header; NULL path: no CSV. */
static inline FILE *bench_csv_open(const char *path, const char *prog)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write CSV file %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    fputs(BENCH_CSV_HEADER, f);
    fflush(f);
    return f;
}

static inline void bench_csv_row(FILE *f, const char *system, const char *provider, const char *algo,
                                 const bench_result *r, const char *conv)
{
    if (!f)
        return;
    fprintf(f, "%s,%s,%s,%d,%s,%zu,%zu,%d,%d,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%s\n", system, provider,
            algo, r->nranks, conv, r->size, r->size, r->warmup, r->iters, r->avg_us, r->med_us,
            r->min_us, r->max_us, r->algbw, r->busbw, r->ok ? "ok" : "FAILED");
    fflush(f);
}

#endif /* BENCH_COMMON_H */
