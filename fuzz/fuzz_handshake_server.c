/* fuzz_handshake_server.c - the listener's side of the handshake
 * (deliver_challenge, then answer_challenge) against arbitrary client
 * bytes; plus the response verifier on its own. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char challenge[] = "{sha256}0123456789012345678901234567890123456789";
    int strict = size && (data[0] & 1);
    (void)mpx__auth_verify("key", 3, challenge, sizeof challenge - 1, data, size, strict);
    (void)mpx__auth_verify("", 0, data, size, data, size, 0);

    int peer;
    mpx_connection *c = fuzz_feed(data, size, &peer);
    if (!c)
        return 0;
    mpx__deadline d = mpx__deadline_from(1000);
    int rc = mpx__deliver_challenge(c, "key", 3, strict, d);
    if (rc == 0)
        abort(); /* nobody can answer a fresh random challenge from fixed bytes */
    (void)mpx__answer_challenge(c, "key", 3, strict, d);
    mpx_connection_destroy(c);
    close(peer);
    return 0;
}
