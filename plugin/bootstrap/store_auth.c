/*
 * store_auth.c -- the tcp:// store's proofs of the job key (store_auth.h).
 */
#include "plugin/bootstrap/store_auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

static const char *const labels[2] = {"dlcoll store v2 client proof",
                                      "dlcoll store v2 server proof"};

dlcoll_status_t dlc_auth_nonce(unsigned char out[DLC_AUTH_NONCE_LEN], const char *who, dlc_err *err)
{
    size_t got = 0;
    while (got < DLC_AUTH_NONCE_LEN) {
        ssize_t n = getrandom(out + got, DLC_AUTH_NONCE_LEN - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return dlc_fail(err, DLCOLL_ERR_SYSTEM, "%s: getrandom failed: %s", who,
                            strerror(errno));
        got += (size_t)n;
    }
    return DLCOLL_SUCCESS;
}

void dlc_auth_proof(const unsigned char *key, size_t key_len, dlc_auth_role role,
                    const unsigned char cnonce[DLC_AUTH_NONCE_LEN],
                    const unsigned char snonce[DLC_AUTH_NONCE_LEN],
                    unsigned char out[DLC_AUTH_PROOF_LEN])
{
    crypto_auth_hmacsha256_state st;
    const char *label = labels[role == DLC_AUTH_SERVER];
    crypto_auth_hmacsha256_init(&st, key, key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label) + 1);
    crypto_auth_hmacsha256_update(&st, cnonce, DLC_AUTH_NONCE_LEN);
    crypto_auth_hmacsha256_update(&st, snonce, DLC_AUTH_NONCE_LEN);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

int dlc_auth_check(const unsigned char *key, size_t key_len, dlc_auth_role role,
                   const unsigned char cnonce[DLC_AUTH_NONCE_LEN],
                   const unsigned char snonce[DLC_AUTH_NONCE_LEN],
                   const unsigned char proof[DLC_AUTH_PROOF_LEN])
{
    unsigned char want[DLC_AUTH_PROOF_LEN];
    dlc_auth_proof(key, key_len, role, cnonce, snonce, want);
    int ok = crypto_verify_32(want, proof) == 0;
    sodium_memzero(want, sizeof want);
    return ok;
}

int dlc_auth_host_is_loopback(const char *host)
{
    if (host == NULL)
        return 0;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "ip6-localhost") == 0)
        return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}
