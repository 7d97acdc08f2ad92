/*
 * test_peer_checks.c -- the checks of what other processes hand a rank
 * (issue 15): NOTICE decoding and its sender (core/notice_check.c), CMA
 * runs and the pinned peer (transport/cma_check.c), and the shared
 * segment's owner and mode (coll/shm_seg_open.c).
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin/coll/shm_seg_open.h"
#include "plugin/core/notice_check.h"
#include "plugin/transport/cma_check.h"
#include "plugin/transport/transport.h"

static dlc_host_rec hosts[3];

static dlc_notice_msg notice_from(int origin)
{
    dlc_notice_msg m;
    memset(&m, 0, sizeof m);
    m.comm_id = 1;
    m.seq = 2;
    m.origin = origin;
    m.status = DLCOLL_ERR_ABORTED;
    m.kind = DLC_NOTICE_FAILURE;
    memcpy(m.key, hosts[origin].notice_key, sizeof m.key);
    memset(m.message, 'x', sizeof m.message); /* unterminated */
    return m;
}

static void init_keys(void)
{
    for (int r = 0; r < 3; r++) {
        hosts[r].notice_key[0] = 0x1111u * (unsigned)(r + 1);
        hosts[r].notice_key[1] = 0x2222u * (unsigned)(r + 1);
    }
}

Test(notice_check, a_members_notice_is_accepted_and_terminated, .init = init_keys)
{
    dlc_notice_msg m = notice_from(1), out;
    char why[256] = "";
    cr_assert(dlc_notice_decode(&m, sizeof m, 1, hosts, 3, 0, &out, why, sizeof why), "%s", why);
    cr_assert_eq(out.message[sizeof out.message - 1], '\0');
    /* Without FI_SOURCE (src unknown) the origin and its key decide. */
    cr_assert(dlc_notice_decode(&m, sizeof m, DLC_SRC_UNKNOWN, hosts, 3, 0, &out, why, sizeof why));
}

Test(notice_check, a_forged_origin_is_dropped_naming_both, .init = init_keys)
{
    /* Rank 2, a member, sends a notice claiming to be rank 1. */
    dlc_notice_msg m = notice_from(1), out;
    char why[256] = "";
    cr_assert_not(dlc_notice_decode(&m, sizeof m, 2, hosts, 3, 0, &out, why, sizeof why));
    cr_assert(strstr(why, "claiming to be from rank 1") && strstr(why, "rank 2"), "%s", why);
}

Test(notice_check, strangers_and_bad_sizes_are_dropped, .init = init_keys)
{
    dlc_notice_msg m = notice_from(1), out;
    char why[256] = "";
    cr_assert_not(dlc_notice_decode(&m, sizeof m, DLC_SRC_STRANGER, hosts, 3, 0, &out, why,
                                    sizeof why));
    cr_assert(strstr(why, "stranger"), "%s", why);
    /* shm names a stranger as fi_addr 0: on rank 0 that is "itself". */
    cr_assert_not(dlc_notice_decode(&m, sizeof m, 0, hosts, 3, 0, &out, why, sizeof why));
    /* A wrong key (a stranger shm misnamed as rank 1). */
    m.key[1] ^= 1u;
    cr_assert_not(dlc_notice_decode(&m, sizeof m, 1, hosts, 3, 0, &out, why, sizeof why));
    cr_assert(strstr(why, "key"), "%s", why);
    m = notice_from(1);
    cr_assert_not(dlc_notice_decode(&m, sizeof m - 1, 1, hosts, 3, 0, &out, why, sizeof why));
    cr_assert_not(dlc_notice_decode(&m, 0, 1, hosts, 3, 0, &out, why, sizeof why));
    m.origin = 7;
    cr_assert_not(dlc_notice_decode(&m, sizeof m, DLC_SRC_UNKNOWN, hosts, 3, 0, &out, why,
                                    sizeof why));
    m.origin = -1;
    cr_assert_not(dlc_notice_decode(&m, sizeof m, DLC_SRC_UNKNOWN, hosts, 3, 0, &out, why,
                                    sizeof why));
    m = notice_from(1);
    m.kind = 9;
    cr_assert_not(dlc_notice_decode(&m, sizeof m, 1, hosts, 3, 0, &out, why, sizeof why));
}

Test(notice_check, membership)
{
    int members[2] = {0, 2};
    cr_assert(dlc_notice_from_member(members, 2, 2));
    cr_assert_not(dlc_notice_from_member(members, 2, 1));
}

Test(cma_check, a_forged_slot_is_refused)
{
    struct iovec out[8];
    char why[160];
    uint64_t addr[2] = {UINT64_MAX, 0x1000}, len[2] = {17, 16};
    /* {2^64-1, 17}: the run wraps the address space. */
    cr_assert_eq(dlc_cma_check_runs(addr, len, 1, 8, 17, out, why, sizeof why), EINVAL);
    /* Lengths that sum past 2^64 to the expected total. */
    uint64_t a2[2] = {0x1000, 0x2000}, l2[2] = {UINT64_MAX, 17};
    cr_assert_eq(dlc_cma_check_runs(a2, l2, 2, 8, 16, out, why, sizeof why), EINVAL);
    /* Above any user address. */
    uint64_t a3[1] = {DLC_CMA_ADDR_END - 8}, l3[1] = {16};
    cr_assert_eq(dlc_cma_check_runs(a3, l3, 1, 8, 16, out, why, sizeof why), EINVAL);
    /* Too many runs, none. */
    cr_assert_eq(dlc_cma_check_runs(addr, len, 9, 8, 16, out, why, sizeof why), EINVAL);
    cr_assert_eq(dlc_cma_check_runs(addr, len, 0, 8, 16, out, why, sizeof why), EINVAL);
    /* Valid runs of another total. */
    uint64_t a4[2] = {0x1000, 0x3000}, l4[2] = {8, 8};
    cr_assert_eq(dlc_cma_check_runs(a4, l4, 2, 8, 17, out, why, sizeof why), EMSGSIZE);
    cr_assert_eq(dlc_cma_check_runs(a4, l4, 2, 8, 16, out, why, sizeof why), 0, "%s", why);
    cr_assert_eq((uintptr_t)out[1].iov_base, 0x3000u);
    cr_assert_eq(out[1].iov_len, 8u);
}

Test(cma_check, a_pinned_peer_that_exits_is_gone)
{
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    dlc_cma_pin pin;
    cr_assert_eq(dlc_cma_pin_open(&pin, child), 0);
    cr_assert_eq(dlc_cma_pin_check(&pin), 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    cr_assert_eq(dlc_cma_pin_check(&pin), ESRCH);
    dlc_cma_pin_close(&pin);
}

Test(shm_seg_open, owner_and_mode)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    char why[200];
    st.st_mode = S_IFREG | 0600;
    st.st_uid = geteuid();
    cr_assert(dlc_shm_seg_owner_ok(&st, why, sizeof why));
    st.st_mode = S_IFREG | 0666;
    cr_assert_not(dlc_shm_seg_owner_ok(&st, why, sizeof why));
    cr_assert(strstr(why, "0666"), "%s", why);
    st.st_mode = S_IFREG | 0600;
    st.st_uid = geteuid() + 1;
    cr_assert_not(dlc_shm_seg_owner_ok(&st, why, sizeof why));
    st.st_uid = geteuid();
    st.st_mode = S_IFDIR | 0700;
    cr_assert_not(dlc_shm_seg_owner_ok(&st, why, sizeof why));
}
