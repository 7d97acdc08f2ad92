/*
 * test_groups.c -- group_create / group_split / group_destroy on 4 ranks.
 *
 * Groups: even ranks, odd ranks, one rank, the world reversed [3,2,1,0] (group
 * rank = index in the list), a group made from a group, split by rank % 2 with
 * key -rank (reversed order), split with one NOCOLOR rank, split with every
 * rank NOCOLOR.  For each: members get comm_rank == index and comm_size == n,
 * non-members get SUCCESS and NULL, and an allgather on the group returns the
 * members' blocks in group order, byte-exact.  Then two overlapping groups (and
 * the world) used at the same time with asynchronous requests, waited in the
 * opposite order; bad rank lists; destroying groups and reusing a name.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "mp_gather.h"

/* A value no plugin returns, so we can see whether *group was written. */
#define NOT_WRITTEN ((dlcoll_comm_t)(uintptr_t)0x1)

static int index_of(const int *list, int n, int r)
{
    for (int i = 0; i < n; i++)
        if (list[i] == r)
            return i;
    return -1;
}

/* Check membership, rank, size, and run allgathers + a barrier on group g,
 * whose members are world ranks list[0..n). */
static int use_group(mp_ctx *ctx, dlcoll_comm_t g, const int *list, int n, const char *name,
                     uint32_t seed)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    int idx = index_of(list, n, ctx->rank);
    mp_step(ctx, "group %s", name);
    if (idx < 0) {
        MP_REQUIRE(ctx, g == NULL, "group %s: rank %d is not a member but got %s", name, ctx->rank,
                   g == NOT_WRITTEN ? "*group left unwritten" : "a non-NULL group");
        return 0;
    }
    MP_REQUIRE(ctx, g != NULL && g != NOT_WRITTEN, "group %s: member rank %d got %s", name,
               ctx->rank, g ? "*group left unwritten" : "NULL");
    int r = -1, s = -1;
    MP_OK_ON(ctx, g, p->comm_rank(g, &r));
    MP_OK_ON(ctx, g, p->comm_size(g, &s));
    MP_REQUIRE(ctx, r == idx && s == n,
               "group %s: world rank %d: comm_rank %d comm_size %d, expected %d and %d", name,
               ctx->rank, r, s, idx, n);

    mp_ag_spec a = MP_SPEC(mp_dt(kDLInt, 32), seed, 5, 3);
    MP_REQUIRE(ctx, mp_check_allgather(ctx, g, &a, idx, n, list) == 0, "group %s: allgather", name);
    mp_ag_spec b = MP_SPEC(mp_dt(kDLUInt, 8), seed + 1, 70001);
    b.stacked = 1;
    b.inplace = 1;
    MP_REQUIRE(ctx, mp_check_allgather(ctx, g, &b, idx, n, list) == 0, "group %s: allgather", name);
    mp_step(ctx, "group %s: barrier", name);
    MP_OK_ON(ctx, g, p->barrier(g, NULL));
    return 0;
}

static int destroy(mp_ctx *ctx, dlcoll_comm_t g, const char *name)
{
    if (!g)
        return 0;
    mp_step(ctx, "group_destroy(%s)", name);
    MP_OK_ON(ctx, g, ctx->p->group_destroy(g));
    return 0;
}

/* Expect a group call to fail with INVALID_ARGUMENT and a message. */
static int expect_bad_list(mp_ctx *ctx, const int *ranks, int n, const char *what)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    dlcoll_comm_t g = NOT_WRITTEN;
    mp_step(ctx, "group_create with %s", what);
    dlcoll_status_t st = p->group_create(ctx->comm, ranks, n, "bad", &g);
    const char *e = p->last_error(NULL);
    MP_EXPECT(ctx, st == DLCOLL_ERR_INVALID_ARGUMENT,
              "group_create with %s -> %s (%d), expected INVALID_ARGUMENT; last_error(NULL): %s",
              what, p->status_string(st), (int)st, e ? e : "(null)");
    if (st == DLCOLL_ERR_INVALID_ARGUMENT)
        MP_EXPECT(ctx, e && *e, "group_create with %s: last_error(NULL) is empty", what);
    if (st == DLCOLL_SUCCESS && g && g != NOT_WRITTEN)
        p->group_destroy(g);
    return 0;
}

/* Split by color/key and compute the expected member list. */
static int split_expect(int n, const int *color, const int *key, int me, int *list)
{
    int k = 0;
    if (color[me] == DLCOLL_SPLIT_NOCOLOR)
        return 0;
    for (int r = 0; r < n; r++)
        if (color[r] == color[me])
            list[k++] = r;
    /* Order by (key, parent rank): insertion sort. */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0; j--) {
            int a = list[j - 1], b = list[j];
            if (key[a] > key[b] || (key[a] == key[b] && a > b)) {
                list[j - 1] = b;
                list[j] = a;
            }
        }
    return k;
}

/* Overlapping groups used at the same time: post on all, wait in reverse. */
static int overlapping(mp_ctx *ctx, dlcoll_comm_t *gs, int ng, int (*lists)[4], const int *ns,
                       const char *what, uint32_t seed)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    mp_ag ag[4];
    dlcoll_request_t req[4] = {0};
    int posted = 0, bad = 0;
    for (int i = 0; i < ng; i++) {
        int idx = index_of(lists[i], ns[i], ctx->rank);
        if (idx < 0)
            continue;
        mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 32), seed + (uint32_t)i, 64 * 1024 + 11 * i);
        s.stacked = i & 1;
        if (mp_ag_prepare(ctx, &ag[posted], &s, idx, ns[i], lists[i]) != 0)
            return 1;
        mp_step(ctx, "%s: post on group %d: %s", what, i, ag[posted].label);
        dlcoll_status_t st = p->allgather(gs[i], &ag[posted].tin, &ag[posted].tout, &req[posted]);
        if (st != DLCOLL_SUCCESS) {
            const char *e = p->last_error(gs[i]);
            mp_fail(ctx, __FILE__, __LINE__, "%s: async allgather on group %d -> %s: %s", what, i,
                    p->status_string(st), e ? e : "(null)");
            mp_ag_free(&ag[posted]);
            return 1;
        }
        posted++;
    }
    for (int k = posted - 1; k >= 0; k--) {
        mp_step(ctx, "%s: wait %s", what, ag[k].label);
        dlcoll_status_t st = p->wait(req[k], DLCOLL_WAIT_COMM_TIMEOUT);
        if (st != DLCOLL_SUCCESS) {
            const char *e = p->request_error(req[k]);
            mp_fail(ctx, __FILE__, __LINE__, "%s: wait(%s) -> %s: %s", what, ag[k].label,
                    p->status_string(st), e ? e : "(null)");
            bad = 1;
        } else {
            bad |= mp_ag_verify(ctx, &ag[k]);
        }
        p->request_free(req[k]);
        mp_ag_free(&ag[k]);
    }
    return bad;
}

static int groups(mp_ctx *ctx)
{
    const dlcoll_plugin_v1_t *p = ctx->p;
    dlcoll_comm_t w = ctx->comm;
    int me = ctx->rank, n = ctx->size;
    MP_REQUIRE(ctx, n == 4, "this test needs 4 ranks");

    /* group_create: even, odd, one rank, reversed. */
    int even[] = {0, 2}, odd[] = {1, 3}, one[] = {2}, rev[] = {3, 2, 1, 0};
    dlcoll_comm_t g_even = NOT_WRITTEN, g_odd = NOT_WRITTEN, g_one = NOT_WRITTEN,
                  g_rev = NOT_WRITTEN;
    mp_step(ctx, "group_create(even)");
    MP_OK_ON(ctx, NULL, p->group_create(w, even, 2, "even", &g_even));
    mp_step(ctx, "group_create(odd)");
    MP_OK_ON(ctx, NULL, p->group_create(w, odd, 2, "odd", &g_odd));
    mp_step(ctx, "group_create(one)");
    MP_OK_ON(ctx, NULL, p->group_create(w, one, 1, "one", &g_one));
    mp_step(ctx, "group_create(rev)");
    MP_OK_ON(ctx, NULL, p->group_create(w, rev, 4, "rev", &g_rev));
    if (use_group(ctx, g_even, even, 2, "even", 1000) || use_group(ctx, g_odd, odd, 2, "odd", 1010) ||
        use_group(ctx, g_one, one, 1, "one", 1020) || use_group(ctx, g_rev, rev, 4, "rev", 1030))
        return 1;

    /* A group of a group: indexes [0, 1] of rev are world ranks 3 and 2. */
    int sub_idx[] = {0, 1}, sub_world[] = {3, 2};
    dlcoll_comm_t g_sub = NOT_WRITTEN;
    mp_step(ctx, "group_create(rev, [0,1])");
    MP_OK_ON(ctx, NULL, p->group_create(g_rev, sub_idx, 2, "rev-sub", &g_sub));
    if (use_group(ctx, g_sub, sub_world, 2, "rev-sub", 1040))
        return 1;

    /* group_split by rank % 2, key -rank: each group in reversed rank order. */
    int color[4], key[4], list[4], k;
    for (int r = 0; r < 4; r++) {
        color[r] = r % 2;
        key[r] = -r;
    }
    dlcoll_comm_t g_par = NOT_WRITTEN;
    mp_step(ctx, "group_split(rank %% 2, -rank)");
    MP_OK_ON(ctx, NULL, p->group_split(w, color[me], key[me], &g_par));
    k = split_expect(4, color, key, me, list);
    MP_REQUIRE(ctx, k == 2 && list[0] == (me % 2) + 2 && list[1] == me % 2, "split_expect is wrong");
    if (use_group(ctx, g_par, list, k, "split-parity", 1050))
        return 1;
    int par_list[4];
    memcpy(par_list, list, sizeof list);

    /* group_split by rank / 2, key rank (for the overlap test below). */
    for (int r = 0; r < 4; r++) {
        color[r] = r / 2;
        key[r] = 0; /* ties: ordered by parent rank */
    }
    dlcoll_comm_t g_half = NOT_WRITTEN;
    mp_step(ctx, "group_split(rank / 2, 0)");
    MP_OK_ON(ctx, NULL, p->group_split(w, color[me], key[me], &g_half));
    k = split_expect(4, color, key, me, list);
    if (use_group(ctx, g_half, list, k, "split-half", 1060))
        return 1;
    int half_list[4];
    memcpy(half_list, list, sizeof list);

    /* NOCOLOR on rank 3. */
    for (int r = 0; r < 4; r++) {
        color[r] = r == 3 ? DLCOLL_SPLIT_NOCOLOR : 7;
        key[r] = 0;
    }
    dlcoll_comm_t g_nc = NOT_WRITTEN;
    mp_step(ctx, "group_split(NOCOLOR on rank 3)");
    MP_OK_ON(ctx, NULL, p->group_split(w, color[me], key[me], &g_nc));
    k = split_expect(4, color, key, me, list);
    if (me == 3) {
        MP_REQUIRE(ctx, g_nc == NULL, "group_split with NOCOLOR: got %s, expected NULL",
                   g_nc == NOT_WRITTEN ? "*group unwritten" : "a group");
    } else if (use_group(ctx, g_nc, list, k, "split-nocolor", 1070)) {
        return 1;
    }

    /* Every rank NOCOLOR. */
    dlcoll_comm_t g_none = NOT_WRITTEN;
    mp_step(ctx, "group_split(all NOCOLOR)");
    MP_OK_ON(ctx, NULL, p->group_split(w, DLCOLL_SPLIT_NOCOLOR, me, &g_none));
    MP_REQUIRE(ctx, g_none == NULL, "group_split with every rank NOCOLOR: got %s, expected NULL",
               g_none == NOT_WRITTEN ? "*group unwritten" : "a group");

    /* Two overlapping groups (and the world) at the same time, waited in reverse. */
    {
        int lists[3][4] = {{0}};
        int ns[3] = {2, 2, 4};
        dlcoll_comm_t gs[3] = {g_half, g_par, w};
        memcpy(lists[0], half_list, sizeof half_list);
        memcpy(lists[1], par_list, sizeof par_list);
        for (int r = 0; r < 4; r++)
            lists[2][r] = r;
        for (int round = 0; round < 3; round++)
            if (overlapping(ctx, gs, 3, lists, ns, "split groups + world", 2000 + 10 * (uint32_t)round))
                return 1;
    }
    {
        /* group_create overlap: [0,1,2] and [3,2,1]; ranks 1 and 2 are in both. */
        int l1[] = {0, 1, 2}, l2[] = {3, 2, 1};
        dlcoll_comm_t ga = NOT_WRITTEN, gb = NOT_WRITTEN;
        mp_step(ctx, "group_create(ov-a)");
        MP_OK_ON(ctx, NULL, p->group_create(w, l1, 3, "ov-a", &ga));
        mp_step(ctx, "group_create(ov-b)");
        MP_OK_ON(ctx, NULL, p->group_create(w, l2, 3, "ov-b", &gb));
        int lists[2][4] = {{0, 1, 2}, {3, 2, 1}};
        int ns[2] = {3, 3};
        dlcoll_comm_t gs[2] = {ga, gb};
        for (int round = 0; round < 3; round++)
            if (overlapping(ctx, gs, 2, lists, ns, "created groups", 3000 + 10 * (uint32_t)round))
                return 1;
        if (destroy(ctx, ga, "ov-a") || destroy(ctx, gb, "ov-b"))
            return 1;
    }

    /* Bad rank lists: every rank passes the same list. */
    int dup[] = {0, 1, 2, 3, 0}, big[] = {0, 1, 2, 3, 4}, neg[] = {0, 1, 2, -1};
    expect_bad_list(ctx, dup, 5, "a duplicate rank [0,1,2,3,0]");
    expect_bad_list(ctx, big, 5, "an out-of-range rank [0,1,2,3,4]");
    expect_bad_list(ctx, neg, 4, "a negative rank [0,1,2,-1]");
    expect_bad_list(ctx, even, 0, "n = 0");
    expect_bad_list(ctx, NULL, 2, "ranks = NULL");

    /* The world cannot be destroyed as a group. */
    mp_step(ctx, "group_destroy(world)");
    dlcoll_status_t st = p->group_destroy(w);
    MP_EXPECT(ctx, st == DLCOLL_ERR_INVALID_ARGUMENT,
              "group_destroy(world) -> %s (%d), expected INVALID_ARGUMENT", p->status_string(st),
              (int)st);

    /* Destroy everything, then reuse a name. */
    if (destroy(ctx, g_sub, "rev-sub") || destroy(ctx, g_even, "even") ||
        destroy(ctx, g_odd, "odd") || destroy(ctx, g_one, "one") || destroy(ctx, g_rev, "rev") ||
        destroy(ctx, g_par, "split-parity") || destroy(ctx, g_half, "split-half") ||
        destroy(ctx, me == 3 ? NULL : g_nc, "split-nocolor"))
        return 1;
    dlcoll_comm_t g_again = NOT_WRITTEN;
    mp_step(ctx, "group_create(even) again");
    MP_OK_ON(ctx, NULL, p->group_create(w, even, 2, "even", &g_again));
    if (use_group(ctx, g_again, even, 2, "even (again)", 4000) || destroy(ctx, g_again, "even"))
        return 1;

    /* The world still works. */
    mp_ag_spec s = MP_SPEC(mp_dt(kDLFloat, 64), 4100, 33);
    return mp_check_allgather(ctx, w, &s, me, n, NULL) ? 1 : 0;
}

TestSuite(groups, .timeout = 300);

Test(groups, shm_n4) { mp_run(4, "shm", groups, NULL, 120); }
Test(groups, tcp_n4) { mp_run(4, "tcp", groups, NULL, 120); }

/* A group left alive at finalize is freed by finalize (no group_destroy). */
static int leave_group(mp_ctx *ctx)
{
    int all[] = {0, 1, 2};
    dlcoll_comm_t g = NOT_WRITTEN;
    MP_OK_ON(ctx, NULL, ctx->p->group_create(ctx->comm, all, 3, "left", &g));
    return use_group(ctx, g, all, 3, "left", 5000);
}

Test(groups, finalize_frees_groups_n3) { mp_run(3, "shm", leave_group, NULL, 60); }
