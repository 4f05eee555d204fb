/* fuzz_handshake_client.c - the client's side of the handshake
 * (answer_challenge, then deliver_challenge) against arbitrary listener
 * bytes; plus the response builder on its own. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char out[MPX__AUTH_MAXMSG];
    size_t n;
    int strict = size && (data[size - 1] & 1);
    if (mpx__auth_make_response("key", 3, data, size, strict, out, sizeof out, &n) == 0 &&
        n > sizeof out)
        abort();

    int peer;
    mpx_connection *c = fuzz_feed(data, size, &peer);
    if (!c)
        return 0;
    mpx__deadline d = mpx__deadline_from(1000);
    int rc = mpx__answer_challenge(c, "key", 3, strict, d);
    if (rc == 0)
        (void)mpx__deliver_challenge(c, "key", 3, strict, d);
    mpx_connection_destroy(c);
    close(peer);
    return 0;
}
