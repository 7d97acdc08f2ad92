/*
 * test_exports.c -- the plugin exports exactly one symbol, dlcoll_plugin_v1.
 *
 * Reads the ELF dynamic symbol table (.dynsym) of DLCOLL_PLUGIN_PATH directly
 * with <elf.h>, so the check does not depend on binutils.  Undefined symbols
 * (what the plugin imports from libc, libfabric, hwloc) do not count, nor,
 * in a sanitizer build, the symbols the sanitizer adds (sanitizer_symbol()).
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi/dlcoll.h"

typedef struct exported {
    char name[128];
    unsigned type;   /* STT_* */
    uint64_t size;
} exported;

/* Fill out[] with the defined global/weak symbols of the .dynsym of path;
 * returns how many there are (only the first cap are stored). */
static size_t defined_dynamic_symbols(const char *path, exported *out, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "cannot open %s", path);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    size_t fsize = (size_t)st.st_size;
    cr_assert_geq(fsize, sizeof(Elf64_Ehdr), "%s is too small for ELF", path);
    const uint8_t *img = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    cr_assert_neq(img, MAP_FAILED);
    close(fd);

    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    cr_assert(memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0, "%s is not ELF", path);
    cr_assert_eq(eh->e_ident[EI_CLASS], ELFCLASS64, "only 64-bit ELF is handled");
    cr_assert_eq(eh->e_type, ET_DYN, "%s is not a shared object", path);
    cr_assert_eq(eh->e_shentsize, sizeof(Elf64_Shdr));
    cr_assert_leq(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), fsize);
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);

    size_t count = 0;
    int found_dynsym = 0;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        found_dynsym = 1;
        cr_assert_lt(sh[i].sh_link, eh->e_shnum);
        const Elf64_Shdr *strtab = &sh[sh[i].sh_link];
        cr_assert_leq(sh[i].sh_offset + sh[i].sh_size, fsize);
        cr_assert_leq(strtab->sh_offset + strtab->sh_size, fsize);
        cr_assert_eq(sh[i].sh_entsize, sizeof(Elf64_Sym));
        const Elf64_Sym *syms = (const Elf64_Sym *)(img + sh[i].sh_offset);
        const char *names = (const char *)(img + strtab->sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        for (size_t s = 0; s < n; s++) {
            unsigned bind = ELF64_ST_BIND(syms[s].st_info);
            if (syms[s].st_shndx == SHN_UNDEF || syms[s].st_name == 0)
                continue; /* imports and the null symbol */
            if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
                continue; /* local section symbols some linkers emit */
            cr_assert_lt(syms[s].st_name, strtab->sh_size);
            if (count < cap) {
                snprintf(out[count].name, sizeof out[count].name, "%s",
                         names + syms[s].st_name);
                out[count].type = ELF64_ST_TYPE(syms[s].st_info);
                out[count].size = syms[s].st_size;
            }
            count++;
        }
    }
    cr_assert(found_dynsym, "%s has no .dynsym", path);
    munmap((void *)img, fsize);
    return count;
}

/* In a sanitizer build (-DDLCOLL_SANITIZE=..., cmake/sanitize.cmake) the
 * instrumentation adds dynamic symbols of its own to libdlcoll.so: ASan emits
 * __odr_asan.<name> next to each instrumented global of default visibility
 * (its one-definition-rule check), so dlcoll_plugin_v1 brings
 * __odr_asan.dlcoll_plugin_v1; the runtimes' interfaces are __asan_*,
 * __ubsan_*, __tsan_*, __lsan_* and __sanitizer_*.  Those are the
 * sanitizer's, not dlcoll's: this returns 1 for them, and only in such a
 * build (a plain build may export nothing but dlcoll_plugin_v1).  An ODR
 * indicator counts only for a name that is itself allowed. */
static int sanitizer_symbol(const char *name)
{
#ifdef DLCOLL_SANITIZE
    static const char odr[] = "__odr_asan.";
    if (strncmp(name, odr, sizeof odr - 1) == 0)
        return strcmp(name + sizeof odr - 1, DLCOLL_PLUGIN_SYMBOL) == 0;
    static const char *prefixes[] = {"__asan_", "___asan_", "__ubsan_", "__tsan_",
                                     "__lsan_", "__sanitizer_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
#endif
    (void)name;
    return 0;
}

Test(exports, exactly_one_defined_dynamic_symbol)
{
    exported all[64], syms[64];
    size_t total = defined_dynamic_symbols(DLCOLL_PLUGIN_PATH, all, 64);
    cr_assert_leq(total, 64, "%s exports %zu symbols", DLCOLL_PLUGIN_PATH, total);
    size_t n = 0, san = 0;
    for (size_t i = 0; i < total; i++) {
        if (sanitizer_symbol(all[i].name))
            san++;
        else
            syms[n++] = all[i];
    }
#ifdef DLCOLL_SANITIZE
    cr_log_info("%s (-fsanitize=%s): %zu of its %zu exported symbols are the sanitizer's",
                DLCOLL_PLUGIN_PATH, DLCOLL_SANITIZE, san, total);
#endif
    if (n != 1) {
        char list[4096] = "";
        for (size_t i = 0; i < n; i++) {
            strncat(list, " ", sizeof list - strlen(list) - 1);
            strncat(list, syms[i].name, sizeof list - strlen(list) - 1);
        }
        cr_assert_fail("%s exports %zu symbols of its own, want only %s:%s", DLCOLL_PLUGIN_PATH,
                       n, DLCOLL_PLUGIN_SYMBOL, list);
    }
    cr_assert_str_eq(syms[0].name, DLCOLL_PLUGIN_SYMBOL);
    cr_assert_eq(syms[0].type, STT_OBJECT, "%s is not a data object", DLCOLL_PLUGIN_SYMBOL);
    cr_assert_eq(syms[0].size, sizeof(dlcoll_plugin_v1_t), "%s is %llu bytes, want %zu",
                 DLCOLL_PLUGIN_SYMBOL, (unsigned long long)syms[0].size,
                 sizeof(dlcoll_plugin_v1_t));
}

Test(exports, sanitizer_symbols_only_in_a_sanitizer_build)
{
    /* The allowance above must not hide one of dlcoll's own names: none of
     * these is the sanitizer's, in any build. */
    static const char *ours[] = {"dlcoll_plugin_v1", "dlc_fail", "__odr_asan.dlc_fail",
                                 "__odr_asan.", "asan_init", "dlc_asan_helper"};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        cr_assert_not(sanitizer_symbol(ours[i]), "%s counted as the sanitizer's", ours[i]);
#ifdef DLCOLL_SANITIZE
    cr_assert(sanitizer_symbol("__odr_asan.dlcoll_plugin_v1"));
    cr_assert(sanitizer_symbol("__asan_report_load8"));
#else
    cr_assert_not(sanitizer_symbol("__odr_asan.dlcoll_plugin_v1"),
                  "a plain build allows no sanitizer symbol");
    cr_assert_not(sanitizer_symbol("__asan_report_load8"));
#endif
}

Test(exports, internal_names_are_not_visible)
{
    /* The same through the dynamic linker: internal functions stay hidden. */
    void *h = dlopen(DLCOLL_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(h, "%s", dlerror());
    cr_assert_not_null(dlsym(h, DLCOLL_PLUGIN_SYMBOL));
    static const char *hidden[] = {"dlc_fail", "dlc_status_string", "dlc_tensor_describe",
                                   "dlc_tensor_pack", "dlc_log"};
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        void *own = dlsym(h, hidden[i]);
        /* dlsym on a handle also searches the plugin's dependencies, none of
         * which define dlc_* names; so any hit is the plugin's own. */
        cr_assert_null(own, "%s is visible", hidden[i]);
    }
    dlclose(h);
}
