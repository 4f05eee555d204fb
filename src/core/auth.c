/*
 * auth.c - CPython's multiprocessing.connection authentication handshake
 * (LIS-02, LIS-03, AUTH-01..06), wire-compatible with CPython 3.11 (HMAC-MD5
 * over a 20-byte random message, unprefixed) and 3.12+ ("{digest}"-prefixed
 * challenge and responses). See docs/connection.md.
 *
 * HMAC and random bytes come from OpenSSL's libcrypto; digests are compared
 * with CRYPTO_memcmp.
 */
#include "core/conn_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

static const char CHALLENGE[] = "#CHALLENGE#";
static const char WELCOME[] = "#WELCOME#";
static const char FAILURE[] = "#FAILURE#";
#define CHALLENGE_LEN (sizeof CHALLENGE - 1)
#define WELCOME_LEN (sizeof WELCOME - 1)
#define FAILURE_LEN (sizeof FAILURE - 1)
#define MAX_DIGEST_NAME 8 /* len("sha3_384") */

/* Python's _ALLOWED_DIGESTS, with OpenSSL's names. */
static const struct {
    const char *py;
    const char *ossl;
} digests[] = {
    {"md5", "MD5"},           {"sha256", "SHA256"},     {"sha384", "SHA384"},
    {"sha3_256", "SHA3-256"}, {"sha3_384", "SHA3-384"},
};

static const char *ossl_name(const unsigned char *name, size_t len)
{
    for (size_t i = 0; i < MPX__ARRAY_LEN(digests); i++)
        if (strlen(digests[i].py) == len && memcmp(digests[i].py, name, len) == 0)
            return digests[i].ossl;
    return NULL;
}

/* HMAC-<digest>(key, msg) into out (>= EVP_MAX_MD_SIZE). */
static int hmac(const char *digest, const void *key, size_t keylen, const unsigned char *msg,
                size_t msglen, unsigned char *out, size_t *outlen)
{
    static const unsigned char empty[1];
    size_t n = 0;
    unsigned char *r = EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, keylen ? key : empty, keylen,
                                 msglen ? msg : empty, msglen, out, EVP_MAX_MD_SIZE, &n);
    if (!r)
        return MPX_EAUTH; /* digest unavailable (e.g. MD5 under FIPS) */
    *outlen = n;
    return 0;
}

/*
 * Python's _get_digest_name_and_payload: a message of 16 or 20 bytes is
 * the legacy form (name NULL: HMAC-MD5, no prefix); otherwise it must start
 * with "{name}" where name is an allowed digest.
 */
static int split_digest(const unsigned char *m, size_t n, const char **name, size_t *plen_off)
{
    if (n == MPX__AUTH_LEGACY_MSGLEN || n == MPX__AUTH_MD5LEN) {
        *name = NULL;
        *plen_off = 0;
        return 0;
    }
    if (n < 2 || m[0] != '{')
        return MPX_EAUTH;
    size_t lim = n < MAX_DIGEST_NAME + 2 ? n : MAX_DIGEST_NAME + 2;
    for (size_t i = 1; i < lim; i++) {
        if (m[i] == '}') {
            const char *o = i > 1 ? ossl_name(m + 1, i - 1) : NULL;
            if (!o)
                return MPX_EAUTH;
            *name = o;
            *plen_off = i + 1;
            return 0;
        }
    }
    return MPX_EAUTH;
}

int mpx__auth_make_challenge(unsigned char *out, size_t cap, size_t *len)
{
    static const char prefix[] = "{sha256}";
    size_t n = CHALLENGE_LEN + sizeof prefix - 1 + MPX__AUTH_MSGLEN;
    if (cap < n)
        return MPX_EINVAL;
    memcpy(out, CHALLENGE, CHALLENGE_LEN);
    memcpy(out + CHALLENGE_LEN, prefix, sizeof prefix - 1);
    if (RAND_bytes(out + CHALLENGE_LEN + sizeof prefix - 1, MPX__AUTH_MSGLEN) != 1)
        return -EIO;
    *len = n;
    return 0;
}

int mpx__auth_make_response(const void *key, size_t keylen, const unsigned char *msg,
                            size_t msglen, int strict, unsigned char *out, size_t cap,
                            size_t *outlen)
{
    if (msglen < CHALLENGE_LEN || memcmp(msg, CHALLENGE, CHALLENGE_LEN) != 0)
        return MPX_EAUTH;
    msg += CHALLENGE_LEN;
    msglen -= CHALLENGE_LEN;
    if (msglen < MPX__AUTH_LEGACY_MSGLEN)
        return MPX_EAUTH; /* "challenge too short" */
    const char *name;
    size_t off;
    if (split_digest(msg, msglen, &name, &off))
        return MPX_EAUTH;
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen;
    if (!name && !strict) {
        /* Legacy server (CPython <= 3.11): raw HMAC-MD5, no prefix. */
        if (hmac("MD5", key, keylen, msg, msglen, mac, &maclen) == 0) {
            if (cap < maclen)
                return MPX_EINVAL;
            memcpy(out, mac, maclen);
            *outlen = maclen;
            return 0;
        }
    }
    const char *pyname = "sha256";
    if (!name)
        name = "SHA256"; /* strict (or no MD5): answer in the modern form */
    else if (strict && strcmp(name, "MD5") == 0)
        return MPX_EAUTH;
    for (size_t i = 0; i < MPX__ARRAY_LEN(digests); i++)
        if (strcmp(digests[i].ossl, name) == 0)
            pyname = digests[i].py;
    /* The MAC covers the whole message, "{digest}" prefix included. */
    int rc = hmac(name, key, keylen, msg, msglen, mac, &maclen);
    if (rc)
        return rc;
    size_t pl = strlen(pyname);
    if (cap < pl + 2 + maclen)
        return MPX_EINVAL;
    out[0] = '{';
    memcpy(out + 1, pyname, pl);
    out[pl + 1] = '}';
    memcpy(out + pl + 2, mac, maclen);
    *outlen = pl + 2 + maclen;
    return 0;
}

int mpx__auth_verify(const void *key, size_t keylen, const unsigned char *challenge,
                     size_t challenge_len, const unsigned char *resp, size_t resplen,
                     int strict)
{
    const char *name;
    size_t off;
    if (split_digest(resp, resplen, &name, &off))
        return MPX_EAUTH;
    if (!name)
        name = "MD5";
    if (strict && strcmp(name, "MD5") == 0)
        return MPX_EAUTH;
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen;
    if (hmac(name, key, keylen, challenge, challenge_len, mac, &maclen))
        return MPX_EAUTH;
    if (resplen - off != maclen || CRYPTO_memcmp(mac, resp + off, maclen) != 0)
        return MPX_EAUTH;
    return 0;
}

/* Receive one handshake message (at most 256 bytes: Python's
 * recv_bytes(256)); anything malformed or oversized is an authentication
 * failure. */
static int recv_hs(mpx_connection *c, unsigned char *buf, size_t *len, mpx__deadline d)
{
    int rc = mpx__conn_recv_small(c, buf, MPX__AUTH_MAXMSG, len, d);
    if (rc == MPX_ETOOBIG || rc == MPX_EPROTO || rc == MPX_EEOF || rc == MPX_EBROKEN ||
        rc == -ECONNRESET || rc == -EPIPE)
        return MPX_EAUTH;
    return rc;
}

static int send_hs(mpx_connection *c, const void *p, size_t n, mpx__deadline d)
{
    int rc = mpx__conn_send(c, p, n, d);
    if (rc == -EPIPE || rc == -ECONNRESET)
        return MPX_EAUTH;
    return rc;
}

int mpx__deliver_challenge(mpx_connection *c, const void *key, size_t keylen, int strict,
                           mpx__deadline d)
{
    unsigned char msg[128], resp[MPX__AUTH_MAXMSG];
    size_t mlen, rlen;
    int rc = mpx__auth_make_challenge(msg, sizeof msg, &mlen);
    if (!rc)
        rc = send_hs(c, msg, mlen, d);
    if (!rc)
        rc = recv_hs(c, resp, &rlen, d);
    if (rc)
        return rc;
    rc = mpx__auth_verify(key, keylen, msg + CHALLENGE_LEN, mlen - CHALLENGE_LEN, resp, rlen,
                          strict);
    if (rc) {
        send_hs(c, FAILURE, FAILURE_LEN, d);
        MPX__DEBUG("authentication: digest received was wrong");
        return MPX_EAUTH;
    }
    return send_hs(c, WELCOME, WELCOME_LEN, d);
}

int mpx__answer_challenge(mpx_connection *c, const void *key, size_t keylen, int strict,
                          mpx__deadline d)
{
    unsigned char msg[MPX__AUTH_MAXMSG], resp[MPX__AUTH_MAXMSG];
    size_t mlen, rlen;
    int rc = recv_hs(c, msg, &mlen, d);
    if (rc)
        return rc;
    rc = mpx__auth_make_response(key, keylen, msg, mlen, strict, resp, sizeof resp, &rlen);
    if (rc) {
        MPX__DEBUG("authentication: unsupported challenge");
        return MPX_EAUTH;
    }
    rc = send_hs(c, resp, rlen, d);
    if (!rc)
        rc = recv_hs(c, msg, &mlen, d);
    if (rc)
        return rc;
    if (mlen != WELCOME_LEN || memcmp(msg, WELCOME, WELCOME_LEN) != 0) {
        MPX__DEBUG("authentication: digest sent was rejected");
        return MPX_EAUTH;
    }
    return 0;
}

static int hs_check(mpx_connection *c, const void *key, size_t keylen)
{
    if (!c || c->magic != MPX__CONN_MAGIC || (!key && keylen))
        return MPX_EINVAL;
    if (c->closed)
        return MPX_ECLOSED;
    if (!c->readable || !c->writable)
        return MPX_ESTATE;
    return 0;
}

MPX_API int mpx_deliver_challenge(mpx_connection *c, const void *authkey, size_t authkey_len,
                                  int strict, mpx_duration timeout)
{
    int rc = hs_check(c, authkey, authkey_len);
    return rc ? rc
              : mpx__deliver_challenge(c, authkey, authkey_len, strict,
                                       mpx__deadline_from(timeout));
}

MPX_API int mpx_answer_challenge(mpx_connection *c, const void *authkey, size_t authkey_len,
                                 int strict, mpx_duration timeout)
{
    int rc = hs_check(c, authkey, authkey_len);
    return rc ? rc
              : mpx__answer_challenge(c, authkey, authkey_len, strict,
                                      mpx__deadline_from(timeout));
}
