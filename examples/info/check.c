/*
 * check.c -- dlcoll-info --check N: a quick N-rank self-test through dlcoll-run.
 *
 * The tool runs  <its dir>/dlcoll-run -n N --timeout-ms 60000 -- <itself> --check-rank
 * with DLCOLL_PLUGIN set, in the child only, to the plugin the report
 * describes, so every rank loads that file.  Each rank initialises from the
 * launcher's environment, gathers three sizes (4 B, 4000 B and 1 MiB per
 * rank) and checks every element of every block, passes a barrier and
 * finalizes; a rank that finds a wrong element names the block's rank and
 * the element.  The check passes when dlcoll-run exits 0 and rank 0 says so.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/dlcoll.h"
#include "abi/dlcoll_loader.h"
#include "examples/info/info.h"
#include "examples/tool_paths.h"

#define CHECK_PASSED "dlcoll-info check: passed"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int info_check(info_out *o, int nranks, const char *plugin)
{
    char dir[PATH_MAX], run[PATH_MAX + 16], self[PATH_MAX + 16], n[16];
    info_out_section(o, "check", "check (dlcoll-run)");
    info_out_int(o, "ranks", nranks);
    if (dlcoll_tool_dir(dir, sizeof dir) != 0) {
        info_out_bool(o, "passed", 0);
        info_out_str(o, "error", "cannot read /proc/self/exe to find dlcoll-run");
        return -1;
    }
    snprintf(run, sizeof run, "%s/dlcoll-run", dir);
    snprintf(self, sizeof self, "%s/dlcoll-info", dir);
    snprintf(n, sizeof n, "%d", nranks);
    info_out_str(o, "launcher", run);
    if (access(run, X_OK) != 0) {
        info_out_bool(o, "passed", 0);
        info_out_str(o, "error", "dlcoll-run is not next to dlcoll-info");
        return -1;
    }

    int fds[2];
    if (pipe(fds) != 0) {
        info_out_bool(o, "passed", 0);
        info_out_str(o, "error", strerror(errno));
        return -1;
    }
    fflush(stdout);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        setenv("DLCOLL_PLUGIN", plugin, 1);
        char *argv[] = {run, "-n", n, "--timeout-ms", "60000", "--", self, "--check-rank", NULL};
        execv(run, argv);
        fprintf(stderr, "dlcoll-info: exec %s: %s\n", run, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        info_out_bool(o, "passed", 0);
        info_out_str(o, "error", strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    ssize_t r;
    char chunk[4096];
    while ((r = read(fds[0], chunk, sizeof chunk)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (out != NULL && len + (size_t)r < cap) {
            memcpy(out + len, chunk, (size_t)r);
            len += (size_t)r;
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    double secs = now_s() - t0;
    while (len > 0 && out != NULL && out[len - 1] == '\n')
        len--;
    if (out != NULL)
        out[len] = '\0';
    int exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    int passed = exited_ok && out != NULL && strstr(out, "[rank 0] " CHECK_PASSED) != NULL;
    info_out_bool(o, "passed", passed);
    info_out_int(o, "wall_ms", (long long)(secs * 1000.0 + 0.5));
    info_out_int(o, "exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    info_out_str(o, "output", out != NULL ? out : "(out of memory)");
    free(out);
    return passed ? 0 : -1;
}

/* ------------------------------------------------------------ the rank side */

static int rank_fail(const dlcoll_plugin_v1_t *p, dlcoll_comm_t c, int rank, const char *what,
                     dlcoll_status_t st)
{
    fprintf(stderr, "dlcoll-info check: rank %d: %s failed: %s: %s\n", rank, what,
            p->status_string(st), p->last_error(c));
    return 1;
}

int info_check_rank(const char *plugin)
{
    dlcoll_loader_t ld;
    if (dlcoll_load(&ld, plugin) != 0) {
        fprintf(stderr, "dlcoll-info check: %s\n", ld.error);
        return 1;
    }
    const dlcoll_plugin_v1_t *p = ld.plugin;
    dlcoll_config_t cfg = dlcoll_config_init();
    dlcoll_comm_t world = NULL;
    dlcoll_status_t st = p->init(&cfg, &world);
    if (st != DLCOLL_SUCCESS) {
        rank_fail(p, NULL, -1, "init", st);
        dlcoll_unload(&ld);
        return 1;
    }
    int rank = -1, size = 0, bad = 0;
    p->comm_rank(world, &rank);
    p->comm_size(world, &size);
    static const int64_t counts[] = {1, 1000, 262144}; /* int32: 4 B, 4000 B, 1 MiB */
    for (size_t k = 0; k < sizeof counts / sizeof counts[0] && !bad; k++) {
        int64_t count = counts[k], out_count = count * size;
        int32_t *in = malloc((size_t)count * sizeof *in);
        int32_t *out = calloc((size_t)out_count, sizeof *out);
        if (in == NULL || out == NULL) {
            fprintf(stderr, "dlcoll-info check: rank %d: out of memory\n", rank);
            free(in);
            free(out);
            bad = 1;
            break;
        }
        for (int64_t i = 0; i < count; i++)
            in[i] = (int32_t)(rank * 7919 + i);
        int64_t in_shape = count;
        DLTensor ti = {in, {kDLCPU, 0}, 1, {kDLInt, 32, 1}, &in_shape, NULL, 0};
        DLTensor to = {out, {kDLCPU, 0}, 1, {kDLInt, 32, 1}, &out_count, NULL, 0};
        st = p->allgather(world, &ti, &to, NULL);
        if (st != DLCOLL_SUCCESS) {
            bad = rank_fail(p, world, rank, "allgather", st);
        } else {
            for (int r = 0; r < size && !bad; r++)
                for (int64_t i = 0; i < count && !bad; i++)
                    if (out[r * count + i] != (int32_t)(r * 7919 + i)) {
                        fprintf(stderr,
                                "dlcoll-info check: rank %d: allgather of %lld B per rank: "
                                "element %lld of rank %d's block is %d, expected %d\n",
                                rank, (long long)(count * 4), (long long)i, r,
                                out[r * count + i], (int)(r * 7919 + i));
                        bad = 1;
                    }
        }
        free(in);
        free(out);
    }
    if (!bad && (st = p->barrier(world, NULL)) != DLCOLL_SUCCESS)
        bad = rank_fail(p, world, rank, "barrier", st);
    if (bad)
        p->abort(world);
    st = p->finalize(world);
    if (st != DLCOLL_SUCCESS && !bad)
        bad = rank_fail(p, NULL, rank, "finalize", st);
    if (!bad && rank == 0)
        printf(CHECK_PASSED ": %d ranks, allgather of 4 B, 4000 B and 1 MiB per rank (every "
               "element checked), barrier, finalize; plugin %s %s\n",
               size, p->name, p->version);
    dlcoll_unload(&ld);
    return bad;
}
