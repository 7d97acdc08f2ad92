/*
 * fault_rank.c -- one rank of a fault-injection trial (scripts/fault-inject.py).
 *
 *   dlcoll-fault-rank --op ag|agl|barrier [--bytes B] [--dtype u8|i32|f32|f64]
 *                     [--async 0|1] [--iters N] [--max-s S] [--timeout-ms T]
 *                     [--mismatch-rank M --mismatch-kind size|dtype|op --mismatch-iter K]
 *
 * Rank, world size, rendezvous and provider come from the environment
 * (DLCOLL_RANK, DLCOLL_WORLD_SIZE, DLCOLL_INIT_METHOD, DLCOLL_PROVIDER, ...).
 * After init it runs the operation in a loop (B bytes per rank; allgather,
 * allgather_list or barrier; blocking, or asynchronous and waited) until one
 * fails, N iterations are done (0: no limit) or S seconds have passed.  With
 * --mismatch-rank, that rank, from iteration K on, passes one element more
 * (size), another dtype of the same width (dtype), or calls the other kind of
 * operation (op: barrier instead of an allgather, an allgather instead of a
 * barrier).
 *
 * It prints one line per event on stdout, flushed at once, with CLOCK_MONOTONIC
 * times in nanoseconds (the clock of Python's time.monotonic_ns()):
 *     READY rank=R pid=P t=NS                after init
 *     ERR rank=R iter=I status=S name=NAME t=NS op_t=NS msg=TEXT
 *                                            the first failed call (op_t: when
 *                                            that operation was issued)
 *     DONE rank=R iters=I t=NS               the loop ended without a failure
 *     BAD rank=R iter=I what=TEXT            a gathered byte was wrong
 *     FIN rank=R status=S t=NS               finalize returned
 * Exit status 0 unless something could not even be tried (2: usage, load or
 * init) or a byte was wrong (1).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The message on one line. */
static void print_msg(const char *m)
{
    for (; m && *m; m++)
        putchar(*m == '\n' || *m == '\r' ? ' ' : *m);
}

static int dtype_of(const char *s, DLDataType *dt)
{
    dt->lanes = 1;
    if (!strcmp(s, "u8")) {
        dt->code = kDLUInt;
        dt->bits = 8;
    } else if (!strcmp(s, "i32")) {
        dt->code = kDLInt;
        dt->bits = 32;
    } else if (!strcmp(s, "f32")) {
        dt->code = kDLFloat;
        dt->bits = 32;
    } else if (!strcmp(s, "f64")) {
        dt->code = kDLFloat;
        dt->bits = 64;
    } else {
        return -1;
    }
    return 0;
}

/* Another dtype of the same width. */
static DLDataType other_dtype(DLDataType dt)
{
    DLDataType o = dt;
    if (dt.bits == 8)
        o.code = kDLInt;
    else
        o.code = dt.code == kDLFloat ? kDLInt : kDLFloat;
    return o;
}

static void tensor1(DLTensor *t, void *data, DLDataType dt, int64_t *shape, int64_t n)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->device.device_type = kDLCPU;
    t->ndim = 1;
    t->dtype = dt;
    shape[0] = n;
    t->shape = shape;
}

static void usage(void)
{
    fprintf(stderr, "usage: dlcoll-fault-rank --op ag|agl|barrier [--bytes B] "
                    "[--dtype u8|i32|f32|f64] [--async 0|1] [--iters N] [--max-s S] "
                    "[--timeout-ms T] [--mismatch-rank M --mismatch-kind size|dtype|op "
                    "--mismatch-iter K] [--plugin PATH]\n");
    exit(2);
}

static long num(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    const char *op = NULL, *dts = "f32", *mkind = "size";
    const char *plugin = getenv("DLCOLL_PLUGIN");
#ifdef DLCOLL_PLUGIN_PATH
    if (!plugin)
        plugin = DLCOLL_PLUGIN_PATH;
#endif
    long bytes = 4096, async = 0, iters = 0, max_s = 60, timeout_ms = 5000;
    long mrank = -1, miter = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--op"))
            op = v;
        else if (!strcmp(a, "--bytes"))
            bytes = num(v);
        else if (!strcmp(a, "--dtype"))
            dts = v;
        else if (!strcmp(a, "--async"))
            async = num(v);
        else if (!strcmp(a, "--iters"))
            iters = num(v);
        else if (!strcmp(a, "--max-s"))
            max_s = num(v);
        else if (!strcmp(a, "--timeout-ms"))
            timeout_ms = num(v);
        else if (!strcmp(a, "--mismatch-rank"))
            mrank = num(v);
        else if (!strcmp(a, "--mismatch-kind"))
            mkind = v;
        else if (!strcmp(a, "--mismatch-iter"))
            miter = num(v);
        else if (!strcmp(a, "--plugin"))
            plugin = v;
        else
            usage();
    }
    int kind = !op ? -1 : !strcmp(op, "ag") ? 0 : !strcmp(op, "agl") ? 1 : !strcmp(op, "barrier") ? 2 : -1;
    DLDataType dt;
    if (kind < 0 || dtype_of(dts, &dt) != 0 || bytes < 0 || timeout_ms <= 0 ||
        (strcmp(mkind, "size") && strcmp(mkind, "dtype") && strcmp(mkind, "op")))
        usage();
    size_t esize = dt.bits / 8;
    int64_t count = bytes / (int64_t)esize;

    dlcoll_loader_t ld;
    if (dlcoll_load(&ld, plugin) != 0) {
        fprintf(stderr, "dlcoll-fault-rank: %s\n", ld.error);
        return 2;
    }
    const dlcoll_plugin_v1_t *p = ld.plugin;
    dlcoll_config_t cfg = dlcoll_config_init();
    cfg.timeout_ms = (int)timeout_ms;
    dlcoll_comm_t w = NULL;
    dlcoll_status_t st = p->init(&cfg, &w);
    if (st != DLCOLL_SUCCESS) {
        printf("INITFAIL status=%d name=%s msg=", (int)st, p->status_string(st));
        print_msg(p->last_error(NULL));
        printf("\n");
        fflush(stdout);
        return 2;
    }
    int rank, n;
    p->comm_rank(w, &rank);
    p->comm_size(w, &n);
    printf("READY rank=%d pid=%ld t=%" PRId64 "\n", rank, (long)getpid(), now_ns());
    fflush(stdout);

    /* Buffers large enough for the mismatching variant (one element more). */
    size_t cap = (size_t)(count + 1) * esize;
    uint8_t *in = malloc(cap ? cap : 1);
    uint8_t *out = malloc(cap * (size_t)n + 1);
    DLTensor *touts = calloc((size_t)n, sizeof *touts);
    DLTensor **toutp = calloc((size_t)n, sizeof *toutp);
    int64_t *oshapes = calloc((size_t)n, sizeof *oshapes);
    if (!in || !out || !touts || !toutp || !oshapes) {
        fprintf(stderr, "dlcoll-fault-rank: out of memory\n");
        return 2;
    }
    int bad = 0;
    int64_t t_end = now_ns() + (int64_t)max_s * 1000000000;
    long it = 0;
    for (; (iters == 0 || it < iters) && now_ns() < t_end; it++) {
        int mis = rank == mrank && it >= miter;
        int k = kind;
        DLDataType mdt = dt;
        int64_t mcount = count;
        if (mis && !strcmp(mkind, "op"))
            k = kind == 2 ? 0 : 2;
        if (mis && !strcmp(mkind, "size"))
            mcount = count + 1;
        if (mis && !strcmp(mkind, "dtype"))
            mdt = other_dtype(dt);
        size_t blk = (size_t)mcount * esize;
        uint8_t fillv = (uint8_t)(rank * 31 + it * 7 + 1);
        memset(in, fillv, blk);
        memset(out, 0, blk * (size_t)n);
        DLTensor tin, tout;
        int64_t ishape, oshape;
        tensor1(&tin, in, mdt, &ishape, mcount);
        tensor1(&tout, out, mdt, &oshape, mcount * n);
        for (int r = 0; r < n; r++) {
            tensor1(&touts[r], out + (size_t)r * blk, mdt, &oshapes[r], mcount);
            toutp[r] = &touts[r];
        }
        dlcoll_request_t req = NULL;
        dlcoll_request_t *rq = async ? &req : NULL;
        int64_t t_op = now_ns();
        if (k == 0)
            st = p->allgather(w, &tin, &tout, rq);
        else if (k == 1)
            st = p->allgather_list(w, &tin, toutp, n, rq);
        else
            st = p->barrier(w, rq);
        const char *msg = NULL;
        if (st == DLCOLL_SUCCESS && req) {
            st = p->wait(req, DLCOLL_WAIT_COMM_TIMEOUT);
            if (st != DLCOLL_SUCCESS)
                msg = p->request_error(req);
        } else if (st != DLCOLL_SUCCESS) {
            msg = p->last_error(w);
        }
        if (st != DLCOLL_SUCCESS) {
            printf("ERR rank=%d iter=%ld status=%d name=%s t=%" PRId64 " op_t=%" PRId64 " msg=",
                   rank, it, (int)st, p->status_string(st), now_ns(), t_op);
            print_msg(msg);
            printf("\n");
            fflush(stdout);
            if (req)
                p->request_free(req);
            break;
        }
        if (req)
            p->request_free(req);
        if (k != 2 && !mis)
            for (int r = 0; r < n && !bad; r++) {
                uint8_t want = (uint8_t)(r * 31 + it * 7 + 1);
                const uint8_t *b = out + (size_t)r * blk;
                if (blk && (b[0] != want || b[blk - 1] != want)) {
                    printf("BAD rank=%d iter=%ld what=block %d holds 0x%02x..0x%02x, want 0x%02x\n",
                           rank, it, r, b[0], b[blk - 1], want);
                    fflush(stdout);
                    bad = 1;
                }
            }
    }
    if (st == DLCOLL_SUCCESS) {
        printf("DONE rank=%d iters=%ld t=%" PRId64 "\n", rank, it, now_ns());
        fflush(stdout);
    }
    st = p->finalize(w);
    printf("FIN rank=%d status=%d t=%" PRId64 "\n", rank, (int)st, now_ns());
    fflush(stdout);
    free(in);
    free(out);
    free(touts);
    free(toutp);
    free(oshapes);
    dlcoll_unload(&ld);
    return bad ? 1 : 0;
}
