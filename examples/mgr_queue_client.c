/*
 * mgr_queue_client.c - EX-22, MGR-21: a client of the distributed queue
 * served by mgr_queue_server (or by CPython's QueueManager server).
 *
 * Python:
 *     from multiprocessing.managers import BaseManager
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue')
 *     m = QueueManager(address=('foo.bar.org', 50000), authkey=b'abracadabra')
 *     m.connect()
 *     queue = m.get_queue()
 *     queue.put('hello')        # one client
 *     queue.get()               # another client: 'hello'
 *
 * Usage: mgr_queue_client ADDRESS put TEXT...
 *        mgr_queue_client ADDRESS get [N]     (prints N items, default 1)
 */
#include <mpx.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(expr)                                                                  \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        if (rc_ != 0) {                                                            \
            fprintf(stderr, "mgr_queue_client: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                              \
        }                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[2], "put") != 0 && strcmp(argv[2], "get") != 0)) {
        fprintf(stderr, "usage: %s ADDRESS put TEXT... | get [N]\n", argv[0]);
        return 2;
    }
    const char *authkey = "abracadabra";
    mpx_manager_registry *QueueManager;
    TRY(mpx_manager_registry_create(&QueueManager, "QueueManager", NULL));
    TRY(mpx_manager_register(QueueManager, "get_queue", NULL)); /* no callable: connect only */
    mpx_manager *m;
    TRY(mpx_manager_create(&m, QueueManager,
                           &(mpx_manager_opts){.address = argv[1],
                                               .authkey = authkey,
                                               .authkey_len = strlen(authkey)}));
    TRY(mpx_manager_connect(m));
    mpx_proxy *queue;
    TRY(mpx_manager_make(m, "get_queue", NULL, NULL, &queue));
    if (strcmp(argv[2], "put") == 0) {
        for (int i = 3; i < argc; i++) {
            mpx_obj *v = mpx_obj_str(argv[i]);
            TRY(mpx_proxy_queue_put(queue, v, MPX_FOREVER));
            mpx_obj_decref(v);
            printf("put %s\n", argv[i]);
        }
    } else {
        int n = argc > 3 ? atoi(argv[3]) : 1;
        for (int i = 0; i < n; i++) {
            mpx_obj *v;
            TRY(mpx_proxy_queue_get(queue, &v, 30000));
            char *s = mpx_obj_repr(v);
            printf("got %s\n", s);
            mpx_free(s);
            mpx_obj_decref(v);
        }
    }
    mpx_proxy_destroy(queue);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(QueueManager);
    return 0;
}
