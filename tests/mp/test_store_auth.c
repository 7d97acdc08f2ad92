/*
 * test_store_auth.c -- issue 15, finding 1: a process without the job key
 * cannot join a job through the tcp:// store (docs/security.md).
 *
 * Rank 0 starts alone with the job's key; a second process claims rank 1
 * with no key, or with another key.  The store refuses it; it fails init
 * with a bootstrap error naming the refusal, and rank 0 fails init within
 * its timeout with a message that names rank 1 and the store's refusal.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp_harness.h"

enum { R_STATUS = 0 };

typedef struct impostor {
    const char *key; /* rank 1's DLCOLL_JOB_KEY; NULL: none */
    const char *rank1_word;
} impostor;

static int impostor_setup(int rank, void *arg, char *why, size_t cap)
{
    const impostor *im = arg;
    (void)why, (void)cap;
    if (rank == 1) {
        unsetenv("DLCOLL_JOB_KEY");
        if (im->key)
            setenv("DLCOLL_JOB_KEY", im->key, 1);
    }
    return 0;
}

static int both_fail(mp_ctx *ctx)
{
    const impostor *im = ctx->arg;
    dlcoll_comm_t comm = NULL;
    dlcoll_status_t st = ctx->p->init(&ctx->cfg, &comm);
    ctx->report[R_STATUS] = st;
    const char *e = ctx->p->last_error(NULL);
    if (e == NULL)
        e = "";
    fprintf(stderr, "[mp] rank %d: init -> %d: %s\n", ctx->rank, (int)st, e);
    if (st == DLCOLL_SUCCESS) {
        mp_fail(ctx, __FILE__, __LINE__, "rank %d joined the job", ctx->rank);
        ctx->p->finalize(comm);
        return 1;
    }
    if (ctx->rank == 1) {
        MP_EXPECT(ctx, st == DLCOLL_ERR_BOOTSTRAP, "impostor: status %d, not BOOTSTRAP: %s",
                  (int)st, e);
        MP_EXPECT(ctx, strstr(e, im->rank1_word), "impostor's error lacks \"%s\": %s",
                  im->rank1_word, e);
    } else {
        MP_EXPECT(ctx, st == DLCOLL_ERR_TIMEOUT, "rank 0: status %d, not TIMEOUT: %s", (int)st,
                  e);
        MP_EXPECT(ctx, strstr(e, "rank 1"), "rank 0's error does not name rank 1: %s", e);
        MP_EXPECT(ctx, strstr(e, "the store refused"),
                  "rank 0's error does not name the refusal: %s", e);
    }
    return 0;
}

static void run_impostor(const impostor *im)
{
    mp_opts o;
    memset(&o, 0, sizeof o);
    o.n = 2;
    o.provider = "shm";
    o.init = MP_INIT_TCP;
    o.timeout_ms = 3000;
    o.deadline_ms = 60000;
    o.no_init = 1;
    o.child_setup = impostor_setup;
    o.setup_arg = (void *)im;
    mp_run_ok(&o, both_fail, (void *)im);
}

Test(store_auth, an_impostor_without_the_key_cannot_join)
{
    impostor im = {NULL, "requires the job key"};
    run_impostor(&im);
}

Test(store_auth, an_impostor_with_another_key_cannot_join)
{
    impostor im = {"0123456789abcdef-not-this-jobs-key", "failed to prove it holds the job key"};
    run_impostor(&im);
}
