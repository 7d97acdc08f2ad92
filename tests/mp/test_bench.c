/*
 * test_bench.c -- smoke test of dlcoll-bench (examples/bench/), run the way
 * users run it: through dlcoll-run with 2 ranks on tiny sizes.
 *
 * Checks the exit status, that rank 0's table has exactly the expected rows
 * (one per size and convention, nothing else), that every row's numbers are
 * consistent with each other (min <= median, avg <= max, busbw = algbw / 2,
 * the iteration count that was asked for), the CSV file, and that the data
 * check really fails when a byte is corrupted (--inject-error), naming the
 * rank and the offset.  No timing thresholds: only the relations that hold
 * for any timing.
 */
#include "mp_capture.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BT_LAUNCHER DLCOLL_BUILD_DIR "/bin/dlcoll-run"
#define BT_BENCH DLCOLL_BUILD_DIR "/bin/dlcoll-bench"
#define BT_DEADLINE_MS 90000   /* a run still going after this is a hang */
#define BT_MAX_ROWS 64

typedef struct bt_result {
    int status;   /* raw wait status */
    char *out;
    char *err;
} bt_result;

/* One table row of dlcoll-bench. */
typedef struct bt_row {
    size_t size, count;
    char conv[16];
    int iters;
    double avg, med, min, max, algbw, busbw;
    char check[16];
} bt_row;

/* ------------------------------------------------------------------ running */

/* Run argv (NULL-terminated; argv[0] is the program's path) to completion
 * with the plugin of this build tree, killing it past the deadline. */
static bt_result bt_run(const char *const *argv)
{
    cr_assert(access(argv[0], X_OK) == 0, "%s is not built", argv[0]);
    int out = mp_capture_tmpfile("bt"), err = mp_capture_tmpfile("bt");
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        setenv("DLCOLL_PLUGIN", DLCOLL_PLUGIN_PATH, 1);
        unsetenv("DLCOLL_PROVIDER");
        unsetenv("DLCOLL_ALGO");
        unsetenv("DLCOLL_INIT_METHOD");
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(99);
    }
    bt_result r;
    r.status = 0;
    for (long waited = 0;; waited += 10) {
        pid_t w = waitpid(pid, &r.status, WNOHANG);
        if (w == pid)
            break;
        cr_assert(w == 0, "waitpid: %s", strerror(errno));
        if (waited > BT_DEADLINE_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &r.status, 0);
            cr_assert_fail("%s did not exit within %d ms", argv[0], BT_DEADLINE_MS);
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    r.out = mp_capture_read(out);
    r.err = mp_capture_read(err);
    close(out);
    close(err);
    return r;
}

static void bt_free(bt_result *r)
{
    free(r->out);
    free(r->err);
}

static int bt_code(const bt_result *r)
{
    cr_assert(WIFEXITED(r->status), "died by signal %d\nstdout:\n%s\nstderr:\n%s",
              WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0, r->out, r->err);
    return WEXITSTATUS(r->status);
}

/* ------------------------------------------------------------------ parsing */

/* Rank 0's table rows from the launcher's stdout; other lines must be
 * comments ("# ...").  Returns the number of rows. */
static int bt_rows(const char *out, bt_row *rows, int cap)
{
    int n = 0;
    const char *line = out;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        cr_assert(len < sizeof buf, "line too long: %.*s", (int)len, line);
        memcpy(buf, line, len);
        buf[len] = '\0';
        line += len + (end ? 1 : 0);

        cr_assert(strncmp(buf, "[rank 0] ", 9) == 0, "unexpected output line: %s", buf);
        const char *text = buf + 9;
        if (text[0] == '#')
            continue;
        cr_assert(n < cap, "too many rows");
        bt_row *r = &rows[n];
        int got = sscanf(text, "%zu %zu %15s %d %lf %lf %lf %lf %lf %lf %15s", &r->size, &r->count,
                         r->conv, &r->iters, &r->avg, &r->med, &r->min, &r->max, &r->algbw,
                         &r->busbw, r->check);
        cr_assert_eq(got, 11, "not a table row: %s", text);
        n++;
    }
    return n;
}

/* The relations every row must satisfy, whatever the timing. */
static void bt_check_row(const bt_row *r, int nranks, int iters)
{
    cr_expect_eq(r->count, r->size, "count of a uint8 row must equal its size");
    cr_expect_str_eq(r->check, "ok", "row %zu %s: data check %s", r->size, r->conv, r->check);
    if (iters > 0)
        cr_expect_eq(r->iters, iters, "row %zu %s: %d iterations, asked for %d", r->size, r->conv,
                     r->iters, iters);
    else
        cr_expect(r->iters >= 5 && r->iters <= 1000, "row %zu %s: %d automatic iterations",
                  r->size, r->conv, r->iters);
    cr_expect(r->min > 0.0, "row %zu %s: min time %g", r->size, r->conv, r->min);
    /* Each column is the maximum over ranks of a per-rank statistic, and on
     * every rank min <= median, avg <= max. */
    cr_expect(r->min <= r->med + 0.01 && r->med <= r->max + 0.01, "row %zu %s: min %g med %g max %g",
              r->size, r->conv, r->min, r->med, r->max);
    cr_expect(r->min <= r->avg + 0.01 && r->avg <= r->max + 0.01, "row %zu %s: min %g avg %g max %g",
              r->size, r->conv, r->min, r->avg, r->max);
    /* algbw = N * size / avg (GB/s), busbw = (N - 1) / N * algbw, printed
     * with 3 decimals; avg is printed with 2, so the avg behind algbw lies
     * within +-0.005 us of it (a 0.31 us row may come from 0.3052 us). */
    double bytes = (double)nranks * (double)r->size;
    double lo = bytes / (r->avg + 0.005) / 1e3;
    double hi = r->avg > 0.005 ? bytes / (r->avg - 0.005) / 1e3 : 1e300;
    cr_expect(r->algbw > lo - 0.0015 - lo * 0.01 && r->algbw < hi + 0.0015 + hi * 0.01,
              "row %zu %s: algbw %g, expected %g..%g from avg %g us", r->size, r->conv, r->algbw,
              lo, hi, r->avg);
    double busbw = r->algbw * (nranks - 1) / nranks;
    cr_expect(r->busbw > busbw - 0.0015 && r->busbw < busbw + 0.0015,
              "row %zu %s: busbw %g, algbw %g", r->size, r->conv, r->busbw, r->algbw);
}

/* Exactly one row per (size, convention) in sizes x convs, in that order. */
static void bt_expect_rows(const char *out, const size_t *sizes, int n_sizes,
                           const char *const *convs, int n_convs, int iters)
{
    bt_row rows[BT_MAX_ROWS];
    int n = bt_rows(out, rows, BT_MAX_ROWS);
    cr_assert_eq(n, n_sizes * n_convs, "%d table rows, expected %d:\n%s", n, n_sizes * n_convs, out);
    for (int s = 0; s < n_sizes; s++) {
        for (int c = 0; c < n_convs; c++) {
            const bt_row *r = &rows[s * n_convs + c];
            cr_expect_eq(r->size, sizes[s], "row %d: size %zu, expected %zu", s * n_convs + c,
                         r->size, sizes[s]);
            cr_expect_str_eq(r->conv, convs[c], "row %d: convention %s, expected %s",
                             s * n_convs + c, r->conv, convs[c]);
            bt_check_row(r, 2, iters);
        }
    }
    char passed[64];
    snprintf(passed, sizeof passed, "[rank 0] # PASSED: %d rows", n);
    cr_expect(strstr(out, passed) != NULL, "no '%s' line:\n%s", passed, out);
}

static const size_t tiny_sizes[] = {8, 64, 512, 4096};
#define N_TINY 4

/* ------------------------------------------------------------------ the tests */

Test(bench, single_convention_table, .timeout = 180)
{
    const char *argv[] = {BT_LAUNCHER, "-n", "2", "--timeout-ms", "30000", "--", BT_BENCH,
                          "-b", "8", "-e", "4K", "-f", "8", "-w", "1", "-n", "3", "-o", "single",
                          NULL};
    bt_result r = bt_run(argv);
    cr_assert_eq(bt_code(&r), 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    const char *convs[] = {"single"};
    bt_expect_rows(r.out, tiny_sizes, N_TINY, convs, 1, 3);
    bt_free(&r);
}

Test(bench, list_convention_table, .timeout = 180)
{
    const char *argv[] = {BT_LAUNCHER, "-n", "2", "--timeout-ms", "30000", "--", BT_BENCH,
                          "-b", "8", "-e", "4K", "-f", "8", "-w", "1", "-n", "3", "-o", "list",
                          NULL};
    bt_result r = bt_run(argv);
    cr_assert_eq(bt_code(&r), 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    const char *convs[] = {"list"};
    bt_expect_rows(r.out, tiny_sizes, N_TINY, convs, 1, 3);
    bt_free(&r);
}

/* Both conventions, automatic iteration counts, and the CSV file. */
Test(bench, both_conventions_and_csv, .timeout = 180)
{
    char csv_path[] = "/tmp/dlcoll-bt-csv-XXXXXX";
    int fd = mkstemp(csv_path);
    cr_assert(fd >= 0);
    close(fd);
    const char *argv[] = {BT_LAUNCHER, "-n", "2", "--provider", "shm", "--timeout-ms", "30000",
                          "--", BT_BENCH, "-b", "8", "-e", "4K", "-f", "8", "-T", "0.01",
                          "-c", csv_path, NULL};
    bt_result r = bt_run(argv);
    cr_assert_eq(bt_code(&r), 0, "stdout:\n%s\nstderr:\n%s", r.out, r.err);
    const char *convs[] = {"single", "list"};
    bt_expect_rows(r.out, tiny_sizes, N_TINY, convs, 2, 0);
    cr_expect(strstr(r.out, "provider shm") != NULL, "provider not in the header:\n%s", r.out);

    FILE *f = fopen(csv_path, "r");
    cr_assert_not_null(f, "no CSV file %s", csv_path);
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect_str_eq(line, "system,provider,algo,np,conv,size,count,warmup,iters,avg_us,med_us,"
                           "min_us,max_us,algbw_GBps,busbw_GBps,check\n");
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char conv[16] = "", check[16] = "";
        size_t size = 0, count = 0;
        int np = 0;
        int got = sscanf(line, "dlcoll,shm,default,%d,%15[^,],%zu,%zu,%*d,%*d,%*f,%*f,%*f,%*f,"
                               "%*f,%*f,%15[^,\n]", &np, conv, &size, &count, check);
        cr_expect_eq(got, 5, "CSV row: %s", line);
        cr_expect_eq(np, 2, "CSV row: %s", line);
        cr_expect_eq(size, tiny_sizes[n / 2], "CSV row %d: %s", n, line);
        cr_expect_str_eq(conv, n % 2 ? "list" : "single", "CSV row %d: %s", n, line);
        cr_expect_str_eq(check, "ok", "CSV row: %s", line);
        n++;
    }
    fclose(f);
    unlink(csv_path);
    cr_expect_eq(n, 2 * N_TINY, "%d CSV rows, expected %d", n, 2 * N_TINY);
    bt_free(&r);
}

/* A corrupted byte must fail the check, naming rank and offset, and every
 * rank must exit non-zero. */
Test(bench, corrupted_single_output_fails_naming_rank_and_offset, .timeout = 180)
{
    const char *argv[] = {BT_LAUNCHER, "-n", "2", "--timeout-ms", "30000", "--", BT_BENCH,
                          "-b", "64", "-e", "64", "-w", "1", "-n", "2", "-o", "single",
                          "--inject-error", "1:70", NULL};
    bt_result r = bt_run(argv);
    cr_assert_neq(bt_code(&r), 0, "a corrupted output passed:\nstdout:\n%s\nstderr:\n%s", r.out,
                  r.err);
    const char *want = "rank 1: verification failed: single, size 64: block from rank 1, "
                       "byte 6 (output byte offset 70)";
    cr_expect(strstr(r.err, want) != NULL, "no '%s' in stderr:\n%s", want, r.err);
    cr_expect(strstr(r.err, "rank 0: verification failed") == NULL,
              "rank 0 reported a failure it does not have:\n%s", r.err);
    cr_expect(strstr(r.out, "FAILED") != NULL, "rank 0 did not report the failure:\n%s", r.out);
    bt_free(&r);
}

Test(bench, corrupted_list_output_fails_naming_rank_and_offset, .timeout = 180)
{
    const char *argv[] = {BT_LAUNCHER, "-n", "2", "--timeout-ms", "30000", "--", BT_BENCH,
                          "-b", "16", "-e", "16", "-w", "1", "-n", "2", "-o", "list",
                          "--inject-error", "0:3", NULL};
    bt_result r = bt_run(argv);
    cr_assert_neq(bt_code(&r), 0, "a corrupted output passed:\nstdout:\n%s\nstderr:\n%s", r.out,
                  r.err);
    const char *want = "rank 0: verification failed: list, size 16: block from rank 0, "
                       "byte 3 (outputs[0] byte offset 3)";
    cr_expect(strstr(r.err, want) != NULL, "no '%s' in stderr:\n%s", want, r.err);
    bt_free(&r);
}

/* Usage errors are reported before any rank starts communicating. */
/* The ABI 1.1 collectives (-o allreduce / reduce_scatter / broadcast): one
 * verified row per size; busbw follows nccl-tests (allreduce 2(N-1)/N of
 * algbw, reduce_scatter (N-1)/N, broadcast 1); a corrupted allreduce output
 * fails naming the rank and the element. */
Test(bench, abi_1_1_collectives, .timeout = 180)
{
    static const char *const colls[] = {"allreduce", "reduce_scatter", "broadcast"};
    static const double bus[] = {1.0, 0.5, 1.0}; /* busbw / algbw at N = 2 */
    for (int c = 0; c < 3; c++) {
        const char *argv[] = {BT_LAUNCHER, "-n", "2", "--timeout-ms", "30000", "--", BT_BENCH,
                              "-b", "8", "-e", "4K", "-f", "8", "-w", "1", "-n", "3", "-o",
                              colls[c], NULL};
        bt_result r = bt_run(argv);
        cr_assert_eq(bt_code(&r), 0, "%s: stdout:\n%s\nstderr:\n%s", colls[c], r.out, r.err);
        bt_row rows[BT_MAX_ROWS];
        int n = bt_rows(r.out, rows, BT_MAX_ROWS);
        cr_assert_eq(n, N_TINY, "%s: %d rows:\n%s", colls[c], n, r.out);
        for (int i = 0; i < n; i++) {
            cr_expect_eq(rows[i].size, tiny_sizes[i]);
            cr_expect_str_eq(rows[i].conv, colls[c]);
            cr_expect_str_eq(rows[i].check, "ok");
            cr_expect_eq(rows[i].iters, 3);
            double want = rows[i].algbw * bus[c];
            cr_expect(rows[i].busbw > want - 0.0015 && rows[i].busbw < want + 0.0015,
                      "%s row %zu: busbw %g, algbw %g", colls[c], rows[i].size, rows[i].busbw,
                      rows[i].algbw);
        }
        cr_expect(strstr(r.out, "# PASSED: 4 rows") != NULL, "%s: no PASSED line:\n%s", colls[c],
                  r.out);
        bt_free(&r);
    }
    const char *argv[] = {BT_LAUNCHER, "-n", "2", "--timeout-ms", "30000", "--", BT_BENCH,
                          "-b", "64", "-e", "64", "-w", "1", "-n", "2", "-o", "allreduce",
                          "--inject-error", "1:8", NULL};
    bt_result r = bt_run(argv);
    cr_assert_neq(bt_code(&r), 0, "a corrupted allreduce output passed:\n%s\n%s", r.out, r.err);
    const char *want = "rank 1: verification failed: allreduce, size 64: element 2";
    cr_expect(strstr(r.err, want) != NULL, "no '%s' in stderr:\n%s", want, r.err);
    bt_free(&r);
}

Test(bench, bad_options_exit_2, .timeout = 60)
{
    const char *cases[][4] = {
        {BT_BENCH, "-o", "diagonal", NULL},
        {BT_BENCH, "-b", "12Q", NULL},
        {BT_BENCH, "-b", "1M", "-e"},   /* -e without a value */
        {BT_BENCH, "-f", "1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[5] = {cases[i][0], cases[i][1], cases[i][2], cases[i][3], NULL};
        bt_result r = bt_run(argv);
        cr_expect_eq(bt_code(&r), 2, "case %zu (%s %s): exit %d, stderr:\n%s", i, cases[i][1],
                     cases[i][2], bt_code(&r), r.err);
        cr_expect(strstr(r.err, "dlcoll-bench") != NULL, "case %zu: no message:\n%s", i, r.err);
        bt_free(&r);
    }
}
