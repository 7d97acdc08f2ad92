/*
 * store_auth.h -- private: the tcp:// store's challenge-response (docs/security.md).
 *
 * Both ends hold the job key (DLCOLL_JOB_KEY / DLCOLL_JOB_KEY_FILE; dlcoll-run
 * makes one).  Each sends a fresh random nonce; each proves it holds the key
 * with HMAC-SHA256(key, label || client nonce || server nonce), where the
 * label differs by role, so neither proof can be replayed as the other.  The
 * key never crosses the wire.  The MAC is libsodium's (crypto_auth_hmacsha256);
 * nonces come from getrandom(2).  sodium_init() is not called: HMAC-SHA256
 * and crypto_verify_32 keep no state that it sets up, and it could open
 * /dev/urandom for good on a kernel without getrandom.
 */
#ifndef DLC_STORE_AUTH_H
#define DLC_STORE_AUTH_H

#include <stddef.h>

#include "plugin/util/error.h"

#define DLC_AUTH_NONCE_LEN 32
#define DLC_AUTH_PROOF_LEN 32

typedef enum { DLC_AUTH_CLIENT = 0, DLC_AUTH_SERVER = 1 } dlc_auth_role;

/* A fresh random nonce (getrandom); DLCOLL_ERR_SYSTEM naming `who` on failure. */
dlcoll_status_t dlc_auth_nonce(unsigned char out[DLC_AUTH_NONCE_LEN], const char *who,
                               dlc_err *err);

/* The proof that `role` holds key: HMAC-SHA256 over the role's label and both nonces. */
void dlc_auth_proof(const unsigned char *key, size_t key_len, dlc_auth_role role,
                    const unsigned char cnonce[DLC_AUTH_NONCE_LEN],
                    const unsigned char snonce[DLC_AUTH_NONCE_LEN],
                    unsigned char out[DLC_AUTH_PROOF_LEN]);

/* 1 when proof is role's proof for these nonces (constant-time compare), else 0. */
int dlc_auth_check(const unsigned char *key, size_t key_len, dlc_auth_role role,
                   const unsigned char cnonce[DLC_AUTH_NONCE_LEN],
                   const unsigned char snonce[DLC_AUTH_NONCE_LEN],
                   const unsigned char proof[DLC_AUTH_PROOF_LEN]);

/* 1 when host names this machine's loopback (localhost, 127.0.0.0/8, ::1). */
int dlc_auth_host_is_loopback(const char *host);

#endif
