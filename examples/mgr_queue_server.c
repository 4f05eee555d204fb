/*
 * mgr_queue_server.c - EX-18, EX-22, MGR-21: the server half of the
 * distributed queue (the client is mgr_queue_client.c, started separately,
 * on this machine or another; a CPython client works too).
 *
 * Python:
 *     from multiprocessing.managers import BaseManager
 *     from queue import Queue
 *     queue = Queue()
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue', callable=lambda: queue)
 *     m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 *     s = m.get_server()
 *     s.serve_forever()
 *
 * Usage: mgr_queue_server [ADDRESS] [--address-file FILE] [--worker]
 *   ADDRESS        default 127.0.0.1:50000 (":50000" for every interface;
 *                  port 0 picks one)
 *   --address-file write the address there once listening
 *   --worker       also start a local process that puts 'local hello' into
 *                  the queue (the seed's Worker: local processes share it)
 * Ctrl-C or SIGTERM stops it.
 */
#include <mpx.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define TRY(expr)                                                                  \
    do {                                                                           \
        int rc_ = (expr);                                                          \
        if (rc_ != 0) {                                                            \
            fprintf(stderr, "mgr_queue_server: %s: %s\n", #expr, mpx_strerror(rc_)); \
            return 1;                                                              \
        }                                                                          \
    } while (0)

static const char authkey[] = "abracadabra";

/* queue = Queue(); callable=lambda: queue */
static pthread_mutex_t queue_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx_referent *queue;

static int get_queue(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                     mpx_manager_call *call)
{
    pthread_mutex_lock(&queue_mu);
    int rc = queue ? 0 : mpx_referent_builtin(&queue, "Queue", NULL, NULL);
    if (!rc)
        *out = mpx_referent_incref(queue);
    pthread_mutex_unlock(&queue_mu);
    return rc;
}

static mpx_manager_server *server;

static void on_signal(int sig)
{
    mpx_manager_server_stop(server); /* async-signal-safe */
}

/* class Worker(Process): def run(self): self.q.put('local hello') */
static int worker(const mpx_args *a)
{
    mpx_manager_registry *r;
    mpx_manager *m;
    mpx_proxy *q;
    TRY(mpx_manager_registry_create(&r, "QueueManager", NULL));
    TRY(mpx_manager_register(r, "get_queue", NULL));
    TRY(mpx_manager_create(&m, r, &(mpx_manager_opts){.address = mpx_args_str(a, 0),
                                                      .authkey = authkey,
                                                      .authkey_len = strlen(authkey)}));
    TRY(mpx_manager_connect(m));
    TRY(mpx_manager_make(m, "get_queue", NULL, NULL, &q));
    mpx_obj *v = mpx_obj_str("local hello");
    TRY(mpx_proxy_queue_put(q, v, MPX_FOREVER));
    mpx_obj_decref(v);
    mpx_proxy_destroy(q);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(r);
    return 0;
}

int main(int argc, char **argv)
{
    const char *address = "127.0.0.1:50000", *address_file = NULL;
    int with_worker = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--address-file") == 0 && i + 1 < argc)
            address_file = argv[++i];
        else if (strcmp(argv[i], "--worker") == 0)
            with_worker = 1;
        else
            address = argv[i];
    }
    mpx_manager_registry *QueueManager;
    TRY(mpx_manager_registry_create(&QueueManager, "QueueManager", NULL));
    TRY(mpx_manager_register(QueueManager, "get_queue",
                             &(mpx_register_opts){.callable = get_queue}));
    mpx_manager *m;
    TRY(mpx_manager_create(&m, QueueManager,
                           &(mpx_manager_opts){.address = address,
                                               .authkey = authkey,
                                               .authkey_len = strlen(authkey)}));
    TRY(mpx_manager_get_server(m, &server)); /* s = m.get_server() */
    const char *bound = mpx_manager_server_address(server);
    printf("serving the queue at %s\n", bound);
    fflush(stdout);
    if (address_file) {
        FILE *f = fopen(address_file, "w");
        if (!f || fprintf(f, "%s\n", bound) < 0 || fclose(f))
            return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    mpx_process *w = NULL;
    if (with_worker) {
        mpx_args *a;
        TRY(mpx_args_create(&a));
        TRY(mpx_args_add_str(a, bound));
        TRY(mpx_process_create(&w, worker, a, NULL));
        mpx_args_destroy(a);
        TRY(mpx_process_start(w));
    }
    TRY(mpx_manager_server_serve_forever(server)); /* s.serve_forever() */
    printf("server stopped\n");
    if (w) {
        mpx_process_join(w, MPX_FOREVER);
        mpx_process_destroy(w);
    }
    mpx_manager_server_destroy(server);
    mpx_referent_decref(queue);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(QueueManager);
    return 0;
}
