/*
 * test_loader.c -- abi/dlcoll_loader.h against fake plugins (tests/fakes/) and
 * the real plugin.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/dlcoll_loader.h"

#define FAKE(name) DLCOLL_FAKES_DIR "/" name ".so"

static void assert_contains(const char *text, const char *needle)
{
    cr_assert(strstr(text, needle), "\"%s\" lacks \"%s\"", text, needle);
}

/* Load must fail; the message names the file and contains each needle. */
static void refused(const char *path, const char *n1, const char *n2)
{
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, path), -1, "%s was accepted", path);
    cr_assert_null(ld.handle);
    cr_assert_null(ld.plugin);
    assert_contains(ld.error, path);
    if (n1)
        assert_contains(ld.error, n1);
    if (n2)
        assert_contains(ld.error, n2);
    dlcoll_unload(&ld); /* harmless after a failure */
}

Test(loader, fake_good_is_accepted)
{
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, FAKE("fake_good")), 0, "%s", ld.error);
    cr_assert_not_null(ld.handle);
    cr_assert_not_null(ld.plugin);
    cr_assert_str_eq(ld.path, FAKE("fake_good"));
    cr_assert_str_eq(ld.plugin->name, "fake");
    cr_assert_eq(ld.plugin->abi_major, 1);
    dlcoll_config_t cfg = DLCOLL_CONFIG_INIT;
    dlcoll_comm_t comm = NULL;
    cr_assert_eq(ld.plugin->init(&cfg, &comm), DLCOLL_ERR_UNSUPPORTED);
    cr_assert_eq(ld.plugin->barrier(NULL, NULL), DLCOLL_ERR_UNSUPPORTED);
    dlcoll_unload(&ld);
    cr_assert_null(ld.handle);
    cr_assert_null(ld.plugin);
}

Test(loader, other_abi_major_refused)
{
    refused(FAKE("fake_v2"), "ABI 2.0", "major 1");
}

Test(loader, short_struct_refused)
{
    char want[64];
    snprintf(want, sizeof want, "%zu-byte", offsetof(dlcoll_plugin_v1_t, finalize));
    refused(FAKE("fake_small"), want, "ABI 1.0");
}

Test(loader, null_entry_refused)
{
    refused(FAKE("fake_nullentry"), "NULL ABI 1.0 entry: barrier", "ABI 1.0");
}

Test(loader, missing_symbol_refused)
{
    refused(FAKE("fake_nosym"), "no symbol dlcoll_plugin_v1", NULL);
}

Test(loader, missing_file_gives_dlerror_text)
{
    const char *path = DLCOLL_FAKES_DIR "/no_such_plugin.so";
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, path), -1);
    /* dlerror() says the same thing for the same failure. */
    cr_assert_null(dlopen(path, RTLD_NOW | RTLD_LOCAL));
    const char *e = dlerror();
    cr_assert_not_null(e);
    assert_contains(ld.error, e);
    assert_contains(ld.error, "No such file");
    assert_contains(ld.error, path);
}

Test(loader, real_plugin_loads)
{
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, DLCOLL_PLUGIN_PATH), 0, "%s", ld.error);
    const dlcoll_plugin_v1_t *p = ld.plugin;
    cr_assert_eq(p->abi_major, DLCOLL_ABI_MAJOR);
    cr_assert_geq(p->struct_size, DLCOLL_PLUGIN_V1_0_SIZE);
    cr_assert_not_null(p->name);
    cr_assert_not_null(p->version);
    cr_assert_eq(ld.error[0], '\0');

    /* Every status code has its own non-empty text; unknown codes still get text. */
    const char *texts[DLCOLL_ERR_INTERNAL + 1];
    for (int s = DLCOLL_SUCCESS; s <= DLCOLL_ERR_INTERNAL; s++) {
        texts[s] = p->status_string((dlcoll_status_t)s);
        cr_assert_not_null(texts[s], "status %d", s);
        cr_assert_neq(texts[s][0], '\0', "status %d", s);
        for (int o = 0; o < s; o++)
            cr_assert_str_neq(texts[s], texts[o], "statuses %d and %d share a text", s, o);
    }
    const char *unknown = p->status_string((dlcoll_status_t)99);
    cr_assert_not_null(unknown);
    cr_assert_neq(unknown[0], '\0');
    dlcoll_unload(&ld);
}

Test(loader, real_and_fake_plugins_coexist)
{
    dlcoll_loader_t a, b;
    cr_assert_eq(dlcoll_load(&a, DLCOLL_PLUGIN_PATH), 0, "%s", a.error);
    cr_assert_eq(dlcoll_load(&b, FAKE("fake_good")), 0, "%s", b.error);
    cr_assert_neq(a.plugin, b.plugin);
    cr_assert_str_eq(b.plugin->name, "fake");
    cr_assert_str_neq(a.plugin->name, "fake");
    dlcoll_unload(&b);
    dlcoll_unload(&a);
}

Test(loader, env_var_used_when_path_is_null)
{
    dlcoll_loader_t ld;
    cr_assert_eq(setenv("DLCOLL_PLUGIN", FAKE("fake_v2"), 1), 0);
    cr_assert_eq(dlcoll_load(&ld, NULL), -1);
    cr_assert_str_eq(ld.path, FAKE("fake_v2"));
    assert_contains(ld.error, "ABI 2.0");
    cr_assert_eq(dlcoll_load(&ld, ""), -1); /* "" counts as no path */
    cr_assert_str_eq(ld.path, FAKE("fake_v2"));

    cr_assert_eq(setenv("DLCOLL_PLUGIN", DLCOLL_PLUGIN_PATH, 1), 0);
    cr_assert_eq(dlcoll_load(&ld, NULL), 0, "%s", ld.error);
    cr_assert_str_eq(ld.path, DLCOLL_PLUGIN_PATH);
    cr_assert_eq(ld.plugin->abi_major, 1);
    dlcoll_unload(&ld);

    /* An explicit path wins over the variable. */
    cr_assert_eq(dlcoll_load(&ld, FAKE("fake_good")), 0, "%s", ld.error);
    cr_assert_str_eq(ld.plugin->name, "fake");
    dlcoll_unload(&ld);

    /* Neither: the dynamic linker's search for libdlcoll.so. */
    cr_assert_eq(unsetenv("DLCOLL_PLUGIN"), 0);
    if (dlcoll_load(&ld, NULL) == 0)
        dlcoll_unload(&ld);
    cr_assert_str_eq(ld.path, "libdlcoll.so");
}

Test(loader, plugin_has_follows_struct_size)
{
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, DLCOLL_PLUGIN_PATH), 0, "%s", ld.error);
    const dlcoll_plugin_v1_t *p = ld.plugin;
    cr_assert(DLCOLL_PLUGIN_HAS(p, status_string));
    cr_assert(DLCOLL_PLUGIN_HAS(p, allgather));
    cr_assert(DLCOLL_PLUGIN_HAS(p, finalize));

    /* The same struct claiming to end before finalize. */
    dlcoll_plugin_v1_t copy = *p;
    copy.struct_size = offsetof(dlcoll_plugin_v1_t, finalize);
    cr_assert(DLCOLL_PLUGIN_HAS(&copy, abort));
    cr_assert(!DLCOLL_PLUGIN_HAS(&copy, finalize));
    copy.struct_size = offsetof(dlcoll_plugin_v1_t, finalize) + sizeof copy.finalize;
    cr_assert(DLCOLL_PLUGIN_HAS(&copy, finalize));
    copy.struct_size = offsetof(dlcoll_plugin_v1_t, status_string);
    cr_assert(!DLCOLL_PLUGIN_HAS(&copy, status_string));
    dlcoll_unload(&ld);
}

Test(loader, check_without_loading)
{
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, DLCOLL_PLUGIN_PATH), 0, "%s", ld.error);
    dlcoll_plugin_v1_t copy = *ld.plugin;

    dlcoll_loader_t chk;
    memset(&chk, 0, sizeof chk);
    cr_assert_eq(dlcoll_loader_check(&chk, &copy), 0, "%s", chk.error);
    cr_assert_eq(chk.plugin, &copy);

    copy.abi_minor = 7; /* newer minor of the same major: fine */
    memset(&chk, 0, sizeof chk);
    cr_assert_eq(dlcoll_loader_check(&chk, &copy), 0, "%s", chk.error);

    copy.finalize = NULL;
    memset(&chk, 0, sizeof chk);
    cr_assert_eq(dlcoll_loader_check(&chk, &copy), -1);
    assert_contains(chk.error, "finalize");
    cr_assert_null(chk.plugin);

    copy.finalize = ld.plugin->finalize;
    copy.struct_size = DLCOLL_PLUGIN_V1_0_SIZE - 1;
    memset(&chk, 0, sizeof chk);
    cr_assert_eq(dlcoll_loader_check(&chk, &copy), -1);

    copy.struct_size = ld.plugin->struct_size;
    copy.abi_major = 0;
    memset(&chk, 0, sizeof chk);
    cr_assert_eq(dlcoll_loader_check(&chk, &copy), -1);
    assert_contains(chk.error, "ABI 0.7");

    memset(&chk, 0, sizeof chk);
    cr_assert_eq(dlcoll_loader_check(&chk, NULL), -1);
    dlcoll_unload(&ld);
}

/* ABI 1.1: the real plugin has every 1.1 entry; a 1.0 plugin (fake_good,
 * whose struct_size stops at finalize) has none, and a 1.1 host's check
 * names both versions. */
Test(loader, v1_1_entries_follow_struct_size)
{
    dlcoll_loader_t ld;
    cr_assert_eq(dlcoll_load(&ld, DLCOLL_PLUGIN_PATH), 0, "%s", ld.error);
    const dlcoll_plugin_v1_t *p = ld.plugin;
    cr_assert_eq(p->abi_minor, 1);
    cr_assert_eq(p->struct_size, sizeof(dlcoll_plugin_v1_t));
    cr_assert_eq(p->struct_size, DLCOLL_PLUGIN_V1_1_SIZE);
    cr_assert(DLCOLL_PLUGIN_HAS(p, allreduce) && p->allreduce);
    cr_assert(DLCOLL_PLUGIN_HAS(p, reduce_scatter) && p->reduce_scatter);
    cr_assert(DLCOLL_PLUGIN_HAS(p, reduce_scatter_list) && p->reduce_scatter_list);
    cr_assert(DLCOLL_PLUGIN_HAS(p, broadcast) && p->broadcast);
    char why[256];
    cr_assert_eq(DLCOLL_PLUGIN_REQUIRE(p, broadcast, 1, why, sizeof why), 0);
    cr_assert_str_empty(why);
    dlcoll_unload(&ld);

    cr_assert_eq(dlcoll_load(&ld, FAKE("fake_good")), 0, "%s", ld.error);
    p = ld.plugin;
    cr_assert_eq(p->struct_size, DLCOLL_PLUGIN_V1_0_SIZE);
    cr_assert(DLCOLL_PLUGIN_HAS(p, finalize));
    cr_assert(!DLCOLL_PLUGIN_HAS(p, allreduce));
    cr_assert(!DLCOLL_PLUGIN_HAS(p, reduce_scatter));
    cr_assert(!DLCOLL_PLUGIN_HAS(p, reduce_scatter_list));
    cr_assert(!DLCOLL_PLUGIN_HAS(p, broadcast));
    cr_assert_eq(DLCOLL_PLUGIN_REQUIRE(p, allreduce, 1, why, sizeof why), -1);
    assert_contains(why, "\"fake\"");
    assert_contains(why, "ABI 1.0");
    assert_contains(why, "allreduce needs ABI 1.1");
    dlcoll_unload(&ld);
}

/* The 1.0 struct is a prefix of the 1.1 one: the header fields and every
 * 1.0 entry at the same offset (the frozen header's host relies on it:
 * tests/unit/test_abi_1_0_host.c). */
Test(loader, v1_1_appends_only)
{
    cr_assert_eq(DLCOLL_ABI_MINOR, 1);
    cr_assert_eq(offsetof(dlcoll_plugin_v1_t, allreduce), DLCOLL_PLUGIN_V1_0_SIZE);
    cr_assert_lt(offsetof(dlcoll_plugin_v1_t, allreduce),
                 offsetof(dlcoll_plugin_v1_t, reduce_scatter));
    cr_assert_lt(offsetof(dlcoll_plugin_v1_t, reduce_scatter),
                 offsetof(dlcoll_plugin_v1_t, reduce_scatter_list));
    cr_assert_lt(offsetof(dlcoll_plugin_v1_t, reduce_scatter_list),
                 offsetof(dlcoll_plugin_v1_t, broadcast));
}
