/*
 * test_launcher.c -- dlcoll-run, driven with small shell-command ranks.
 *
 * Each test runs DLCOLL_BUILD_DIR/bin/dlcoll-run with its output captured in
 * temporary files (or a pipe, where the test must react to it) and checks the
 * exact lines, environment values and exit statuses.  No plugin is involved.
 */
#include "mp_capture.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LT_LAUNCHER DLCOLL_BUILD_DIR "/bin/dlcoll-run"
#define LT_DEADLINE_MS 60000   /* a launcher still running after this is a hang */

typedef struct lt_result {
    int status;   /* raw wait status of the launcher */
    char *out;    /* everything it wrote to stdout  */
    char *err;    /* everything it wrote to stderr  */
} lt_result;

static void lt_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* In the child: a clean launcher environment plus the test's changes
 * ("NAME=VALUE" sets, "NAME" unsets). */
static void lt_child_env(const char *const *env)
{
    static const char *const cleared[] = {"DLCOLL_PROVIDER",     "DLCOLL_TIMEOUT",
                                          "DLCOLL_INIT_METHOD",  "FI_TCP_IFACE",
                                          "DLCOLL_JOB_KEY",      "DLCOLL_JOB_KEY_FILE",
                                          NULL};
    for (int i = 0; cleared[i]; i++)
        unsetenv(cleared[i]);
    for (int i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq) {
            unsetenv(env[i]);
            continue;
        }
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
        setenv(name, eq + 1, 1);
    }
}

/* Start the launcher with args (NULL-terminated, after argv[0]).  stdout goes
 * to out_fd; stderr to err_fd; stdin from in_fd (-1: /dev/null). */
static pid_t lt_start(const char *const *env, const char *const *args, int in_fd, int out_fd,
                      int err_fd)
{
    cr_assert(access(LT_LAUNCHER, X_OK) == 0, "%s is not built", LT_LAUNCHER);
    const char *argv[64];
    int n = 0;
    argv[n++] = LT_LAUNCHER;
    for (int i = 0; args[i]; i++) {
        cr_assert(n < 63);
        argv[n++] = args[i];
    }
    argv[n] = NULL;

    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        lt_child_env(env);
        if (in_fd < 0)
            in_fd = open("/dev/null", O_RDONLY);
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(LT_LAUNCHER, (char *const *)argv);
        _exit(99);
    }
    return pid;
}

/* Wait for the launcher, killing it (and failing) past the deadline. */
static int lt_wait(pid_t pid)
{
    int status = 0;
    for (long waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        cr_assert(r == 0, "waitpid: %s", strerror(errno));
        if (waited > LT_DEADLINE_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            cr_assert_fail("dlcoll-run did not exit within %d ms", LT_DEADLINE_MS);
        }
        lt_sleep_ms(10);
    }
}

/* Run the launcher to completion; stdin_text NULL means /dev/null. */
static lt_result lt_run_env(const char *const *env, const char *stdin_text,
                            const char *const *args)
{
    int out = mp_capture_tmpfile("lt"), err = mp_capture_tmpfile("lt"), in = -1;
    if (stdin_text) {
        in = mp_capture_tmpfile("lt");
        cr_assert(write(in, stdin_text, strlen(stdin_text)) == (ssize_t)strlen(stdin_text));
        lseek(in, 0, SEEK_SET);
    }
    pid_t pid = lt_start(env, args, in, out, err);
    lt_result r;
    r.status = lt_wait(pid);
    r.out = mp_capture_read(out);
    r.err = mp_capture_read(err);
    close(out);
    close(err);
    if (in >= 0)
        close(in);
    return r;
}

static lt_result lt_run(const char *const *args)
{
    return lt_run_env(NULL, NULL, args);
}

static void lt_free(lt_result *r)
{
    free(r->out);
    free(r->err);
}

/* Exit code of the launcher; fails the test when it was killed by a signal. */
static int lt_code(const lt_result *r)
{
    cr_assert(WIFEXITED(r->status), "dlcoll-run died by signal %d\nstdout:\n%s\nstderr:\n%s",
              WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0, r->out, r->err);
    return WEXITSTATUS(r->status);
}

static int lt_count(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += len)
        n++;
    return n;
}

static int lt_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A fresh scratch directory for marker files. */
static void lt_tmpdir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/dlcoll-lt-dir-XXXXXX");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
}

static int lt_exists(const char *dir, const char *name, int rank)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.%d", dir, name, rank);
    return access(path, F_OK) == 0;
}

static void lt_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert(system(cmd) == 0);
}

/* ------------------------------------------------------------------ output */

Test(launcher, prefixes_every_line_on_the_right_stream, .timeout = 120)
{
    const char *args[] = {"-n", "3", "--", "sh", "-c",
                          "echo out $DLCOLL_RANK; echo err $DLCOLL_RANK >&2; "
                          "printf 'a\\nb\\n'; printf 'tail'",
                          NULL};
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    for (int k = 0; k < 3; k++) {
        char line[64];
        snprintf(line, sizeof line, "[rank %d] out %d\n", k, k);
        cr_expect_eq(lt_count(r.out, line), 1, "missing '%s' in stdout:\n%s", line, r.out);
        snprintf(line, sizeof line, "[rank %d] a\n", k);
        cr_expect_eq(lt_count(r.out, line), 1, "missing '%s' in stdout:\n%s", line, r.out);
        snprintf(line, sizeof line, "[rank %d] b\n", k);
        cr_expect_eq(lt_count(r.out, line), 1, "missing '%s' in stdout:\n%s", line, r.out);
        /* The partial last line is flushed at exit, with a newline added. */
        snprintf(line, sizeof line, "[rank %d] tail\n", k);
        cr_expect_eq(lt_count(r.out, line), 1, "missing '%s' in stdout:\n%s", line, r.out);
        snprintf(line, sizeof line, "[rank %d] err %d\n", k, k);
        cr_expect_eq(lt_count(r.err, line), 1, "missing '%s' in stderr:\n%s", line, r.err);
    }
    /* stdout: exactly those 12 lines, every one prefixed; nothing of stderr. */
    cr_expect_eq(lt_count_lines(r.out), 12, "stdout:\n%s", r.out);
    cr_expect_eq(lt_count(r.out, "[rank "), 12, "stdout:\n%s", r.out);
    cr_expect_eq(lt_count(r.out, "err"), 0, "stdout:\n%s", r.out);
    cr_expect_eq(lt_count_lines(r.err), 3, "stderr:\n%s", r.err);
    lt_free(&r);
}

Test(launcher, keeps_order_and_loses_nothing_under_volume, .timeout = 120)
{
    /* 20000 lines per rank: many reads per pipe, lines cut across reads. */
    const char *args[] = {"-n", "2", "--", "seq", "1", "20000", NULL};
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    cr_assert_eq(lt_count_lines(r.out), 40000);
    int next[2] = {1, 1};
    char *save = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int rank = -1, value = -1;
        cr_assert_eq(sscanf(line, "[rank %d] %d", &rank, &value), 2, "bad line '%s'", line);
        cr_assert(rank == 0 || rank == 1, "bad line '%s'", line);
        cr_assert_eq(value, next[rank], "rank %d: got %d, expected %d", rank, value, next[rank]);
        next[rank]++;
    }
    cr_expect_eq(next[0], 20001);
    cr_expect_eq(next[1], 20001);
    lt_free(&r);
}

Test(launcher, splits_a_line_longer_than_its_buffer, .timeout = 120)
{
    /* 100000 'x' then a newline: split into prefixed pieces, no byte lost. */
    const char *args[] = {"-n", "1", "--", "sh", "-c",
                          "head -c 100000 /dev/zero | tr '\\0' x; echo", NULL};
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    int lines = lt_count_lines(r.out);
    cr_expect(lines >= 2, "expected the long line to be split, got %d line(s)", lines);
    cr_expect_eq(lt_count(r.out, "[rank 0] "), lines);
    cr_expect_eq(lt_count(r.out, "x"), 100000);
    lt_free(&r);
}

Test(launcher, no_prefix_passes_output_through, .timeout = 120)
{
    const char *args[] = {"--no-prefix", "-n", "2", "--", "sh", "-c", "echo plain", NULL};
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    cr_expect_str_eq(r.out, "plain\nplain\n");
    lt_free(&r);
}

Test(launcher, stdin_goes_to_rank_0_only, .timeout = 120)
{
    const char *args[] = {"-n", "2", "--", "cat", NULL};
    lt_result r = lt_run_env(NULL, "hello\n", args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    cr_expect_str_eq(r.out, "[rank 0] hello\n");
    lt_free(&r);
}

/* ------------------------------------------------------------------ environment */

/* One line per rank with every variable; "-" for unset ones. */
#define LT_ENV_SCRIPT                                                                   \
    "echo ENV ${DLCOLL_RANK--} ${DLCOLL_WORLD_SIZE--} ${DLCOLL_LOCAL_RANK--} ${RANK--} " \
    "${WORLD_SIZE--} ${LOCAL_RANK--} ${LOCAL_WORLD_SIZE--} ${MASTER_ADDR--} "            \
    "${MASTER_PORT--} ${DLCOLL_INIT_METHOD--} ${DLCOLL_PROVIDER--} ${DLCOLL_TIMEOUT--} " \
    "${FI_TCP_IFACE--}"

typedef struct lt_env_line {
    int rank, size, local_rank, trank, tsize, tlocal, tlocal_size, master_port;
    char master_addr[64], init[256], provider[64], timeout[32], iface[64];
} lt_env_line;

/* Parse the ENV line of every rank out of stdout. */
static void lt_parse_env(const char *out, int n, lt_env_line *lines)
{
    for (int k = 0; k < n; k++) {
        char tag[32];
        snprintf(tag, sizeof tag, "[rank %d] ENV ", k);
        const char *p = strstr(out, tag);
        cr_assert_not_null(p, "no ENV line for rank %d in:\n%s", k, out);
        lt_env_line *l = &lines[k];
        int got = sscanf(p + strlen(tag), "%d %d %d %d %d %d %d %63s %d %255s %63s %31s %63s",
                         &l->rank, &l->size, &l->local_rank, &l->trank, &l->tsize, &l->tlocal,
                         &l->tlocal_size, l->master_addr, &l->master_port, l->init, l->provider,
                         l->timeout, l->iface);
        cr_assert_eq(got, 13, "cannot parse the ENV line of rank %d in:\n%s", k, out);
    }
}

Test(launcher, sets_the_rank_environment, .timeout = 120)
{
    const char *args[] = {"-n", "3", "--provider", "tcp", "--timeout-ms", "4321", "--",
                          "sh", "-c", LT_ENV_SCRIPT, NULL};
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    lt_env_line l[3];
    lt_parse_env(r.out, 3, l);
    for (int k = 0; k < 3; k++) {
        cr_expect_eq(l[k].rank, k);
        cr_expect_eq(l[k].size, 3);
        cr_expect_eq(l[k].local_rank, k);
        cr_expect_eq(l[k].trank, k);
        cr_expect_eq(l[k].tsize, 3);
        cr_expect_eq(l[k].tlocal, k);
        cr_expect_eq(l[k].tlocal_size, 3);
        cr_expect_str_eq(l[k].master_addr, "127.0.0.1");
        cr_expect(l[k].master_port > 0 && l[k].master_port < 65536);
        cr_expect_eq(l[k].master_port, l[0].master_port, "MASTER_PORT differs between ranks");
        cr_expect_str_eq(l[k].init, l[0].init, "DLCOLL_INIT_METHOD differs between ranks");
        cr_expect_str_eq(l[k].provider, "tcp");
        cr_expect_str_eq(l[k].timeout, "4321");
        cr_expect_str_eq(l[k].iface, "lo");
    }
    int port = 0;
    char rest[8] = "";
    cr_expect_eq(sscanf(l[0].init, "tcp://127.0.0.1:%d%7s", &port, rest), 1,
                 "DLCOLL_INIT_METHOD is '%s'", l[0].init);
    cr_expect(port > 0 && port < 65536, "DLCOLL_INIT_METHOD is '%s'", l[0].init);
    cr_expect_neq(port, l[0].master_port, "dlcoll's store and MASTER_PORT share a port");
    lt_free(&r);
}

Test(launcher, keeps_user_choices_and_leaves_unset_ones_unset, .timeout = 120)
{
    const char *env[] = {"FI_TCP_IFACE=eth7", NULL};
    const char *args[] = {"-n", "2", "--init-method", "file:///tmp/dlcoll-lt-rdv", "--",
                          "sh", "-c", LT_ENV_SCRIPT, NULL};
    lt_result r = lt_run_env(env, NULL, args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    lt_env_line l[2];
    lt_parse_env(r.out, 2, l);
    for (int k = 0; k < 2; k++) {
        cr_expect_str_eq(l[k].init, "file:///tmp/dlcoll-lt-rdv");
        cr_expect_str_eq(l[k].provider, "-");
        cr_expect_str_eq(l[k].timeout, "-");
        cr_expect_str_eq(l[k].iface, "eth7");
    }
    lt_free(&r);
}

/* ------------------------------------------------------------------ failures */

Test(launcher, all_ranks_succeed_at_different_times, .timeout = 120)
{
    const char *args[] = {"-n", "3", "--", "sh", "-c",
                          "sleep 0.$((DLCOLL_RANK * 2)); echo done $DLCOLL_RANK", NULL};
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    cr_expect_eq(lt_count(r.out, "] done "), 3, "stdout:\n%s", r.out);
    cr_expect_eq(lt_count(r.err, "dlcoll-run:"), 0, "stderr:\n%s", r.err);
    lt_free(&r);
}

Test(launcher, failing_rank_stops_the_others, .timeout = 120)
{
    char dir[64], script[512];
    lt_tmpdir(dir, sizeof dir);
    /* Rank 1 fails at once; the others would mark "late" after 2 s (from a
     * background subshell, i.e. a grandchild of the launcher) and "done" when
     * their shell finishes normally. */
    snprintf(script, sizeof script,
             "if [ \"$DLCOLL_RANK\" = 1 ]; then echo failing; exit 3; fi; "
             "(sleep 2; touch %s/late.$DLCOLL_RANK) & wait; touch %s/done.$DLCOLL_RANK",
             dir, dir);
    const char *args[] = {"-n", "3", "--", "sh", "-c", script, NULL};
    lt_result r = lt_run(args);
    cr_expect_eq(lt_code(&r), 3, "stderr:\n%s", r.err);
    cr_expect_eq(lt_count(r.out, "[rank 1] failing\n"), 1, "stdout:\n%s", r.out);
    cr_expect_eq(lt_count(r.err, "dlcoll-run: rank 1 exited with status 3; stopping the other "
                                 "ranks\n"),
                 1, "stderr:\n%s", r.err);
    /* Only the first failure is reported. */
    cr_expect_eq(lt_count(r.err, "exited with"), 1, "stderr:\n%s", r.err);
    for (int k = 0; k < 3; k++)
        cr_expect(!lt_exists(dir, "done", k), "rank %d was not stopped", k);
    /* Past the time the background sleeps would have ended: their whole
     * process groups must be gone too. */
    lt_sleep_ms(2500);
    for (int k = 0; k < 3; k++)
        cr_expect(!lt_exists(dir, "late", k), "rank %d's child survived the launcher", k);
    lt_rmdir(dir);
    lt_free(&r);
}

Test(launcher, sigkill_follows_an_ignored_sigterm, .timeout = 120)
{
    char dir[64], script[1024];
    lt_tmpdir(dir, sizeof dir);
    /* Rank 1 fails once ranks 0 and 2 ignore SIGTERM (they say so with a
     * "ready" file); only SIGKILL can stop them then. */
    snprintf(script, sizeof script,
             "if [ \"$DLCOLL_RANK\" = 1 ]; then "
             "while [ ! -e %s/ready.0 ] || [ ! -e %s/ready.2 ]; do sleep 0.05; done; exit 5; fi; "
             "trap '' TERM; touch %s/ready.$DLCOLL_RANK; sleep 30; touch %s/done.$DLCOLL_RANK",
             dir, dir, dir, dir);
    const char *args[] = {"-n", "3", "--grace-ms", "300", "--", "sh", "-c", script, NULL};
    lt_result r = lt_run(args);
    cr_expect_eq(lt_code(&r), 5, "stderr:\n%s", r.err);
    cr_expect_eq(lt_count(r.err, "rank 1 exited with status 5"), 1, "stderr:\n%s", r.err);
    cr_expect_eq(lt_count(r.err, "sending SIGKILL"), 1, "stderr:\n%s", r.err);
    for (int k = 0; k < 3; k++)
        cr_expect(!lt_exists(dir, "done", k), "rank %d was not stopped", k);
    lt_rmdir(dir);
    lt_free(&r);
}

Test(launcher, rank_killed_by_a_signal, .timeout = 120)
{
    const char *args[] = {"-n", "2", "--", "sh", "-c",
                          "if [ \"$DLCOLL_RANK\" = 0 ]; then kill -USR1 $$; fi; sleep 20", NULL};
    lt_result r = lt_run(args);
    cr_expect_eq(lt_code(&r), 128 + SIGUSR1, "stderr:\n%s", r.err);
    cr_expect_eq(lt_count(r.err, "dlcoll-run: rank 0 exited with signal SIGUSR1; stopping the "
                                 "other ranks\n"),
                 1, "stderr:\n%s", r.err);
    lt_free(&r);
}

Test(launcher, program_that_cannot_be_executed, .timeout = 120)
{
    const char *args[] = {"-n", "2", "--", "/nonexistent/dlcoll-lt-program", NULL};
    lt_result r = lt_run(args);
    cr_expect_eq(lt_code(&r), 127, "stderr:\n%s", r.err);
    cr_expect(lt_count(r.err, "cannot execute '/nonexistent/dlcoll-lt-program'") >= 1,
              "stderr:\n%s", r.err);
    lt_free(&r);
}

/* Start a job whose ranks print "ready" and then wait for a signal, send sig
 * to the launcher, and check that every rank saw it. */
static void lt_check_forwarding(int sig, const char *name)
{
    int out_pipe[2];
    cr_assert(pipe(out_pipe) == 0);
    int err = mp_capture_tmpfile("lt");
    const char *args[] = {"-n", "2", "--", "sh", "-c",
                          "trap 'echo got-signal; exit 7' INT TERM; echo ready; "
                          "while :; do sleep 0.05; done",
                          NULL};
    pid_t pid = lt_start(NULL, args, -1, out_pipe[1], err);
    close(out_pipe[1]);

    /* Read until both ranks are ready (their traps are in place). */
    char buf[8192] = "";
    size_t used = 0;
    while (lt_count(buf, "ready\n") < 2) {
        cr_assert(used < sizeof buf - 1);
        ssize_t n = read(out_pipe[0], buf + used, sizeof buf - 1 - used);
        cr_assert(n > 0, "dlcoll-run closed stdout before the ranks were ready");
        used += (size_t)n;
        buf[used] = '\0';
    }
    cr_assert(kill(pid, sig) == 0);
    for (;;) {
        cr_assert(used < sizeof buf - 1);
        ssize_t n = read(out_pipe[0], buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
    }
    close(out_pipe[0]);
    lt_result r = {lt_wait(pid), strdup(buf), mp_capture_read(err)};
    close(err);

    cr_expect_eq(lt_code(&r), 128 + sig, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    cr_expect_eq(lt_count(r.out, "[rank 0] got-signal\n"), 1, "stdout:\n%s", r.out);
    cr_expect_eq(lt_count(r.out, "[rank 1] got-signal\n"), 1, "stdout:\n%s", r.out);
    char msg[64];
    snprintf(msg, sizeof msg, "dlcoll-run: got %s; forwarding it to the ranks", name);
    cr_expect_eq(lt_count(r.err, msg), 1, "stderr:\n%s", r.err);
    lt_free(&r);
}

Test(launcher, forwards_sigint, .timeout = 120)
{
    lt_check_forwarding(SIGINT, "SIGINT");
}

Test(launcher, forwards_sigterm, .timeout = 120)
{
    lt_check_forwarding(SIGTERM, "SIGTERM");
}

/* ------------------------------------------------------------------ usage */

Test(launcher, usage_errors_exit_2, .timeout = 120)
{
    static const char *const cases[][8] = {
        {NULL},                                        /* nothing at all        */
        {"-n", NULL},                                  /* -n without a value    */
        {"-n", "0", "--", "true", NULL},               /* zero ranks            */
        {"-n", "abc", "true", NULL},                   /* not a number          */
        {"-n", "2", NULL},                             /* no program            */
        {"-n", "2", "--", NULL},                       /* no program after --   */
        {"true", NULL},                                /* no -n                 */
        {"--bogus", "-n", "2", "true", NULL},          /* unknown option        */
        {"-n", "2", "--timeout-ms", "-5", "true", NULL},
        {"-n", "2", "--provider", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lt_result r = lt_run(cases[i]);
        cr_expect_eq(lt_code(&r), 2, "case %zu: stderr:\n%s", i, r.err);
        cr_expect(lt_count(r.err, "usage: dlcoll-run") == 1, "case %zu: stderr:\n%s", i, r.err);
        cr_expect_str_eq(r.out, "", "case %zu", i);
        lt_free(&r);
    }
}

Test(launcher, help_exits_0, .timeout = 120)
{
    const char *args[] = {"--help", NULL};
    lt_result r = lt_run(args);
    cr_expect_eq(lt_code(&r), 0);
    cr_expect(lt_count(r.out, "usage: dlcoll-run") == 1, "stdout:\n%s", r.out);
    lt_free(&r);
}

Test(launcher, accepts_the_other_spellings_of_n, .timeout = 120)
{
    static const char *const cases[][7] = {
        {"-n2", "echo", "x", NULL},
        {"-np", "2", "echo", "x", NULL},
        {"--nproc=2", "echo", "x", NULL},
        {"--nproc-per-node", "2", "--", "echo", "x", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lt_result r = lt_run(cases[i]);
        cr_expect_eq(lt_code(&r), 0, "case %zu: stderr:\n%s", i, r.err);
        /* Two ranks, each printing once (in either order). */
        cr_expect_eq(strlen(r.out), 2 * strlen("[rank 0] x\n"), "case %zu:\n%s", i, r.out);
        cr_expect_eq(lt_count(r.out, "[rank 0] x\n"), 1, "case %zu:\n%s", i, r.out);
        cr_expect_eq(lt_count(r.out, "[rank 1] x\n"), 1, "case %zu:\n%s", i, r.out);
        lt_free(&r);
    }
}

/* ------------------------------------------------------------------ the job key */

/* The DLCOLL_JOB_KEY each of n ranks printed as "key=<value>" (stdout, any order). */
static void lt_keys(const char *out, int n, char keys[][300])
{
    int found = 0;
    for (const char *p = strstr(out, "key="); p && found < n; p = strstr(p + 4, "key=")) {
        size_t len = strcspn(p + 4, "\n");
        cr_assert(len < 300);
        memcpy(keys[found], p + 4, len);
        keys[found++][len] = '\0';
    }
    cr_assert_eq(found, n, "%d key lines in:\n%s", found, out);
}

Test(launcher, gives_the_ranks_a_fresh_job_key, .timeout = 120)
{
    const char *args[] = {"-n", "2", "--", "sh", "-c", "echo \"key=$DLCOLL_JOB_KEY\"", NULL};
    char first[2][300], second[2][300];
    lt_result r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    lt_keys(r.out, 2, first);
    lt_free(&r);
    r = lt_run(args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    lt_keys(r.out, 2, second);
    lt_free(&r);
    cr_assert_eq(strlen(first[0]), 64, "key '%s'", first[0]);
    cr_assert_eq(strspn(first[0], "0123456789abcdef"), 64, "key '%s' is not hex", first[0]);
    cr_assert_str_eq(first[0], first[1], "the ranks got different keys");
    cr_assert_str_eq(second[0], second[1], "the ranks got different keys");
    cr_assert_str_neq(first[0], second[0], "two jobs got the same key");

    /* A key the user set passes through unchanged. */
    const char *env[] = {"DLCOLL_JOB_KEY=the-users-own-job-key", NULL};
    r = lt_run_env(env, NULL, args);
    cr_assert_eq(lt_code(&r), 0, "stderr:\n%s", r.err);
    lt_keys(r.out, 2, first);
    cr_assert_str_eq(first[0], "the-users-own-job-key");
    cr_assert_str_eq(first[1], "the-users-own-job-key");
    lt_free(&r);
}
