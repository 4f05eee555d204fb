/*
 * ex31_wait.c - EX-31: wait() over the readers of four simplex pipes.
 *
 * Python:
 *     def foo(w):
 *         for i in range(10):
 *             w.send((i, current_process().name))
 *         w.close()
 *     readers = []
 *     for i in range(4):
 *         r, w = Pipe(duplex=False)
 *         readers.append(r)
 *         p = Process(target=foo, args=(w,)); p.start()
 *         w.close()    # so EOF arrives when p closes its end
 *     while readers:
 *         for r in wait(readers):
 *             try: msg = r.recv()
 *             except EOFError: readers.remove(r)
 *             else: print(msg)
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>

static int foo(const mpx_args *a)
{
    mpx_connection *w = mpx_args_object(a, 0);
    const char *name = mpx_process_name(mpx_current_process());
    for (int i = 0; i < 10; i++) {
        char msg[128];
        int n = snprintf(msg, sizeof msg, "(%d, '%s')", i, name);
        int rc = mpx_connection_send_bytes(w, msg, (size_t)n);
        if (rc)
            return rc;
    }
    mpx_connection_close(w);
    return 0;
}

int main(void)
{
    mpx_connection *readers[4], *writers[4];
    mpx_process *procs[4];
    void *live[4];
    size_t nlive = 0;
    int rc;

    for (int i = 0; i < 4; i++) {
        mpx_args *args;
        if ((rc = mpx_pipe(&readers[i], &writers[i], 0)) != 0 ||
            (rc = mpx_args_create(&args)) != 0 ||
            (rc = mpx_args_add_object(args, writers[i])) != 0 ||
            (rc = mpx_process_create(&procs[i], foo, args, NULL)) != 0 ||
            (rc = mpx_process_start(procs[i])) != 0) {
            fprintf(stderr, "ex31: %s\n", mpx_strerror(rc));
            return 1;
        }
        mpx_args_destroy(args);
        mpx_connection_close(writers[i]);
        live[nlive++] = readers[i];
    }

    int total = 0;
    while (nlive) {
        void *ready[4];
        int k = mpx_wait_objects(live, nlive, MPX_FOREVER, ready);
        if (k < 0) {
            fprintf(stderr, "ex31: wait: %s\n", mpx_strerror(k));
            return 1;
        }
        for (int i = 0; i < k; i++) {
            void *msg;
            size_t len;
            rc = mpx_connection_recv_bytes(ready[i], &msg, &len);
            if (rc == MPX_EEOF) {
                for (size_t j = 0; j < nlive; j++)
                    if (live[j] == ready[i]) {
                        memmove(&live[j], &live[j + 1], (nlive - j - 1) * sizeof live[0]);
                        nlive--;
                        break;
                    }
            } else if (rc == 0) {
                printf("%.*s\n", (int)len, (const char *)msg);
                mpx_free(msg);
                total++;
            } else {
                fprintf(stderr, "ex31: recv: %s\n", mpx_strerror(rc));
                return 1;
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        mpx_process_join(procs[i], MPX_FOREVER);
        mpx_process_destroy(procs[i]);
        mpx_connection_destroy(readers[i]);
        mpx_connection_destroy(writers[i]);
    }
    return total == 40 ? 0 : 1;
}
