/*
 * test_abi_1_0_host.c -- a host compiled against the frozen ABI 1.0 header
 * (tests/abi_1_0/dlcoll_1_0.h, a copy of abi/dlcoll.h as 1.0 shipped it)
 * runs unchanged on the 1.1 plugin: it finds its entries where it expects
 * them, at its own struct's offsets, and 2 forked ranks init, allgather,
 * barrier and finalize through them.  This file includes no other dlcoll
 * header.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/abi_1_0/dlcoll_1_0.h"

_Static_assert(DLCOLL_ABI_MINOR == 0, "the frozen header is 1.0");

static const dlcoll_plugin_v1_t *load(void **h)
{
    *h = dlopen(DLCOLL_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(*h, "%s", dlerror());
    const dlcoll_plugin_v1_t *p = dlsym(*h, DLCOLL_PLUGIN_SYMBOL);
    cr_assert_not_null(p);
    return p;
}

Test(abi_1_0_host, finds_its_entries)
{
    void *h;
    const dlcoll_plugin_v1_t *p = load(&h);
    cr_assert_eq(p->abi_major, DLCOLL_ABI_MAJOR);
    cr_assert_geq(p->abi_minor, 1);
    cr_assert_gt(p->struct_size, sizeof(dlcoll_plugin_v1_t), "the 1.1 struct is larger");
    cr_assert(DLCOLL_PLUGIN_HAS(p, finalize));
    cr_assert_str_eq(p->status_string(DLCOLL_ERR_MISMATCH),
                     p->status_string(DLCOLL_ERR_MISMATCH)); /* callable */
    cr_assert_eq(p->init(NULL, NULL), DLCOLL_ERR_INVALID_ARGUMENT);
    dlclose(h);
}

/* One rank: 0 on success. */
static int rank_main(int rank, const char *dir)
{
    void *h = dlopen(DLCOLL_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return 10;
    const dlcoll_plugin_v1_t *p = dlsym(h, DLCOLL_PLUGIN_SYMBOL);
    if (!p || !DLCOLL_PLUGIN_HAS(p, finalize))
        return 11;
    char url[600];
    snprintf(url, sizeof url, "file://%s", dir);
    dlcoll_config_t cfg = dlcoll_config_init();
    cfg.rank = rank;
    cfg.world_size = 2;
    cfg.timeout_ms = 20000;
    cfg.init_method = url;
    cfg.provider = "shm";
    dlcoll_comm_t comm = NULL;
    if (p->init(&cfg, &comm) != DLCOLL_SUCCESS)
        return 12;
    int32_t in[3] = {rank * 10 + 1, rank * 10 + 2, rank * 10 + 3}, out[6] = {0};
    int64_t ishape[1] = {3}, oshape[1] = {6};
    DLTensor ti, to;
    memset(&ti, 0, sizeof ti);
    memset(&to, 0, sizeof to);
    ti.data = in;
    to.data = out;
    ti.device.device_type = to.device.device_type = kDLCPU;
    ti.dtype.code = to.dtype.code = kDLInt;
    ti.dtype.bits = to.dtype.bits = 32;
    ti.dtype.lanes = to.dtype.lanes = 1;
    ti.ndim = to.ndim = 1;
    ti.shape = ishape;
    to.shape = oshape;
    int rc = 0;
    if (p->allgather(comm, &ti, &to, NULL) != DLCOLL_SUCCESS)
        rc = 13;
    for (int i = 0; rc == 0 && i < 6; i++)
        if (out[i] != (i / 3) * 10 + i % 3 + 1)
            rc = 14;
    dlcoll_request_t req = NULL;
    if (rc == 0 && (p->barrier(comm, &req) != DLCOLL_SUCCESS ||
                    p->wait(req, DLCOLL_WAIT_COMM_TIMEOUT) != DLCOLL_SUCCESS))
        rc = 15;
    if (req)
        p->request_free(req);
    if (p->finalize(comm) != DLCOLL_SUCCESS && rc == 0)
        rc = 16;
    dlclose(h);
    return rc;
}

Test(abi_1_0_host, runs_two_ranks, .timeout = 120)
{
    char dir[] = "/tmp/dlcoll-abi10-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    pid_t pid[2];
    for (int r = 0; r < 2; r++) {
        pid[r] = fork();
        cr_assert_geq(pid[r], 0);
        if (pid[r] == 0) {
            alarm(60);
            _exit(rank_main(r, dir));
        }
    }
    for (int r = 0; r < 2; r++) {
        int status = 0;
        cr_assert_eq(waitpid(pid[r], &status, 0), pid[r]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "rank %d: %s %d (10 load, 12 init, 13/14 allgather, 15 barrier, 16 finalize)",
                  r, WIFEXITED(status) ? "exit" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
