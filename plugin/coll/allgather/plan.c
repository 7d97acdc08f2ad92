/*
 * coll/allgather/plan.c -- validate allgather arguments into a plan of N blocks.
 *
 * Single output: a contiguous tensor of N blocks (dlc_tensor_check_gather_output);
 * block i is bytes [i*B, (i+1)*B).  In place when the input is exactly block
 * `rank` of it; any other overlap of input and output is refused.
 *
 * List output: N tensors shaped and typed like the input, any strides;
 * block i is outputs[i].  In place when the input IS outputs[rank] (same
 * address, shape and strides).  No two outputs may share a byte, nor the
 * input share one with an output (other than in place).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/coll/coll.h"
#include "plugin/coll/plan_cache.h"

#define EXACT_OVERLAP_MAX_RUNS (1u << 20) /* above this, only bounding ranges are checked */

void dlc_ag_plan_free(dlc_ag_plan *p)
{
    if (p->borrowed)
        dlc_plan_cache_unref(p->borrowed);
    else
        free(p->outs);
    p->borrowed = NULL;
    p->outs = NULL;
    p->n_outs = 0;
}

uint64_t dlc_ag_cqdata(unsigned op_kind, const dlc_ag_plan *p)
{
    return dlc_cqdata_make(op_kind, p->dtype.code, p->dtype.bits, p->bytes);
}

/* ------------------------------------------------------------------ overlap */

/* [lo, hi) of the bytes t may touch; lo == hi when empty. */
static void byte_range(const dlc_tensor *t, uintptr_t *lo, uintptr_t *hi)
{
    *lo = *hi = (uintptr_t)t->base;
    if (t->numel == 0)
        return;
    size_t last = 0;
    for (int d = 0; d < t->ndim; d++)
        last += (size_t)(t->shape[d] - 1) * (size_t)t->strides[d];
    *hi = *lo + last * t->elem_size + t->elem_size;
}

typedef struct run_rec {
    uintptr_t lo, hi;
    int owner;
} run_rec;

typedef struct run_list {
    run_rec *v;
    size_t n;
    int owner;
} run_list;

static int collect_run(void *ctx, uint8_t *ptr, size_t n)
{
    run_list *l = ctx;
    l->v[l->n].lo = (uintptr_t)ptr;
    l->v[l->n].hi = (uintptr_t)ptr + n;
    l->v[l->n].owner = l->owner;
    l->n++;
    return 0;
}

static int by_lo(const void *a, const void *b)
{
    const run_rec *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sweep sorted intervals: two of them intersect iff one starts before the
 * furthest end seen so far.  Sets *a, *b to the owners and returns 1. */
static int sweep(run_rec *v, size_t n, int *a, int *b)
{
    if (n <= 16) {
        /* insertion sort: the usual list of a few outputs */
        for (size_t i = 1; i < n; i++) {
            run_rec x = v[i];
            size_t j = i;
            while (j > 0 && v[j - 1].lo > x.lo) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
    } else {
        qsort(v, n, sizeof *v, by_lo);
    }
    uintptr_t end = 0;
    int end_owner = -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i].lo == v[i].hi)
            continue;
        if (end_owner >= 0 && v[i].lo < end && v[i].owner != end_owner) {
            *a = end_owner;
            *b = v[i].owner;
            return 1;
        }
        if (end_owner < 0 || v[i].hi > end) {
            end = v[i].hi;
            end_owner = v[i].owner;
        }
    }
    return 0;
}

/*
 * Do any two of ts[0..n) share a byte?  Bounding ranges first (cheap; settles
 * the usual case of separate buffers); when some intersect, the exact runs
 * (interleaved strided views of one buffer are legal).  Returns 1 and the two
 * indexes when they overlap, -1 when out of memory.
 */
static int find_overlap(const dlc_tensor *const *ts, int n, int *a, int *b)
{
    run_rec small[17];
    run_rec *v = n <= 17 ? small : malloc((size_t)n * sizeof *v);
    if (!v)
        return -1;
    for (int i = 0; i < n; i++) {
        byte_range(ts[i], &v[i].lo, &v[i].hi);
        v[i].owner = i;
    }
    int hit = sweep(v, (size_t)n, a, b);
    if (v != small)
        free(v);
    if (!hit)
        return 0;
    size_t total_runs = 0;
    for (int i = 0; i < n; i++)
        total_runs += ts[i]->nbytes ? dlc_tensor_run_count(ts[i], 0, ts[i]->nbytes) : 0;
    if (total_runs > EXACT_OVERLAP_MAX_RUNS)
        return 0; /* too many runs to check exactly: accept */

    run_list l = {malloc(total_runs * sizeof *l.v), 0, 0};
    if (!l.v)
        return -1;
    for (int i = 0; i < n; i++) {
        l.owner = i;
        if (ts[i]->nbytes)
            dlc_tensor_for_runs(ts[i], 0, ts[i]->nbytes, collect_run, &l);
    }
    hit = sweep(l.v, l.n, a, b);
    free(l.v);
    return hit;
}

/* ------------------------------------------------------------------ plans */

static void plan_init(const dlcoll_comm *c, dlc_ag_plan *p)
{
    memset(p, 0, sizeof *p);
    p->n = c->size;
    p->rank = c->rank;
}

static dlcoll_status_t check_bytes(dlc_ag_plan *p, dlc_err *err)
{
    p->bytes = p->input.nbytes;
    p->dtype = p->input.dtype;
    if (p->bytes > DLC_BYTES_MAX)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "input has %zu bytes, at most %llu are "
                        "supported per rank",
                        p->bytes, (unsigned long long)DLC_BYTES_MAX);
    return DLCOLL_SUCCESS;
}

dlcoll_status_t dlc_ag_plan_single(const dlcoll_comm *c, const DLTensor *in, const DLTensor *out,
                                   dlc_ag_plan *p, dlc_err *err)
{
    plan_init(c, p);
    p->outs = calloc(1, sizeof *p->outs);
    if (!p->outs)
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    p->n_outs = 1;
    dlcoll_status_t st = dlc_tensor_describe(in, "input", &p->input, err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_tensor_describe(out, "output", &p->outs[0], err);
    if (st == DLCOLL_SUCCESS)
        st = dlc_tensor_check_gather_output(&p->input, &p->outs[0], p->n, err);
    if (st == DLCOLL_SUCCESS)
        st = check_bytes(p, err);
    if (st != DLCOLL_SUCCESS) {
        dlc_ag_plan_free(p);
        return st;
    }
    uintptr_t ilo, ihi, olo, ohi;
    byte_range(&p->input, &ilo, &ihi);
    byte_range(&p->outs[0], &olo, &ohi);
    if (ilo < ihi && olo < ohi && ilo < ohi && olo < ihi) {
        const uint8_t *mine = p->outs[0].base + (size_t)p->rank * p->bytes;
        if (p->input.contiguous && p->input.base == mine) {
            p->in_place = 1;
        } else {
            dlc_ag_plan_free(p);
            return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                            "input overlaps output; in place, the input must be exactly this "
                            "rank's block of the output (rank %d: bytes %zu..%zu)",
                            c->rank, (size_t)c->rank * p->bytes, (size_t)(c->rank + 1) * p->bytes);
        }
    }
    return DLCOLL_SUCCESS;
}

/* "outputs[i]" into what (32 bytes), without snprintf: this runs for every
 * output of every list allgather. */
static void output_name(int i, char *what)
{
    static const char prefix[] = "outputs[";
    char digits[12];
    int nd = 0;
    unsigned v = (unsigned)i;
    do {
        digits[nd++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    memcpy(what, prefix, sizeof prefix - 1);
    size_t at = sizeof prefix - 1;
    while (nd)
        what[at++] = digits[--nd];
    what[at++] = ']';
    what[at] = '\0';
}

static int same_view(const dlc_tensor *a, const dlc_tensor *b)
{
    if (a->base != b->base || !dlc_tensor_same_layout_shape(a, b))
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] > 1 && a->strides[d] != b->strides[d])
            return 0;
    return 1;
}

dlcoll_status_t dlc_ag_plan_list(const dlcoll_comm *c, const DLTensor *in, DLTensor *const *outs,
                                 int n_outs, dlc_ag_plan *p, dlc_err *err)
{
    plan_init(c, p);
    if (!outs)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "outputs is NULL");
    if (n_outs != c->size)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "n_outputs is %d, the communicator has %d ranks", n_outs, c->size);
    dlcoll_status_t st = dlc_tensor_describe(in, "input", &p->input, err);
    if (st != DLCOLL_SUCCESS)
        return st;
    if ((st = check_bytes(p, err)) != DLCOLL_SUCCESS)
        return st;
    p->outs = calloc((size_t)n_outs, sizeof *p->outs);
    const dlc_tensor **all = calloc((size_t)n_outs + 1, sizeof *all);
    if (!p->outs || !all) {
        free(all);
        dlc_ag_plan_free(p);
        return dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
    }
    p->n_outs = n_outs;
    for (int i = 0; i < n_outs && st == DLCOLL_SUCCESS; i++) {
        char what[32], a[64], b[64];
        output_name(i, what);
        st = dlc_tensor_describe(outs[i], what, &p->outs[i], err);
        if (st != DLCOLL_SUCCESS)
            break;
        if (!dlc_dtype_equal(p->outs[i].dtype, p->input.dtype))
            st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s has dtype %s, the input %s", what,
                          dlc_dtype_name(p->outs[i].dtype, a, sizeof a),
                          dlc_dtype_name(p->input.dtype, b, sizeof b));
        else if (!dlc_tensor_same_layout_shape(&p->outs[i], &p->input))
            st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT, "%s has shape %s, the input %s", what,
                          dlc_shape_text(p->outs[i].shape, p->outs[i].ndim, a, sizeof a),
                          dlc_shape_text(p->input.shape, p->input.ndim, b, sizeof b));
        all[i] = &p->outs[i];
    }
    if (st == DLCOLL_SUCCESS) {
        p->in_place = same_view(&p->input, &p->outs[c->rank]);
        int n = n_outs, x = -1, y = -1;
        if (!p->in_place)
            all[n++] = &p->input; /* index n_outs: the input */
        int hit = find_overlap(all, n, &x, &y);
        if (hit < 0) {
            st = dlc_fail(err, DLCOLL_ERR_SYSTEM, "out of memory");
        } else if (hit) {
            if (x > y) {
                int t = x;
                x = y;
                y = t;
            }
            if (y == n_outs)
                st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                              "the input overlaps outputs[%d]; in place, the input must be "
                              "outputs[%d] itself",
                              x, c->rank);
            else
                st = dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                              "outputs[%d] and outputs[%d] "
                              "overlap",
                              x, y);
        }
    }
    free(all);
    if (st != DLCOLL_SUCCESS)
        dlc_ag_plan_free(p);
    return st;
}
