/*
 * test_algos.c -- every allgather algorithm of the table below, chosen by
 * name with DLCOLL_ALGO (the plugin reads it on every call), on 1..5 real
 * ranks over shm and tcp.
 *
 * For each algorithm:
 *   - correctness: dtypes, concatenated / stacked outputs, byte offsets,
 *     in-place, 0-dim and empty tensors, layouts that differ between ranks,
 *     sizes on both sides of the small-message (eager) limit up to ~1 MiB per
 *     rank, several operations in flight waited for in reverse order, a group
 *     whose ranks are the world's in reverse order, and allgather_list into
 *     strided outputs (few runs per block: multi-entry iovs; many runs: the
 *     bounce buffer), all checked byte for byte (mp_gather.c), guards and
 *     untouched bytes included;
 *   - ranks that pass different sizes get an error on every rank (MISMATCH on
 *     at least one), within the timeout, with nothing written past a buffer;
 *   - a rank SIGKILLed before or during the operation gives PEER_FAILURE on
 *     every survivor, naming the dead rank.
 * Every case takes the algorithm as a parameter: a row added to `algos` runs
 * all of them for that algorithm too.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mp_gather.h"

/* The algorithms under test (DLCOLL_ALGO values). */
static const char *const algos[] = {"direct", "ring", "shm", "auto"};
#define N_ALGOS ((int)(sizeof algos / sizeof algos[0]))

static const char *const providers[] = {"shm", "tcp"};

/* One case: indexes into algos / providers (Criterion copies parameters
 * between processes, so no pointers), the number of ranks, and a variant. */
typedef struct algo_case {
    int algo;
    int prov;
    int n;
    int variant;
} algo_case;

#define ERR_TIMEOUT_MS 3000
#define ERR_DEADLINE_MS (3 * ERR_TIMEOUT_MS + 12000)

/* Rank side: select the algorithm for every later call of this process. */
static int use_algo(mp_ctx *ctx, const algo_case *c)
{
    MP_REQUIRE(ctx, setenv("DLCOLL_ALGO", algos[c->algo], 1) == 0, "setenv failed");
    return 0;
}

/* ================================================================ correctness */

#define RUN(spec_)                                                             \
    do {                                                                       \
        mp_ag_spec sp_ = (spec_);                                              \
        MP_TALLY(mp_check_allgather(ctx, ctx->comm, &sp_, ctx->rank, ctx->size, NULL), fails); \
    } while (0)

static mp_ag_spec with(mp_ag_spec s, int stacked, int inplace, size_t in_off, size_t out_off)
{
    s.stacked = stacked;
    s.inplace = inplace;
    s.in_off = in_off;
    s.out_off = out_off;
    return s;
}

/* The name reaches the plugin: an unknown one is refused with a message
 * listing the known ones, this algorithm among them; the comm stays usable. */
static int algo_is_known(mp_ctx *ctx, const char *algo)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    uint8_t in = 1, out[MP_MAX_RANKS];
    int64_t ishape[] = {1}, oshape[] = {ctx->size};
    DLTensor tin, tout;
    mp_tensor(&tin, &in, 0, mp_dt(kDLUInt, 8), 1, ishape, NULL);
    mp_tensor(&tout, out, 0, mp_dt(kDLUInt, 8), 1, oshape, NULL);
    MP_REQUIRE(ctx, setenv("DLCOLL_ALGO", "no-such-algorithm", 1) == 0, "setenv");
    mp_step(ctx, "allgather with DLCOLL_ALGO=no-such-algorithm");
    dlcoll_status_t st = p->allgather(ctx->comm, &tin, &tout, NULL);
    const char *e = p->last_error(ctx->comm);
    MP_REQUIRE(ctx, setenv("DLCOLL_ALGO", algo, 1) == 0, "setenv");
    MP_REQUIRE(ctx, st == DLCOLL_ERR_INVALID_ARGUMENT,
               "DLCOLL_ALGO=no-such-algorithm: allgather -> %s, expected INVALID_ARGUMENT",
               p->status_string(st));
    MP_REQUIRE(ctx, e && strstr(e, "no-such-algorithm") && strstr(e, algo),
               "the error for an unknown algorithm does not list \"%s\": \"%s\"", algo,
               e ? e : "(null)");
    return 0;
}

/* Three allgathers in flight at once (small, eager-limit, large), waited for
 * in reverse order: operations must not take each other's messages. */
static int in_flight(mp_ctx *ctx, uint32_t seed)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size, me = ctx->rank, bad = 0;
    const int64_t sizes[3] = {24, 1024, 300000};
    mp_ag a[3];
    dlcoll_request_t req[3] = {NULL, NULL, NULL};
    int prepared = 0;
    for (int k = 0; k < 3; k++) {
        mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), seed + (uint32_t)k, sizes[k]);
        if (mp_ag_prepare(ctx, &a[k], &s, me, n, NULL)) {
            bad = 2;
            break;
        }
        prepared++;
        mp_step(ctx, "in flight: posting %s", a[k].label);
        dlcoll_status_t st = p->allgather(ctx->comm, &a[k].tin, &a[k].tout, &req[k]);
        if (st != DLCOLL_SUCCESS) {
            mp_fail(ctx, __FILE__, __LINE__, "in flight: %s -> %s: %s", a[k].label,
                    p->status_string(st), p->last_error(ctx->comm));
            bad = 2;
            break;
        }
    }
    for (int k = 2; k >= 0; k--) {
        if (!req[k])
            continue;
        mp_step(ctx, "in flight: waiting for %s", a[k].label);
        dlcoll_status_t st = p->wait(req[k], DLCOLL_WAIT_COMM_TIMEOUT);
        if (st != DLCOLL_SUCCESS) {
            const char *e = p->request_error(req[k]);
            mp_fail(ctx, __FILE__, __LINE__, "in flight: wait(%s) -> %s: %s", a[k].label,
                    p->status_string(st), e ? e : "(null)");
            bad = 2;
        } else if (mp_ag_verify(ctx, &a[k]) && !bad) {
            bad = 1;
        }
        p->request_free(req[k]);
    }
    for (int k = 0; k < prepared; k++)
        mp_ag_free(&a[k]);
    return bad;
}

/* A group of every rank in reverse order: group rank i is world rank n-1-i. */
static int reversed_group(mp_ctx *ctx, uint32_t seed)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size, ranks[MP_MAX_RANKS];
    for (int i = 0; i < n; i++)
        ranks[i] = n - 1 - i;
    dlcoll_comm_t g = NULL;
    mp_step(ctx, "group_create(reversed)");
    dlcoll_status_t st = p->group_create(ctx->comm, ranks, n, "reversed", &g);
    if (st != DLCOLL_SUCCESS || !g) {
        mp_fail(ctx, __FILE__, __LINE__, "group_create(reversed) -> %s: %s", p->status_string(st),
                p->last_error(NULL));
        return 2;
    }
    int me = n - 1 - ctx->rank, rc = 0;
    mp_ag_spec s1 = MP_SPEC(mp_dt(kDLFloat, 32), seed, 5, 3);
    mp_ag_spec s2 = with(MP_SPEC(mp_dt(kDLInt, 64), seed + 1, 40000), 1, 1, 0, 8);
    rc = mp_check_allgather(ctx, g, &s1, me, n, ranks);
    if (rc != 2) {
        int rc2 = mp_check_allgather(ctx, g, &s2, me, n, ranks);
        rc = rc2 > rc ? rc2 : rc;
    }
    p->group_destroy(g);
    return rc;
}

/* ---------------------------------------------------------------- lists */

#define GUARD 64
#define L_MAXDIM 2

/* Output i of a list: a (R, C) view into its own storage, element (r, c) at
 * r * rs + c * cs elements (contiguous: rs = C, cs = 1). */
typedef struct lview {
    mp_buf store;
    DLTensor t;
    int64_t shape[L_MAXDIM], strides[L_MAXDIM];
} lview;

static int lview_make(lview *v, DLDataType dt, int64_t R, int64_t C, int64_t rs, int64_t cs,
                      size_t off)
{
    size_t es = mp_dt_size(dt);
    size_t span = (size_t)((R - 1) * rs + (C - 1) * cs + 1);
    if (R == 0 || C == 0)
        span = 0;
    memset(v, 0, sizeof *v);
    if (mp_buf_alloc(&v->store, off + span * es, GUARD) != 0)
        return -1;
    v->shape[0] = R;
    v->shape[1] = C;
    v->strides[0] = rs;
    v->strides[1] = cs;
    mp_tensor(&v->t, v->store.data, off, dt, 2, v->shape, v->strides);
    return 0;
}

/* outputs[i] holds rank i's pattern; storage outside the view is untouched. */
static int lview_verify(mp_ctx *ctx, lview *v, uint32_t seed, int i, const char *label)
{
    char why[256];
    int bad = 0;
    if (!mp_tensor_matches(&v->t, seed, i, why, sizeof why)) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: outputs[%d]: %s", label, i, why);
        bad = 1;
    }
    size_t es = mp_dt_size(v->t.dtype), numel = mp_numel(2, v->shape);
    uint8_t *covered = calloc(v->store.size + 1, 1);
    if (!covered) {
        mp_fail(ctx, __FILE__, __LINE__, "out of memory");
        return 1;
    }
    for (size_t e = 0; e < numel; e++)
        memset(covered + (mp_elem_ptr(&v->t, e) - v->store.data), 1, es);
    for (size_t k = 0; k < v->store.size; k++)
        if (!covered[k] && v->store.data[k] != mp_pat(MP_SEED_UNTOUCHED, -1, k)) {
            mp_fail(ctx, __FILE__, __LINE__, "%s: outputs[%d] storage byte %zu, outside the "
                    "view, was overwritten", label, i, k);
            bad = 1;
            break;
        }
    free(covered);
    if (!mp_buf_guards_ok(&v->store, why, sizeof why)) {
        mp_fail(ctx, __FILE__, __LINE__, "%s: outputs[%d]: %s", label, i, why);
        bad = 1;
    }
    return bad;
}

/* Output layouts: (rs, cs) as functions of (R, C). */
typedef enum { LO_CONTIG, LO_PADDED_ROWS, LO_EVERY_OTHER, LO_TRANSPOSED, LO_MIXED } list_layout;
static const char *const layout_names[] = {"contiguous", "padded-rows", "every-other",
                                           "transposed", "mixed"};

static void layout_strides(list_layout lay, int i, int64_t R, int64_t C, int64_t *rs, int64_t *cs)
{
    if (lay == LO_MIXED)
        lay = (list_layout)(i % 4);
    switch (lay) {
    case LO_PADDED_ROWS: *rs = C + 2; *cs = 1; break;       /* R runs of C elements */
    case LO_EVERY_OTHER: *rs = 2 * C; *cs = 2; break;       /* R*C runs of one element */
    case LO_TRANSPOSED: *rs = 1; *cs = R + 3; break;        /* column-major, padded */
    default: *rs = C; *cs = 1; break;                       /* one run */
    }
}

/* allgather_list of an (R, C) input (padded rows when strided_in) into
 * outputs of layout lay.  0 ok, 1 wrong data, 2 a call failed. */
static int list_case(mp_ctx *ctx, DLDataType dt, int64_t R, int64_t C, list_layout lay,
                     int strided_in, uint32_t seed)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int n = ctx->size, me = ctx->rank, bad = 0;
    char label[200], why[256];
    snprintf(label, sizeof label, "allgather_list seed %u %s (%lld,%lld) %s outputs%s", seed,
             mp_dtype_name(dt), (long long)R, (long long)C, layout_names[lay],
             strided_in ? ", padded-rows input" : "");
    mp_step(ctx, "%s", label);
    lview in, out[MP_MAX_RANKS];
    DLTensor *outs[MP_MAX_RANKS];
    int made = 0;
    if (lview_make(&in, dt, R, C, strided_in ? C + 2 : C, 1, 0) != 0) {
        mp_fail(ctx, __FILE__, __LINE__, "out of memory");
        return 2;
    }
    mp_tensor_fill(&in.t, seed, me);
    for (; made < n; made++) {
        int64_t rs, cs;
        layout_strides(lay, made, R, C, &rs, &cs);
        if (lview_make(&out[made], dt, R, C, rs, cs, (size_t)made * mp_dt_size(dt)) != 0)
            break;
        outs[made] = &out[made].t;
    }
    if (made < n) {
        mp_fail(ctx, __FILE__, __LINE__, "out of memory");
        bad = 2;
    } else {
        dlcoll_status_t st = p->allgather_list(ctx->comm, &in.t, outs, n, NULL);
        if (st != DLCOLL_SUCCESS) {
            const char *e = p->last_error(ctx->comm);
            mp_fail(ctx, __FILE__, __LINE__, "%s -> %s (%d): %s", label, p->status_string(st),
                    (int)st, e ? e : "(null)");
            bad = 2;
        } else {
            for (int i = 0; i < n; i++)
                bad |= lview_verify(ctx, &out[i], seed, i, label);
            if (!mp_tensor_matches(&in.t, seed, me, why, sizeof why)) {
                mp_fail(ctx, __FILE__, __LINE__, "%s: the input changed: %s", label, why);
                bad = 1;
            }
        }
    }
    for (int i = 0; i < made; i++)
        mp_buf_free(&out[i].store);
    mp_buf_free(&in.store);
    return bad;
}

#define LIST(...) MP_TALLY(list_case(ctx, __VA_ARGS__), fails)

static int correctness(mp_ctx *ctx)
{
    const algo_case *c = ctx->arg;
    int fails = 0;
    uint32_t seed = 7000 + 100 * (uint32_t)c->algo;
    if (use_algo(ctx, c) || algo_is_known(ctx, algos[c->algo]))
        return 1;

    /* Every dtype, the layout variant rotating with it. */
    for (int d = 0; d < mp_n_dtypes; d++) {
        DLDataType dt = mp_dtypes[d].dt;
        size_t es = mp_dt_size(dt);
        RUN(MP_SPEC(dt, seed++, 7, 3));
        switch (d % 5) {
        case 0: RUN(with(MP_SPEC(dt, seed++, 7, 3), 1, 0, 0, 0)); break;           /* stacked  */
        case 1: RUN(with(MP_SPEC(dt, seed++, 7, 3), 0, 0, 3 * es, 5 * es)); break; /* offsets  */
        case 2: RUN(with(MP_SPEC(dt, seed++, 2, 3, 1, 5), 1, 1, 0, es)); break;    /* in-place */
        case 3: RUN(with(mp_spec(dt, seed++, 0, NULL), 0, 1, 0, 4 * es)); break;   /* scalar   */
        default: RUN(with(MP_SPEC(dt, seed++, 0, 3), 1, 0, 0, 0)); break;          /* empty    */
        }
    }
    {
        mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), seed++, 0);
        s.null_data = 1;
        RUN(s);
    }
    /* Layout choices are local: ranks mix them in one allgather. */
    for (int k = 0; k < 3; k++) {
        int r = ctx->rank + k;
        RUN(with(MP_SPEC(mp_dt(kDLInt, 16), seed++, 33, 5), r % 3 == 0, r % 2,
                 2 * (size_t)(r % 4), 2 * (size_t)((r + 1) % 5)));
    }
    /* Sizes around the small-message limit and up to ~1 MiB per rank. */
    RUN(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 1));
    RUN(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 1023));
    RUN(with(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 1024), 0, 1, 0, 3));
    RUN(with(MP_SPEC(mp_dt(kDLUInt, 8), seed++, 1025), 0, 0, 1, 7));
    RUN(MP_SPEC(mp_dt(kDLFloat, 32), seed++, 2049));
    RUN(with(MP_SPEC(mp_dt(kDLFloat, 64), seed++, 8192 + 3), 1, 0, 8, 16));   /* ~64 KiB */
    RUN(with(MP_SPEC(mp_dt(kDLFloat, 32), seed++, 65539), 0, 0, 12, 20));     /* ~256 KiB */
    RUN(with(MP_SPEC(mp_dt(kDLInt, 16), seed++, 1024, 513), 1, 1, 0, 2));     /* ~1 MiB in-place */
    RUN(with(MP_SPEC(mp_dt(kDLComplex, 128), seed++, 65536 + 7), 0, 0, 16, 32)); /* ~1 MiB */
    if (ctx->size > 1) {
        MP_TALLY(in_flight(ctx, seed), fails);
        seed += 3;
        MP_TALLY(reversed_group(ctx, seed), fails);
        seed += 2;
    }

    /* Lists: 1..5 runs per block around the provider's iov limit, many runs
     * (bounce buffers), transposed, mixed, strided input, big and small. */
    for (int64_t R = 1; R <= 5; R++)
        LIST(mp_dt(kDLFloat, 32), R, 5, LO_PADDED_ROWS, (int)(R % 2), seed++);
    LIST(mp_dt(kDLInt, 8), 7, 3, LO_CONTIG, 1, seed++);
    LIST(mp_dt(kDLComplex, 64), 5, 3, LO_TRANSPOSED, 0, seed++);
    LIST(mp_dt(kDLUInt, 16), 6, 4, LO_MIXED, 1, seed++);
    LIST(mp_dt(kDLFloat, 64), 0, 3, LO_EVERY_OTHER, 0, seed++);
    LIST(mp_dt(kDLFloat, 32), 256, 64, LO_EVERY_OTHER, 0, seed++);     /* 64 KiB, 16 Ki runs */
    LIST(mp_dt(kDLFloat, 64), 3, 40000, LO_PADDED_ROWS, 1, seed++);    /* 3 runs of 320 KB */
    LIST(mp_dt(kDLUInt, 8), 100, 1000, LO_MIXED, 0, seed++);           /* 100 KB */
    return fails ? 1 : 0;
}

ParameterizedTestParameters(algos, correct)
{
    static algo_case cases[N_ALGOS * 2 * 5];
    int k = 0;
    for (int a = 0; a < N_ALGOS; a++)
        for (int pr = 0; pr < 2; pr++)
            for (int n = 1; n <= 5; n++)
                cases[k++] = (algo_case){a, pr, n, 0};
    return cr_make_param_array(algo_case, cases, (size_t)k);
}

ParameterizedTest(algo_case *c, algos, correct, .timeout = 300)
{
    cr_log_info("algorithm %s, %s, N=%d", algos[c->algo], providers[c->prov], c->n);
    mp_run(c->n, providers[c->prov], correctness, c, 120);
}

/* ================================================================ errors */

enum { R_STATUS = 0, R_STATUS2 = 1 };

static const char *status_name(dlcoll_status_t st)
{
    static const char *names[] = {"SUCCESS", "IN_PROGRESS", "INVALID_ARGUMENT", "UNSUPPORTED",
                                  "MISMATCH", "TIMEOUT", "PEER_FAILURE", "ABORTED",
                                  "BOOTSTRAP", "TRANSPORT", "SYSTEM", "VERSION", "INTERNAL"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

static mp_opts err_opts(const algo_case *c)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = c->n;
    o.provider = providers[c->prov];
    o.init = c->n % 2 ? MP_INIT_TCP : MP_INIT_FILE;
    o.timeout_ms = ERR_TIMEOUT_MS;
    o.deadline_ms = ERR_DEADLINE_MS;
    return o;
}

/* Does text mention world rank k as "rank k" (also "ranks k", "peer k")? */
static int names_rank(const char *text, int k)
{
    for (const char *s = text; s && *s; s++) {
        if (strncasecmp(s, "rank", 4) != 0 && strncasecmp(s, "peer", 4) != 0)
            continue;
        const char *q = s + 4;
        if (*q == 's')
            q++;
        while (*q == ' ')
            q++;
        if (isdigit((unsigned char)*q) && strtol(q, NULL, 10) == k)
            return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- size mismatch */

/* Per-rank sizes: variant 0 both large (rank 1 twice the others'), 1 small vs
 * large (rank 1 above the eager limit, the others below), 2 both small. */
static size_t mismatch_bytes(int variant, int rank)
{
    static const size_t sizes[3][2] = {{4096, 8192}, {512, 65536}, {300, 600}};
    return sizes[variant][rank == 1];
}

static int size_mismatch(mp_ctx *ctx)
{
    const algo_case *c = ctx->arg;
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size;
    if (use_algo(ctx, c))
        return 1;
    /* One good allgather first: connections exist, the algorithm works. */
    mp_ag_spec warm = MP_SPEC(mp_dt(kDLUInt, 8), 10, 4096);
    if (mp_check_allgather(ctx, ctx->comm, &warm, me, n, NULL))
        return 1;
    size_t mine = mismatch_bytes(c->variant, me);
    mp_buf in, out;
    MP_REQUIRE(ctx, mp_buf_alloc(&in, mine, 64) == 0 && mp_buf_alloc(&out, n * mine, 4096) == 0,
               "out of memory");
    mp_fill(in.data, mine, 11, me, 0);
    int64_t ishape[] = {(int64_t)mine}, oshape[] = {(int64_t)(n * mine)};
    DLTensor tin, tout;
    mp_tensor(&tin, in.data, 0, mp_dt(kDLUInt, 8), 1, ishape, NULL);
    mp_tensor(&tout, out.data, 0, mp_dt(kDLUInt, 8), 1, oshape, NULL);
    mp_step(ctx, "%s allgather of %zu bytes (rank 1: %zu, others %zu)", algos[c->algo], mine,
            mismatch_bytes(c->variant, 1), mismatch_bytes(c->variant, 0));
    dlcoll_status_t st = p->allgather(ctx->comm, &tin, &tout, NULL);
    ctx->report[R_STATUS] = st;
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] %s rank %d: size mismatch -> %s: %s\n", algos[c->algo], me,
            status_name(st), e ? e : "");
    MP_EXPECT(ctx, st == DLCOLL_ERR_MISMATCH || st == DLCOLL_ERR_PEER_FAILURE,
              "size mismatch: allgather -> %s (%d), expected MISMATCH (or a propagated "
              "PEER_FAILURE): %s", p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, e && *e, "size mismatch: last_error is empty");
    char why[200];
    MP_EXPECT(ctx, mp_buf_guards_ok(&out, why, sizeof why), "size mismatch: output: %s", why);
    MP_EXPECT(ctx, mp_buf_guards_ok(&in, why, sizeof why), "size mismatch: input: %s", why);
    MP_EXPECT(ctx, mp_find_bad(in.data, mine, 11, me, 0) == (size_t)-1,
              "size mismatch: the input changed");
    /* The communicator stays failed. */
    mp_step(ctx, "barrier after the mismatch");
    dlcoll_status_t st2 = p->barrier(ctx->comm, NULL);
    ctx->report[R_STATUS2] = st2;
    MP_EXPECT(ctx, st2 != DLCOLL_SUCCESS, "a barrier after the failed allgather succeeded");
    mp_buf_free(&in);
    mp_buf_free(&out);
    return 0;
}

ParameterizedTestParameters(algos, size_mismatch)
{
    /* (provider, N, variant) */
    static const int shapes[][3] = {{0, 2, 0}, {1, 2, 1}, {0, 3, 1}, {1, 3, 2}, {0, 4, 0},
                                    {0, 4, 2}, {1, 4, 1}, {1, 5, 0}};
    enum { N_SHAPES = (int)(sizeof shapes / sizeof shapes[0]) };
    static algo_case cases[N_ALGOS * N_SHAPES];
    int k = 0;
    for (int a = 0; a < N_ALGOS; a++)
        for (int s = 0; s < N_SHAPES; s++)
            cases[k++] = (algo_case){a, shapes[s][0], shapes[s][1], shapes[s][2]};
    return cr_make_param_array(algo_case, cases, (size_t)k);
}

ParameterizedTest(algo_case *c, algos, size_mismatch, .timeout = 300)
{
    cr_log_info("algorithm %s, %s, N=%d, sizes %zu / %zu", algos[c->algo], providers[c->prov],
                c->n, mismatch_bytes(c->variant, 0), mismatch_bytes(c->variant, 1));
    mp_opts o = err_opts(c);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, size_mismatch, c, res);
    mp_assert_all_ok(res);
    int mismatch = 0;
    char buf[512];
    size_t at = 0;
    for (int i = 0; i < c->n; i++) {
        mismatch += res->r[i].report[R_STATUS] == DLCOLL_ERR_MISMATCH;
        at += (size_t)snprintf(buf + at, sizeof buf - at, " rank %d: %s", i,
                               status_name((dlcoll_status_t)res->r[i].report[R_STATUS]));
    }
    cr_expect(mismatch > 0, "%s, %s, N=%d: no rank reported MISMATCH:%s", algos[c->algo],
              providers[c->prov], c->n, buf);
    mp_result_free(res);
}

/* ---------------------------------------------------------------- a rank dies */

enum { DIE_BEFORE = 0, DIE_DURING = 1 };

static void *kill_me_soon(void *unused)
{
    (void)unused;
    usleep(20000);
    raise(SIGKILL);
    return NULL;
}

/* The victim is the last rank; variant DIE_BEFORE: SIGKILL right before the
 * allgather, DIE_DURING: a thread SIGKILLs it 20 ms into an 8 MiB one. */
static int rank_dies(mp_ctx *ctx)
{
    const algo_case *c = ctx->arg;
    const dlcoll_plugin_v1_t *p = ctx->p;
    int me = ctx->rank, n = ctx->size, victim = n - 1;
    size_t nb = c->variant == DIE_DURING ? (8u << 20) : 65536;
    if (use_algo(ctx, c))
        return 1;
    mp_ag_spec warm = MP_SPEC(mp_dt(kDLUInt, 8), 40, 4096);
    if (mp_check_allgather(ctx, ctx->comm, &warm, me, n, NULL))
        return 1;
    mp_step(ctx, "barrier before the kill");
    MP_OK(ctx, p->barrier(ctx->comm, NULL));
    if (me == victim && c->variant == DIE_BEFORE) {
        mp_step(ctx, "raise(SIGKILL)");
        raise(SIGKILL);
    }
    mp_ag a;
    mp_ag_spec s = MP_SPEC(mp_dt(kDLUInt, 8), 41, (int64_t)nb);
    if (mp_ag_prepare(ctx, &a, &s, me, n, NULL))
        return 1;
    if (me == victim) {
        pthread_t th;
        MP_REQUIRE(ctx, pthread_create(&th, NULL, kill_me_soon, NULL) == 0, "pthread_create");
    }
    mp_step(ctx, "%s allgather of %zu bytes, rank %d dead or dying", algos[c->algo], nb, victim);
    dlcoll_status_t st = p->allgather(ctx->comm, &a.tin, &a.tout, NULL);
    ctx->report[R_STATUS] = st;
    const char *e = p->last_error(ctx->comm);
    fprintf(stderr, "[mp] %s rank %d: rank %d killed: allgather -> %s: %s\n", algos[c->algo], me,
            victim, status_name(st), e ? e : "");
    if (me == victim) {
        usleep(10 * 1000 * 1000); /* the allgather finished before the thread fired */
        mp_fail(ctx, __FILE__, __LINE__, "the victim is still alive");
        return 1;
    }
    const char *what = "allgather";
    if (st == DLCOLL_SUCCESS && c->variant == DIE_DURING) {
        /* The victim did its part before dying: right data, and the next
         * operation must fail. */
        if (mp_ag_verify(ctx, &a))
            return 1;
        mp_step(ctx, "barrier after the victim died");
        st = p->barrier(ctx->comm, NULL);
        e = p->last_error(ctx->comm);
        what = "the barrier after the victim died";
    }
    MP_EXPECT(ctx, st == DLCOLL_ERR_PEER_FAILURE, "%s with rank %d gone -> %s (%d), expected "
              "PEER_FAILURE: %s", what, victim, p->status_string(st), (int)st, e ? e : "(null)");
    MP_EXPECT(ctx, names_rank(e, victim), "%s: the error does not name rank %d: \"%s\"", what,
              victim, e ? e : "(null)");
    mp_ag_free(&a);
    return 0;
}

ParameterizedTestParameters(algos, rank_dies)
{
    /* (provider, N, variant) */
    static const int shapes[][3] = {{0, 2, DIE_BEFORE}, {0, 4, DIE_BEFORE}, {1, 3, DIE_BEFORE},
                                    {0, 3, DIE_DURING}, {1, 3, DIE_DURING}};
    enum { N_SHAPES = (int)(sizeof shapes / sizeof shapes[0]) };
    static algo_case cases[N_ALGOS * N_SHAPES];
    int k = 0;
    for (int a = 0; a < N_ALGOS; a++)
        for (int s = 0; s < N_SHAPES; s++)
            cases[k++] = (algo_case){a, shapes[s][0], shapes[s][1], shapes[s][2]};
    return cr_make_param_array(algo_case, cases, (size_t)k);
}

ParameterizedTest(algo_case *c, algos, rank_dies, .timeout = 300)
{
    cr_log_info("algorithm %s, %s, N=%d, %s", algos[c->algo], providers[c->prov], c->n,
                c->variant == DIE_DURING ? "killed during" : "killed before");
    mp_opts o = err_opts(c);
    mp_result *res = mp_result_new();
    mp_run_opts(&o, rank_dies, c, res);
    char text[16384];
    mp_describe(res, text, sizeof text);
    cr_assert(!res->deadline_hit, "%s: survivors did not finish within the deadline:\n%s",
              algos[c->algo], text);
    for (int i = 0; i < c->n; i++) {
        if (i == c->n - 1)
            cr_assert(res->r[i].signaled && res->r[i].signo == SIGKILL,
                      "%s: rank %d should have died of SIGKILL:\n%s", algos[c->algo], i, text);
        else
            cr_assert(mp_rank_ok(res, i), "%s: survivor rank %d failed:\n%s", algos[c->algo], i,
                      text);
    }
    mp_result_free(res);
}
