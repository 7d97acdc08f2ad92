/*
 * guest.c -- save and restore the process-wide state that libraries dlcoll
 * loads may change behind the host's back (see guest.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "plugin/util/guest.h"

static int last_signal(void)
{
    return SIGRTMAX < DLC_GUEST_NSIG - 1 ? SIGRTMAX : DLC_GUEST_NSIG - 1;
}

void dlc_guest_save(dlc_guest_state *g)
{
    int last = last_signal();
    for (int s = 1; s <= last; s++)
        g->have[s] = sigaction(s, NULL, &g->act[s]) == 0;
    pthread_sigmask(SIG_SETMASK, NULL, &g->mask);
}

/* Signal sets are compared signal by signal: glibc and the kernel fill only
 * their own part of a sigset_t, and the rest of it holds whatever was there. */
static int same_set(const sigset_t *a, const sigset_t *b)
{
    int last = last_signal();
    for (int s = 1; s <= last; s++)
        if (sigismember(a, s) != sigismember(b, s))
            return 0;
    return 1;
}

/* The handler is a union of sa_handler and sa_sigaction: compare the bytes. */
static int same_action(const struct sigaction *a, const struct sigaction *b)
{
    return memcmp(&a->sa_handler, &b->sa_handler, sizeof a->sa_handler) == 0 &&
           a->sa_flags == b->sa_flags && same_set(&a->sa_mask, &b->sa_mask);
}

/* Put signal s's disposition back exactly as it was read.  On x86_64 glibc's
 * sigaction() always adds SA_RESTORER (and its own restorer), so a
 * disposition nobody ever set (SIG_DFL or SIG_IGN, flags 0) would read back
 * with SA_RESTORER set: harmless, but not what the host had.  Those go back
 * through the kernel call itself, with the flags as they were. */
static int put_back(int s, const struct sigaction *a)
{
#if defined(__x86_64__) && defined(SYS_rt_sigaction)
    const int sa_restorer = 0x04000000; /* the kernel's SA_RESTORER on x86 */
    if (!(a->sa_flags & sa_restorer) && (a->sa_handler == SIG_DFL || a->sa_handler == SIG_IGN)) {
        struct {
            void (*handler)(int);
            unsigned long flags;
            void (*restorer)(void);
            uint64_t mask;
        } k = {a->sa_handler, (unsigned long)(unsigned)a->sa_flags, NULL, 0};
        for (int m = 1; m <= 64; m++)
            if (sigismember(&a->sa_mask, m) == 1)
                k.mask |= UINT64_C(1) << (m - 1);
        return syscall(SYS_rt_sigaction, s, &k, NULL, sizeof k.mask) == 0 ? 0 : -1;
    }
#endif
    return sigaction(s, a, NULL);
}

/* Append " SIGNAME" to list when it fits. */
static void list_add(char *list, size_t cap, int s)
{
    size_t used = strlen(list);
    const char *name = sigabbrev_np(s);
    if (used >= cap)
        return;
    if (name)
        snprintf(list + used, cap - used, " SIG%s", name);
    else
        snprintf(list + used, cap - used, " %d", s);
}

int dlc_guest_restore(const dlc_guest_state *g, const dlc_logger *lg, const char *what)
{
    int last = last_signal(), restored = 0, failed = 0;
    char done[256] = "", stuck[256] = "";
    for (int s = 1; s <= last; s++) {
        struct sigaction now;
        if (!g->have[s] || sigaction(s, NULL, &now) != 0 || same_action(&now, &g->act[s]))
            continue;
        if (put_back(s, &g->act[s]) == 0) {
            restored++;
            list_add(done, sizeof done, s);
        } else {
            failed++;
            list_add(stuck, sizeof stuck, s);
        }
    }
    if (restored && lg)
        DLC_INFO(lg, "guest: %s changed the handlers of%s; restored the host's", what, done);
    if (failed && lg)
        DLC_WARN(lg, "guest: %s changed the handlers of%s and they could not be restored", what,
                 stuck);
    sigset_t now;
    if (pthread_sigmask(SIG_SETMASK, NULL, &now) == 0 && !same_set(&now, &g->mask)) {
        pthread_sigmask(SIG_SETMASK, &g->mask, NULL);
        if (lg)
            DLC_INFO(lg, "guest: %s changed this thread's signal mask; restored it", what);
    }
    return restored;
}
