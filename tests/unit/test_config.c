/*
 * test_config.c -- settings resolution (plugin/util/config.c) and log levels
 * (plugin/util/log.c), with a fake environment table instead of the real one.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin/util/config.h"
#include "plugin/util/log.h"

/* ------------------------------------------------------------------ fake environment */

typedef struct fake_env {
    const char *vars[64][2]; /* name, value; name NULL ends the table */
} fake_env;

static const char *fake_getenv(void *ctx, const char *name)
{
    const fake_env *e = ctx;
    for (int i = 0; i < 64 && e->vars[i][0]; i++)
        if (strcmp(e->vars[i][0], name) == 0)
            return e->vars[i][1];
    return NULL;
}

/* Build a fake environment from "NAME", "value" pairs, NULL-terminated. */
#define ENV(...) ((fake_env){ .vars = { __VA_ARGS__ } })
#define V(n, v) { n, v }

static dlc_settings s;
static dlc_err err;

static dlcoll_status_t resolve(const dlcoll_config_t *cfg, fake_env *env)
{
    memset(&err, 0, sizeof err);
    return dlc_settings_resolve(cfg, fake_getenv, env, &s, &err);
}

/* Resolve and require success. */
static void resolve_ok(const dlcoll_config_t *cfg, fake_env *env)
{
    dlcoll_status_t st = resolve(cfg, env);
    cr_assert_eq(st, DLCOLL_SUCCESS, "status %d: %s", st, err.msg);
}

/* Resolve and require status + a message substring. */
static void resolve_fails(const dlcoll_config_t *cfg, fake_env *env, dlcoll_status_t want,
                          const char *substring)
{
    dlcoll_status_t st = resolve(cfg, env);
    cr_assert_eq(st, want, "status %d (want %d): %s", st, want, err.msg);
    cr_assert_eq(err.status, want);
    cr_assert(strstr(err.msg, substring) != NULL, "message '%s' lacks '%s'", err.msg, substring);
}

static const char *TCP = "tcp://127.0.0.1:29500";

/* ------------------------------------------------------------------ rank and world size */

Test(config, config_values_beat_every_environment_variable)
{
    fake_env env = ENV(V("DLCOLL_RANK", "1"), V("DLCOLL_WORLD_SIZE", "8"), V("RANK", "2"),
                       V("WORLD_SIZE", "8"), V("DLCOLL_INIT_METHOD", "file:///tmp/x"),
                       V("DLCOLL_TIMEOUT", "77"), V("DLCOLL_PROVIDER", "tcp"), V("DLCOLL_DEBUG", "TRACE"));
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.rank = 3;
    c.world_size = 4;
    c.timeout_ms = 1234;
    c.init_method = TCP;
    c.provider = "shm";
    c.log_level = DLCOLL_LOG_INFO;
    resolve_ok(&c, &env);
    cr_assert_eq(s.rank, 3);
    cr_assert_eq(s.world_size, 4);
    cr_assert_str_eq(s.rank_from, "config");
    cr_assert_str_eq(s.size_from, "config");
    cr_assert_eq(s.timeout_ms, 1234);
    cr_assert_eq(s.rdv, DLC_RDV_TCP);
    cr_assert_str_eq(s.rdv_from, "config.init_method");
    cr_assert_str_eq(s.provider, "shm");
    cr_assert_eq(s.log_level, DLCOLL_LOG_INFO);
}

/* Launcher variable sets, highest precedence first. */
static const char *const launchers[][3] = {
    { "DLCOLL_RANK", "DLCOLL_WORLD_SIZE", "dlcoll" },
    { "RANK", "WORLD_SIZE", "torchrun" },
    { "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "Open MPI" },
    { "PMI_RANK", "PMI_SIZE", "PMI" },
    { "SLURM_PROCID", "SLURM_NTASKS", "Slurm" },
    { "RANK_ID", "RANK_SIZE", "Ascend" },
    { "MS_NODE_ID", "MS_WORKER_NUM", "MindSpore" },
};
#define N_LAUNCHERS (sizeof launchers / sizeof launchers[0])

Test(config, each_launcher_alone)
{
    for (size_t i = 0; i < N_LAUNCHERS; i++) {
        fake_env env = ENV(V(launchers[i][0], "5"), V(launchers[i][1], "6"), V("DLCOLL_INIT_METHOD", TCP));
        resolve_ok(NULL, &env);
        cr_assert_eq(s.rank, 5, "%s", launchers[i][2]);
        cr_assert_eq(s.world_size, 6, "%s", launchers[i][2]);
        cr_assert_str_eq(s.rank_from, launchers[i][0]);
        cr_assert_str_eq(s.size_from, launchers[i][1]);
    }
}

Test(config, each_launcher_beats_every_later_one)
{
    /* Launcher i has rank i, world size 10 + i; all later launchers are set too. */
    static char values[N_LAUNCHERS][2][8];
    for (size_t first = 0; first < N_LAUNCHERS; first++) {
        fake_env env = ENV(V("DLCOLL_INIT_METHOD", TCP));
        int n = 1;
        for (size_t j = first; j < N_LAUNCHERS; j++) {
            snprintf(values[j][0], 8, "%zu", j);
            snprintf(values[j][1], 8, "%zu", 10 + j);
            env.vars[n][0] = launchers[j][0];
            env.vars[n++][1] = values[j][0];
            env.vars[n][0] = launchers[j][1];
            env.vars[n++][1] = values[j][1];
        }
        resolve_ok(NULL, &env);
        cr_assert_eq(s.rank, (int)first, "first=%s", launchers[first][2]);
        cr_assert_eq(s.world_size, 10 + (int)first, "first=%s", launchers[first][2]);
        cr_assert_str_eq(s.rank_from, launchers[first][0]);
    }
}

Test(config, rank_and_size_are_resolved_independently)
{
    fake_env env = ENV(V("RANK", "1"), V("OMPI_COMM_WORLD_SIZE", "3"), V("DLCOLL_INIT_METHOD", TCP));
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    resolve_ok(&c, &env);
    cr_assert_eq(s.rank, 1);
    cr_assert_eq(s.world_size, 3);
    cr_assert_str_eq(s.rank_from, "RANK");
    cr_assert_str_eq(s.size_from, "OMPI_COMM_WORLD_SIZE");

    c.world_size = 2; /* config size, env rank */
    resolve_ok(&c, &env);
    cr_assert_eq(s.world_size, 2);
    cr_assert_str_eq(s.size_from, "config");
    cr_assert_str_eq(s.rank_from, "RANK");
}

Test(config, ms_node_id_is_used_only_when_numeric)
{
    fake_env env = ENV(V("MS_NODE_ID", "2"), V("MS_WORKER_NUM", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &env);
    cr_assert_eq(s.rank, 2);
    cr_assert_str_eq(s.rank_from, "MS_NODE_ID");

    fake_env named = ENV(V("MS_NODE_ID", "worker-2"), V("MS_WORKER_NUM", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &named, DLCOLL_ERR_INVALID_ARGUMENT, "rank not set");
    cr_assert(strstr(err.msg, "MS_NODE_ID") != NULL, "%s", err.msg);

    /* RANK_ID comes before MS_NODE_ID. */
    fake_env both = ENV(V("RANK_ID", "3"), V("MS_NODE_ID", "worker"), V("MS_WORKER_NUM", "4"),
                        V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &both);
    cr_assert_eq(s.rank, 3);
    cr_assert_str_eq(s.rank_from, "RANK_ID");
}

Test(config, empty_variables_count_as_unset)
{
    fake_env env = ENV(V("DLCOLL_RANK", ""), V("RANK", "1"), V("DLCOLL_WORLD_SIZE", ""), V("WORLD_SIZE", "2"),
                       V("DLCOLL_INIT_METHOD", ""), V("MASTER_ADDR", "127.0.0.1"), V("MASTER_PORT", "1234"));
    resolve_ok(NULL, &env);
    cr_assert_eq(s.rank, 1);
    cr_assert_str_eq(s.rank_from, "RANK");
    cr_assert_str_eq(s.rdv_from, "MASTER_ADDR/MASTER_PORT");
}

Test(config, bad_integers_name_the_variable_and_value)
{
    fake_env e1 = ENV(V("RANK", "0"), V("WORLD_SIZE", "abc"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e1, DLCOLL_ERR_INVALID_ARGUMENT, "WORLD_SIZE='abc' is not an integer");
    fake_env e2 = ENV(V("RANK", "1x"), V("WORLD_SIZE", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e2, DLCOLL_ERR_INVALID_ARGUMENT, "RANK='1x' is not an integer");
    fake_env e3 = ENV(V("RANK", "0"), V("WORLD_SIZE", "99999999999999999999"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e3, DLCOLL_ERR_INVALID_ARGUMENT, "WORLD_SIZE='99999999999999999999'");
    fake_env e4 = ENV(V("RANK", "0"), V("WORLD_SIZE", "4294967297"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e4, DLCOLL_ERR_INVALID_ARGUMENT, "WORLD_SIZE='4294967297'");
    fake_env e5 = ENV(V("RANK", " 1"), V("WORLD_SIZE", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e5, DLCOLL_ERR_INVALID_ARGUMENT, "RANK=' 1'");
    fake_env e6 = ENV(V("PMI_RANK", "0"), V("PMI_SIZE", "2 "), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e6, DLCOLL_ERR_INVALID_ARGUMENT, "PMI_SIZE='2 '");
    /* An invalid higher-precedence value is an error, not skipped. */
    fake_env e7 = ENV(V("DLCOLL_RANK", "one"), V("RANK", "1"), V("WORLD_SIZE", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e7, DLCOLL_ERR_INVALID_ARGUMENT, "DLCOLL_RANK='one'");
}

Test(config, ranges)
{
    fake_env e1 = ENV(V("RANK", "4"), V("WORLD_SIZE", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e1, DLCOLL_ERR_INVALID_ARGUMENT, "rank 4 (from RANK) is out of range for world size 4");
    fake_env e2 = ENV(V("RANK", "-1"), V("WORLD_SIZE", "4"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e2, DLCOLL_ERR_INVALID_ARGUMENT, "rank -1 (from RANK)");
    fake_env e3 = ENV(V("RANK", "0"), V("WORLD_SIZE", "0"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e3, DLCOLL_ERR_INVALID_ARGUMENT, "WORLD_SIZE='0' is not a valid world size");
    fake_env e4 = ENV(V("DLCOLL_INIT_METHOD", TCP));
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.rank = 2;
    c.world_size = 2;
    resolve_fails(&c, &e4, DLCOLL_ERR_INVALID_ARGUMENT, "rank 2 (from config) is out of range");
    c.rank = -7;
    resolve_fails(&c, &e4, DLCOLL_ERR_INVALID_ARGUMENT, "config.rank=-7");
    c.rank = 0;
    c.world_size = 0;
    resolve_fails(&c, &e4, DLCOLL_ERR_INVALID_ARGUMENT, "config.world_size=0");
    c.world_size = 1;
    resolve_ok(&c, &e4);
    cr_assert_eq(s.world_size, 1);
}

Test(config, missing_rank_or_size_lists_what_was_looked_for)
{
    fake_env e1 = ENV(V("WORLD_SIZE", "2"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e1, DLCOLL_ERR_INVALID_ARGUMENT, "rank not set; looked for config.rank, DLCOLL_RANK, RANK");
    cr_assert(strstr(err.msg, "SLURM_PROCID") != NULL, "%s", err.msg);
    fake_env e2 = ENV(V("RANK", "0"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_fails(NULL, &e2, DLCOLL_ERR_INVALID_ARGUMENT, "world size not set; looked for config.world_size");
    cr_assert(strstr(err.msg, "MS_WORKER_NUM") != NULL, "%s", err.msg);
}

/* ------------------------------------------------------------------ rendezvous */

static int dummy_set(void *ctx, const char *k, const void *v, size_t n) { return 0; }
static int dummy_get(void *ctx, const char *k, void *b, size_t cap, size_t *n, int t) { return 1; }

Test(config, rendezvous_precedence)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", "file:///tmp/dlc-env"),
                       V("MASTER_ADDR", "10.0.0.1"), V("MASTER_PORT", "1111"), V("MS_SCHED_HOST", "10.0.0.2"),
                       V("MS_SCHED_PORT", "2222"));
    dlcoll_store_t store = { NULL, dummy_set, dummy_get };
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.store = &store;
    c.init_method = "tcp://h:1";
    resolve_ok(&c, &env);
    cr_assert_eq(s.rdv, DLC_RDV_STORE);
    cr_assert_eq(s.store, &store);
    cr_assert_str_eq(s.rdv_from, "config.store");

    c.store = NULL;
    resolve_ok(&c, &env);
    cr_assert_eq(s.rdv, DLC_RDV_TCP);
    cr_assert_str_eq(s.rdv_host, "h");
    cr_assert_eq(s.rdv_port, 1);
    cr_assert_str_eq(s.rdv_from, "config.init_method");

    c.init_method = NULL;
    resolve_ok(&c, &env);
    cr_assert_eq(s.rdv, DLC_RDV_FILE);
    cr_assert_str_eq(s.rdv_path, "/tmp/dlc-env");
    cr_assert_str_eq(s.rdv_from, "DLCOLL_INIT_METHOD");

    env.vars[2][1] = ""; /* DLCOLL_INIT_METHOD */
    resolve_ok(&c, &env);
    cr_assert_eq(s.rdv, DLC_RDV_TCP);
    cr_assert_str_eq(s.rdv_host, "10.0.0.1");
    cr_assert_eq(s.rdv_port, 1111);
    cr_assert_str_eq(s.rdv_from, "MASTER_ADDR/MASTER_PORT");

    env.vars[3][1] = ""; /* MASTER_ADDR */
    resolve_ok(&c, &env);
    cr_assert_eq(s.rdv, DLC_RDV_TCP);
    cr_assert_str_eq(s.rdv_host, "10.0.0.2");
    cr_assert_eq(s.rdv_port, 2222);
    cr_assert_str_eq(s.rdv_from, "MS_SCHED_HOST/MS_SCHED_PORT");
}

Test(config, store_with_null_callback_is_rejected)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"));
    dlcoll_store_t store = { NULL, dummy_set, NULL };
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.store = &store;
    resolve_fails(&c, &env, DLCOLL_ERR_INVALID_ARGUMENT, "config.store has a NULL get callback");
}

Test(config, no_rendezvous_lists_what_was_looked_for)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"));
    resolve_fails(NULL, &env, DLCOLL_ERR_BOOTSTRAP, "no rendezvous configured");
    const char *wanted[] = { "config.store", "config.init_method", "DLCOLL_INIT_METHOD", "MASTER_ADDR",
                             "MASTER_PORT", "MS_SCHED_HOST", "MS_SCHED_PORT" };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
        cr_assert(strstr(err.msg, wanted[i]) != NULL, "'%s' lacks %s", err.msg, wanted[i]);

    fake_env half = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("MASTER_ADDR", "h"));
    resolve_fails(NULL, &half, DLCOLL_ERR_BOOTSTRAP, "MASTER_ADDR is set but MASTER_PORT is not");
}

Test(config, master_port_must_be_a_port)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("MASTER_ADDR", "h"), V("MASTER_PORT", "70000"));
    resolve_fails(NULL, &env, DLCOLL_ERR_INVALID_ARGUMENT, "MASTER_PORT='70000' is not a port number");
}

/* ------------------------------------------------------------------ init_method URLs */

static dlcoll_status_t parse(const char *url, fake_env *env)
{
    memset(&s, 0, sizeof s);
    memset(&err, 0, sizeof err);
    return dlc_parse_init_method(url, fake_getenv, env, &s, &err);
}

static void parse_tcp_ok(const char *url, const char *host, int port)
{
    fake_env env = ENV(V(NULL, NULL));
    dlcoll_status_t st = parse(url, &env);
    cr_assert_eq(st, DLCOLL_SUCCESS, "%s: %s", url, err.msg);
    cr_assert_eq(s.rdv, DLC_RDV_TCP, "%s", url);
    cr_assert_str_eq(s.rdv_host, host, "%s", url);
    cr_assert_eq(s.rdv_port, port, "%s", url);
}

static void parse_fails(const char *url, dlcoll_status_t want, const char *substring)
{
    fake_env env = ENV(V(NULL, NULL));
    dlcoll_status_t st = parse(url, &env);
    cr_assert_eq(st, want, "%s: status %d: %s", url, st, err.msg);
    cr_assert(strstr(err.msg, substring) != NULL, "%s: message '%s' lacks '%s'", url, err.msg, substring);
}

Test(init_method, tcp_forms)
{
    parse_tcp_ok("tcp://127.0.0.1:29500", "127.0.0.1", 29500);
    parse_tcp_ok("tcp://node-01.cluster:1", "node-01.cluster", 1);
    parse_tcp_ok("tcp://localhost:65535", "localhost", 65535);
    parse_tcp_ok("tcp://[::1]:8080", "::1", 8080);
    parse_tcp_ok("tcp://[fe80::1%eth0]:123", "fe80::1%eth0", 123);
    parse_tcp_ok("TCP://h:7", "h", 7);
}

Test(init_method, bad_tcp_urls)
{
    parse_fails("tcp://host", DLCOLL_ERR_INVALID_ARGUMENT, "missing port");
    parse_fails("tcp://host:", DLCOLL_ERR_INVALID_ARGUMENT, "port '' is not a number in 1..65535");
    parse_fails("tcp://host:0", DLCOLL_ERR_INVALID_ARGUMENT, "port '0'");
    parse_fails("tcp://host:65536", DLCOLL_ERR_INVALID_ARGUMENT, "port '65536'");
    parse_fails("tcp://host:-5", DLCOLL_ERR_INVALID_ARGUMENT, "port '-5'");
    parse_fails("tcp://host:80x", DLCOLL_ERR_INVALID_ARGUMENT, "port '80x'");
    parse_fails("tcp://host:80/path", DLCOLL_ERR_INVALID_ARGUMENT, "port '80/path'");
    parse_fails("tcp://:80", DLCOLL_ERR_INVALID_ARGUMENT, "is not a host name");
    parse_fails("tcp://::1:80", DLCOLL_ERR_INVALID_ARGUMENT, "tcp://[address]:port");
    parse_fails("tcp://[::1]80", DLCOLL_ERR_INVALID_ARGUMENT, "tcp://[address]:port");
    parse_fails("tcp://[::1:80", DLCOLL_ERR_INVALID_ARGUMENT, "tcp://[address]:port");
    parse_fails("tcp://[]:80", DLCOLL_ERR_INVALID_ARGUMENT, "is not a host name");
    parse_fails("tcp://a b:80", DLCOLL_ERR_INVALID_ARGUMENT, "is not a host name");
    parse_fails("tcp://user@h:80", DLCOLL_ERR_INVALID_ARGUMENT, "is not a host name");
    /* Every message names the URL. */
    parse_fails("tcp://host:0", DLCOLL_ERR_INVALID_ARGUMENT, "init_method='tcp://host:0'");
    char long_host[400];
    memset(long_host, 'a', sizeof long_host);
    memcpy(long_host, "tcp://", 6);
    snprintf(long_host + 300, 100, ":80");
    parse_fails(long_host, DLCOLL_ERR_INVALID_ARGUMENT, "longer than 255");
}

Test(init_method, file_forms)
{
    fake_env env = ENV(V(NULL, NULL));
    cr_assert_eq(parse("file:///tmp/rdv", &env), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(s.rdv, DLC_RDV_FILE);
    cr_assert_str_eq(s.rdv_path, "/tmp/rdv");
    cr_assert_eq(parse("file:///a/b c/d/", &env), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_str_eq(s.rdv_path, "/a/b c/d/");
    parse_fails("file://relative/path", DLCOLL_ERR_INVALID_ARGUMENT, "file:///absolute/path");
    parse_fails("file://", DLCOLL_ERR_INVALID_ARGUMENT, "must be absolute");
    char long_path[1100] = "file:///";
    memset(long_path + 8, 'p', 1050);
    long_path[1058] = '\0';
    parse_fails(long_path, DLCOLL_ERR_INVALID_ARGUMENT, "longer than 1023");
}

Test(init_method, env_with_master_variables)
{
    fake_env env = ENV(V("MASTER_ADDR", "10.1.2.3"), V("MASTER_PORT", "29501"), V("MS_SCHED_HOST", "other"),
                       V("MS_SCHED_PORT", "9"));
    cr_assert_eq(parse("env://", &env), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(s.rdv, DLC_RDV_TCP);
    cr_assert_str_eq(s.rdv_host, "10.1.2.3");
    cr_assert_eq(s.rdv_port, 29501);

    fake_env v6 = ENV(V("MASTER_ADDR", "[::1]"), V("MASTER_PORT", "29501"));
    cr_assert_eq(parse("env://", &v6), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_str_eq(s.rdv_host, "::1");
    fake_env v6bare = ENV(V("MASTER_ADDR", "fd00::7"), V("MASTER_PORT", "29501"));
    cr_assert_eq(parse("env://", &v6bare), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_str_eq(s.rdv_host, "fd00::7");
}

Test(init_method, env_with_mindspore_variables)
{
    fake_env env = ENV(V("MASTER_ADDR", "only-addr"), V("MS_SCHED_HOST", "sched"), V("MS_SCHED_PORT", "8118"));
    cr_assert_eq(parse("env://", &env), DLCOLL_SUCCESS, "%s", err.msg);
    cr_assert_eq(s.rdv, DLC_RDV_TCP);
    cr_assert_str_eq(s.rdv_host, "sched");
    cr_assert_eq(s.rdv_port, 8118);
}

Test(init_method, env_without_variables)
{
    parse_fails("env://", DLCOLL_ERR_BOOTSTRAP, "needs MASTER_ADDR and MASTER_PORT");
    fake_env env = ENV(V("MASTER_ADDR", "h"), V("MASTER_PORT", "port"));
    cr_assert_eq(parse("env://", &env), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.msg, "MASTER_PORT='port'") != NULL, "%s", err.msg);
    fake_env bad_addr = ENV(V("MASTER_ADDR", "a/b"), V("MASTER_PORT", "1"));
    cr_assert_eq(parse("env://", &bad_addr), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.msg, "MASTER_ADDR='a/b'") != NULL, "%s", err.msg);
}

Test(init_method, unknown_schemes_list_the_accepted_forms)
{
    const char *bad[] = { "http://h:1", "h:1", "tcp:/h:1", "env:/", "env://x", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_env env = ENV(V(NULL, NULL));
        cr_assert_eq(parse(bad[i], &env), DLCOLL_ERR_INVALID_ARGUMENT, "%s: %s", bad[i], err.msg);
        cr_assert(strstr(err.msg, "tcp://host:port") && strstr(err.msg, "file:///") && strstr(err.msg, "env://"),
                  "%s", err.msg);
        if (bad[i][0])
            cr_assert(strstr(err.msg, bad[i]) != NULL, "message '%s' does not name the URL", err.msg);
    }
}

Test(init_method, errors_from_the_environment_name_the_variable)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", "udp://h:1"));
    resolve_fails(NULL, &env, DLCOLL_ERR_INVALID_ARGUMENT, "DLCOLL_INIT_METHOD='udp://h:1'");
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.init_method = "tcp://h:0";
    resolve_fails(&c, &env, DLCOLL_ERR_INVALID_ARGUMENT, "config.init_method='tcp://h:0'");
}

/* ------------------------------------------------------------------ timeout, provider, log level */

Test(config, timeout)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &env);
    cr_assert_eq(s.timeout_ms, DLCOLL_DEFAULT_TIMEOUT_MS);

    fake_env env2 = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP), V("DLCOLL_TIMEOUT", "2500"));
    resolve_ok(NULL, &env2);
    cr_assert_eq(s.timeout_ms, 2500);

    const char *bad[] = { "0", "-1", "5s", "1e3", "99999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_env e = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP), V("DLCOLL_TIMEOUT", bad[i]));
        char want[64];
        snprintf(want, sizeof want, "DLCOLL_TIMEOUT='%s'", bad[i]);
        resolve_fails(NULL, &e, DLCOLL_ERR_INVALID_ARGUMENT, want);
    }
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.timeout_ms = -3;
    resolve_fails(&c, &env2, DLCOLL_ERR_INVALID_ARGUMENT, "config.timeout_ms=-3");
}

Test(config, shm_tuning)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &env);
    cr_assert_eq(s.shm_slot_bytes, 0, "unset: automatic");
    cr_assert_eq(s.shm_cma_min, -1, "unset: automatic");
    cr_assert_eq(s.stream_min_bytes, -1, "unset: automatic");
    cr_assert_eq(s.gathered_max, -1, "unset: automatic");

    fake_env set = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP),
                       V("DLCOLL_SHM_SLOT_BYTES", "65536"), V("DLCOLL_SHM_CMA_MIN", "0"),
                       V("DLCOLL_STREAM_MIN_BYTES", "33554432"), V("DLCOLL_GATHERED_MAX", "0"));
    resolve_ok(NULL, &set);
    cr_assert_eq(s.shm_slot_bytes, 65536);
    cr_assert_eq(s.shm_cma_min, 0);
    cr_assert_eq(s.stream_min_bytes, 33554432);
    cr_assert_eq(s.gathered_max, 0);

    static const struct { const char *var, *value; } bad[] = {
        {"DLCOLL_SHM_SLOT_BYTES", "64K"},    {"DLCOLL_SHM_SLOT_BYTES", "4095"},
        {"DLCOLL_SHM_SLOT_BYTES", "67108865"}, {"DLCOLL_SHM_SLOT_BYTES", "-65536"},
        {"DLCOLL_SHM_CMA_MIN", "1e6"},       {"DLCOLL_SHM_CMA_MIN", "-1"},
        {"DLCOLL_SHM_CMA_MIN", "99999999999999999999"},
        {"DLCOLL_STREAM_MIN_BYTES", "16M"},  {"DLCOLL_STREAM_MIN_BYTES", " 1"},
        {"DLCOLL_GATHERED_MAX", "64K"},      {"DLCOLL_GATHERED_MAX", "-1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_env e = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP),
                         V(bad[i].var, bad[i].value));
        char want[96];
        snprintf(want, sizeof want, "%s='%s'", bad[i].var, bad[i].value);
        resolve_fails(NULL, &e, DLCOLL_ERR_INVALID_ARGUMENT, want);
    }
}

Test(config, provider)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &env);
    cr_assert_str_eq(s.provider, "");

    fake_env env2 = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP),
                        V("DLCOLL_PROVIDER", "tcp;ofi_rxm"));
    resolve_ok(NULL, &env2);
    cr_assert_str_eq(s.provider, "tcp;ofi_rxm");

    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.provider = "shm";
    resolve_ok(&c, &env2);
    cr_assert_str_eq(s.provider, "shm");

    char longname[100];
    memset(longname, 'x', 99);
    longname[99] = '\0';
    c.provider = longname;
    resolve_fails(&c, &env2, DLCOLL_ERR_INVALID_ARGUMENT, "config.provider=");
    cr_assert(strstr(err.msg, "longer than 63") != NULL, "%s", err.msg);
}

Test(config, log_level)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &env);
    cr_assert_eq(s.log_level, DLCOLL_LOG_WARN);
    const char *names[][2] = { { "trace", "3" }, { "Info", "2" }, { "WARN", "1" }, { "none", "0" }, { "2", "2" } };
    for (size_t i = 0; i < 5; i++) {
        fake_env e = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP), V("DLCOLL_DEBUG", names[i][0]));
        resolve_ok(NULL, &e);
        cr_assert_eq(s.log_level, names[i][1][0] - '0', "%s", names[i][0]);
    }
    /* Unknown: left to the logger (-1), which warns once and uses WARN. */
    fake_env e = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP), V("DLCOLL_DEBUG", "loud"));
    resolve_ok(NULL, &e);
    cr_assert_eq(s.log_level, -1);
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.log_level = 4;
    resolve_fails(&c, &env, DLCOLL_ERR_INVALID_ARGUMENT, "config.log_level=4");
}

/* ------------------------------------------------------------------ config struct versions */

Test(config_struct, null_config_reads_everything_from_the_environment)
{
    fake_env env = ENV(V("RANK", "1"), V("WORLD_SIZE", "2"), V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &env);
    cr_assert_eq(s.rank, 1);
    cr_assert_eq(s.world_size, 2);
    cr_assert_eq(s.log_fn, NULL);
}

Test(config_struct, wrong_magic)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.magic = 0x12345678u;
    resolve_fails(&c, &env, DLCOLL_ERR_VERSION, "config magic 0x12345678 is not DLCOLL_CONFIG_MAGIC");
    cr_assert(strstr(err.msg, "DLCOLL_CONFIG_INIT") != NULL, "%s", err.msg);
}

Test(config_struct, newer_or_zero_version)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    c.version = DLCOLL_CONFIG_VERSION + 1;
    resolve_fails(&c, &env, DLCOLL_ERR_VERSION, "config version 2");
    cr_assert(strstr(err.msg, "1..1") != NULL, "%s", err.msg);
    c.version = 0;
    resolve_fails(&c, &env, DLCOLL_ERR_VERSION, "config version 0");
}

Test(config_struct, too_small)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    dlcoll_config_t c = DLCOLL_CONFIG_INIT;
    size_t need = offsetof(dlcoll_config_t, log_level) + sizeof(int);
    c.size = need - 1;
    char want[64];
    snprintf(want, sizeof want, "config size %zu", need - 1);
    resolve_fails(&c, &env, DLCOLL_ERR_VERSION, want);
    snprintf(want, sizeof want, "(%zu bytes)", need);
    cr_assert(strstr(err.msg, want) != NULL, "%s", err.msg);
    /* Exactly the version-1 fields (no tail padding) is enough. */
    c.size = need;
    c.log_level = DLCOLL_LOG_TRACE;
    resolve_ok(&c, &env);
    cr_assert_eq(s.log_level, DLCOLL_LOG_TRACE);
}

Test(config_struct, larger_struct_from_a_newer_host_is_accepted)
{
    fake_env env = ENV(V("RANK", "0"), V("WORLD_SIZE", "1"), V("DLCOLL_INIT_METHOD", TCP));
    struct {
        dlcoll_config_t v1;
        int future_field[8];
    } bigger;
    memset(&bigger, 0x5a, sizeof bigger);
    dlcoll_config_t init = DLCOLL_CONFIG_INIT;
    bigger.v1 = init;
    bigger.v1.size = sizeof bigger;
    bigger.v1.rank = 0;
    bigger.v1.world_size = 3;
    resolve_ok(&bigger.v1, &env);
    cr_assert_eq(s.world_size, 3);
    cr_assert_eq(s.rank, 0);
}

/* ------------------------------------------------------------------ logger */

Test(log, level_parse)
{
    cr_assert_eq(dlc_log_level_parse("WARN"), DLCOLL_LOG_WARN);
    cr_assert_eq(dlc_log_level_parse("warn"), DLCOLL_LOG_WARN);
    cr_assert_eq(dlc_log_level_parse("Info"), DLCOLL_LOG_INFO);
    cr_assert_eq(dlc_log_level_parse("TRACE"), DLCOLL_LOG_TRACE);
    cr_assert_eq(dlc_log_level_parse("none"), DLCOLL_LOG_NONE);
    for (int i = 0; i <= 3; i++) {
        char d[2] = { (char)('0' + i), 0 };
        cr_assert_eq(dlc_log_level_parse(d), i);
    }
    cr_assert_eq(dlc_log_level_parse("4"), -1);
    cr_assert_eq(dlc_log_level_parse("10"), -1);
    cr_assert_eq(dlc_log_level_parse(""), -1);
    cr_assert_eq(dlc_log_level_parse("WARNING"), -1);
    cr_assert_eq(dlc_log_level_parse(NULL), -1);
}

typedef struct captured {
    int n;
    int level[8];
    size_t len[8];
    char line[8][512];
} captured;

static void capture(void *ctx, dlcoll_log_level_t level, const char *line)
{
    captured *c = ctx;
    if (c->n < 8) {
        c->level[c->n] = level;
        c->len[c->n] = strlen(line);
        snprintf(c->line[c->n], sizeof c->line[0], "%s", line);
    }
    c->n++;
}

Test(log, callback_gets_prefixed_lines_at_or_below_the_level)
{
    captured cap = { 0 };
    dlc_logger lg;
    dlc_logger_init(&lg, capture, &cap, DLCOLL_LOG_INFO, 3);
    DLC_WARN(&lg, "w %d", 1);
    DLC_INFO(&lg, "i %s", "two");
    DLC_TRACE(&lg, "t");
    cr_assert_eq(cap.n, 2);
    cr_assert_eq(cap.level[0], DLCOLL_LOG_WARN);
    cr_assert_eq(cap.level[1], DLCOLL_LOG_INFO);

    char host[64];
    gethostname(host, sizeof host);
    host[63] = '\0';
    char want[160];
    snprintf(want, sizeof want, "dlcoll %s:%ld rank 3: w 1", host, (long)getpid());
    cr_assert_str_eq(cap.line[0], want);
    snprintf(want, sizeof want, "dlcoll %s:%ld rank 3: i two", host, (long)getpid());
    cr_assert_str_eq(cap.line[1], want);

    dlc_logger_set_rank(&lg, -1);
    DLC_WARN(&lg, "x");
    snprintf(want, sizeof want, "dlcoll %s:%ld rank ?: x", host, (long)getpid());
    cr_assert_str_eq(cap.line[2], want);

    dlc_logger_init(&lg, capture, &cap, DLCOLL_LOG_NONE, 0);
    DLC_WARN(&lg, "silenced");
    cr_assert_eq(cap.n, 3);
}

Test(log, level_from_dlcoll_debug)
{
    captured cap = { 0 };
    dlc_logger lg;
    setenv("DLCOLL_DEBUG", "trace", 1);
    dlc_logger_init(&lg, capture, &cap, -1, 0);
    cr_assert_eq(lg.level, DLCOLL_LOG_TRACE);
    cr_assert_eq(cap.n, 0);

    setenv("DLCOLL_DEBUG", "shouting", 1);
    dlc_logger_init(&lg, capture, &cap, -1, 0);
    cr_assert_eq(lg.level, DLCOLL_LOG_WARN);
    cr_assert_eq(cap.n, 1, "one warning line about the bad value");
    cr_assert(strstr(cap.line[0], "DLCOLL_DEBUG='shouting'") != NULL, "%s", cap.line[0]);

    unsetenv("DLCOLL_DEBUG");
    dlc_logger_init(&lg, capture, &cap, -1, 0);
    cr_assert_eq(lg.level, DLCOLL_LOG_WARN);
    cr_assert_eq(cap.n, 1);
}

Test(log, long_lines_are_truncated_with_a_marker)
{
    captured cap = { 0 };
    dlc_logger lg;
    dlc_logger_init(&lg, capture, &cap, DLCOLL_LOG_WARN, 0);
    static char big[5000];
    memset(big, 'z', sizeof big - 1);
    DLC_WARN(&lg, "%s", big);
    cr_assert_eq(cap.n, 1);
    cr_assert(cap.len[0] > 1000 && cap.len[0] < sizeof big, "length %zu", cap.len[0]);
    DLC_WARN(&lg, "%s!", big + 4000);  /* short enough: delivered whole */
    cr_assert_eq(cap.len[1], strlen(lg.prefix) + 1000);
}

Test(log, stderr_gets_one_newline_terminated_line)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    dlc_logger lg;
    dlc_logger_init(&lg, NULL, NULL, DLCOLL_LOG_INFO, 7);
    DLC_INFO(&lg, "hello %d", 42);
    DLC_TRACE(&lg, "not shown");
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char buf[512] = { 0 };
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    char want[256];
    snprintf(want, sizeof want, "%shello 42\n", lg.prefix);
    cr_assert_eq(n, (ssize_t)strlen(want));
    cr_assert_str_eq(buf, want);
    cr_assert(strstr(lg.prefix, "rank 7: ") != NULL, "%s", lg.prefix);
}

/* ------------------------------------------------------------------ the settings table */

#include "plugin/util/settings_table.h"

/* A getenv that records every name it is asked for (and knows nothing). */
typedef struct asked_env {
    const char *names[64];
    int n;
} asked_env;

static const char *asking_getenv(void *ctx, const char *name)
{
    asked_env *a = ctx;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0)
            return NULL;
    if (a->n < 64)
        a->names[a->n++] = name;
    return NULL;
}

static int was_asked(const asked_env *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0)
            return 1;
    return 0;
}

/* util/settings_table.c (what dlcoll-info reports) and util/config.c (what
 * init reads) list the same variables: every variable the resolver asks for
 * is a plugin row of the table, and every plugin row is asked for, by the
 * resolver or by the readers used after init (dlc_env_algo, dlc_env_iface,
 * dlc_env_log_level, which read the process environment). */
Test(settings_table, lists_exactly_the_variables_config_reads)
{
    asked_env a = {{0}, 0};
    dlcoll_config_t cfg = dlcoll_config_init();
    /* Nothing set: the resolver stops at the first missing setting (world
     * size), so walk it three times, each with one more setting given. */
    dlc_settings_resolve(&cfg, asking_getenv, &a, &s, &err);
    cfg.world_size = 1;
    dlc_settings_resolve(&cfg, asking_getenv, &a, &s, &err);
    cfg.rank = 0;
    dlc_settings_resolve(&cfg, asking_getenv, &a, &s, &err);
    cfg.init_method = TCP;
    cr_assert_eq(dlc_settings_resolve(&cfg, asking_getenv, &a, &s, &err), DLCOLL_SUCCESS, "%s",
                 err.msg);
    for (int i = 0; i < a.n; i++) {
        const dlc_env_var *row = dlc_env_find(a.names[i]);
        cr_expect(row != NULL, "config.c reads %s, which util/settings_table.c lacks", a.names[i]);
        if (row != NULL)
            cr_expect(row->flags & DLC_ENV_PLUGIN, "%s is read by the plugin but its row says not",
                      a.names[i]);
    }

    /* The later readers, through the process environment (this test's own). */
    static const char *const later[] = {"DLCOLL_ALGO", "DLCOLL_IFACE", "FI_TCP_IFACE",
                                        "DLCOLL_DEBUG"};
    const char *from = NULL;
    setenv("DLCOLL_ALGO", "ring", 1);
    cr_expect_str_eq(dlc_env_algo(), "ring");
    setenv("DLCOLL_DEBUG", "INFO", 1);
    cr_expect_str_eq(dlc_env_log_level(), "INFO");
    setenv("FI_TCP_IFACE", "ethX", 1);
    cr_expect_str_eq(dlc_env_iface(&from), "ethX");
    cr_expect_str_eq(from, "FI_TCP_IFACE");
    setenv("DLCOLL_IFACE", "ethY", 1);
    cr_expect_str_eq(dlc_env_iface(&from), "ethY");
    cr_expect_str_eq(from, "DLCOLL_IFACE");
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        unsetenv(later[i]);
        cr_expect(dlc_env_find(later[i]) != NULL, "%s is not in the table", later[i]);
    }

    for (int i = 0; i < DLC_ENV_COUNT; i++) {
        const dlc_env_var *row = &dlc_env_table[i];
        int is_later = 0;
        for (size_t j = 0; j < sizeof later / sizeof later[0]; j++)
            is_later |= strcmp(row->name, later[j]) == 0;
        if (row->flags & DLC_ENV_PLUGIN)
            cr_expect(is_later || was_asked(&a, row->name),
                      "the table says the plugin reads %s, but config.c never asks for it",
                      row->name);
        cr_expect(row->setting < DLC_SET_COUNT, "%s has no setting", row->name);
        cr_expect(row->doc != NULL && row->dflt != NULL && row->form != NULL, "%s: empty row",
                  row->name);
    }
}

/* Within one setting the rows are in precedence order: the rank's and world
 * size's rows are config.c's lists, in config.c's order. */
Test(settings_table, rank_rows_are_in_precedence_order)
{
    static const char *const rank[] = {"DLCOLL_RANK", "RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                       "SLURM_PROCID", "RANK_ID", "MS_NODE_ID"};
    int k = 0;
    for (int i = 0; i < DLC_ENV_COUNT; i++)
        if (dlc_env_table[i].setting == DLC_SET_RANK) {
            cr_assert_lt(k, 7);
            cr_expect_str_eq(dlc_env_table[i].name, rank[k]);
            k++;
        }
    cr_expect_eq(k, 7);
    /* and the first set one wins in config.c too */
    fake_env e = ENV(V("RANK", "1"), V("SLURM_PROCID", "0"), V("WORLD_SIZE", "2"),
                     V("DLCOLL_INIT_METHOD", TCP));
    resolve_ok(NULL, &e);
    cr_expect_eq(s.rank, 1);
    cr_expect_str_eq(s.rank_from, "RANK");
}
