/*
 * options.c -- the dlcoll-run command line.
 *
 *   dlcoll-run -n N [--provider P] [--timeout-ms T] [--init-method URL]
 *              [--grace-ms G] [--no-prefix] [--] prog [args...]
 *
 * Long options also take "--opt=value"; -n also takes "-nN", "-np N",
 * "--nproc N" and torchrun's "--nproc-per-node N".  Options end at "--" or at
 * the first argument that does not start with '-'.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launcher.h"

void dlr_print_usage(FILE *to)
{
    fprintf(to,
            "usage: dlcoll-run -n N [options] [--] program [args...]\n"
            "\n"
            "Start N ranks of program on this host with the dlcoll / torchrun environment\n"
            "(DLCOLL_RANK, DLCOLL_WORLD_SIZE, DLCOLL_LOCAL_RANK, DLCOLL_INIT_METHOD, RANK,\n"
            "WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), and a fresh\n"
            "job key in DLCOLL_JOB_KEY unless DLCOLL_JOB_KEY or DLCOLL_JOB_KEY_FILE is set.\n"
            "\n"
            "options:\n"
            "  -n, -np, --nproc, --nproc-per-node N\n"
            "                        number of ranks (1..%d), required\n"
            "  --provider P          set DLCOLL_PROVIDER=P (shm, tcp, ...)\n"
            "  --timeout-ms T        set DLCOLL_TIMEOUT=T (milliseconds, > 0)\n"
            "  --init-method URL     set DLCOLL_INIT_METHOD=URL instead of\n"
            "                        tcp://127.0.0.1:<free port>\n"
            "  --grace-ms G          after a failure, wait G ms between SIGTERM and\n"
            "                        SIGKILL (default %d)\n"
            "  --no-prefix           let ranks write to the terminal directly, without\n"
            "                        the \"[rank i] \" prefix\n"
            "  -h, --help            show this help\n"
            "\n"
            "Exit status: 0 when every rank exits 0; else the first failing rank's exit\n"
            "status (128+signal when it was killed by a signal); 2 for usage errors.\n",
            DLR_MAX_RANKS, DLR_DEFAULT_GRACE_MS);
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("dlcoll-run: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    dlr_print_usage(stderr);
    return 2;
}

/* Parse a decimal integer in [lo, hi]; returns 0 on success. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* If argv[*i] is option `name` (exactly, or as "name=value"), store its value
 * in *value, advance *i past it and return 1; return -1 when the value is
 * missing; 0 when argv[*i] is some other option. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=' && name[1] == '-') {   /* --opt=value */
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

int dlr_parse_options(int argc, char **argv, dlr_options *opt)
{
    static const char *const nproc_names[] = {"-n", "-np", "--np", "--nproc",
                                              "--nproc-per-node", NULL};
    memset(opt, 0, sizeof *opt);
    opt->prefix = 1;
    opt->grace_ms = DLR_DEFAULT_GRACE_MS;

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        long num = 0;
        int r = 0;

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')   /* the program ("-" alone too) */
            break;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            dlr_print_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--no-prefix") == 0) {
            opt->prefix = 0;
            continue;
        }

        /* -n and its spellings */
        for (int k = 0; nproc_names[k] && r == 0; k++)
            r = take_value(argc, argv, &i, nproc_names[k], &v);
        if (r == 0 && strncmp(a, "-n", 2) == 0 && a[2] >= '0' && a[2] <= '9') {
            v = a + 2;                     /* -n4 */
            r = 1;
        }
        if (r < 0)
            return usage_error("option %s needs a value", a);
        if (r > 0) {
            if (parse_long(v, 1, DLR_MAX_RANKS, &num) != 0)
                return usage_error("bad number of ranks '%s'", v);
            opt->nranks = (int)num;
            continue;
        }

        if ((r = take_value(argc, argv, &i, "--provider", &v)) != 0) {
            if (r < 0 || !*v)
                return usage_error("option %s needs a value", a);
            opt->provider = v;
        } else if ((r = take_value(argc, argv, &i, "--init-method", &v)) != 0) {
            if (r < 0 || !*v)
                return usage_error("option %s needs a value", a);
            opt->init_method = v;
        } else if ((r = take_value(argc, argv, &i, "--timeout-ms", &v)) != 0) {
            if (r < 0)
                return usage_error("option %s needs a value", a);
            if (parse_long(v, 1, INT_MAX, &num) != 0)
                return usage_error("bad --timeout-ms value '%s' (want milliseconds > 0)", v);
            opt->timeout_ms = num;
        } else if ((r = take_value(argc, argv, &i, "--grace-ms", &v)) != 0) {
            if (r < 0)
                return usage_error("option %s needs a value", a);
            if (parse_long(v, 0, 3600000, &num) != 0)
                return usage_error("bad --grace-ms value '%s'", v);
            opt->grace_ms = num;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }

    if (opt->nranks == 0)
        return usage_error("%s", "the number of ranks (-n N) is required");
    if (i >= argc)
        return usage_error("%s", "no program to run");
    opt->argv = argv + i;
    return 0;
}
