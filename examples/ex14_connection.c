/*
 * ex14_connection.c - EX-14: the Connection API (send/recv, send_bytes,
 * recv_bytes, recv_bytes_into with an array).
 *
 * Python:
 *     a, b = Pipe()      # prints:
 *     a.send([1, 'hello', None]);  b.recv()      -> [1, 'hello', None]
 *     b.send_bytes(b'thank you');  a.recv_bytes() -> b'thank you'
 *     arr1 = array.array('i', range(5)); arr2 = array.array('i', [0] * 10)
 *     a.send_bytes(arr1); count = b.recv_bytes_into(arr2)
 *     assert count == len(arr1) * arr1.itemsize
 *     arr2 -> array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>

#define TRY(expr)                                                          \
    do {                                                                   \
        int rc_ = (expr);                                                  \
        if (rc_ != 0) {                                                    \
            fprintf(stderr, "ex14: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                      \
        }                                                                  \
    } while (0)

int main(void)
{
    mpx_connection *a, *b;
    void *msg;
    size_t len, count;

    TRY(mpx_pipe(&a, &b, 1));

    mpx_obj *obj = mpx_obj_build("[isO]", 1, "hello", mpx_obj_none()), *got;
    TRY(mpx_connection_send_obj(a, obj));
    TRY(mpx_connection_recv_obj(b, &got, NULL, NULL));
    mpx_obj_print(got); /* [1, 'hello', None] */
    mpx_obj_decref(got);
    mpx_obj_decref(obj);

    TRY(mpx_connection_send_bytes(b, "thank you", 9));
    TRY(mpx_connection_recv_bytes(a, &msg, &len));
    mpx_obj *bytes = mpx_obj_bytes_take(msg, len); /* to print it as Python does */
    mpx_obj_print(bytes);                           /* b'thank you' */
    mpx_obj_decref(bytes);

    int arr1[5] = {0, 1, 2, 3, 4};
    int arr2[10] = {0};
    TRY(mpx_connection_send_bytes(a, arr1, sizeof arr1));
    TRY(mpx_connection_recv_bytes_into(b, arr2, sizeof arr2, 0, &count));
    if (count != 5 * sizeof(int)) {
        fprintf(stderr, "ex14: count %zu\n", count);
        return 1;
    }
    printf("%zu\n", count);
    printf("array('i', [");
    for (int i = 0; i < 10; i++)
        printf("%s%d", i ? ", " : "", arr2[i]);
    printf("])\n");

    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
    return 0;
}
