/* fuzz_mgr_request.c - the manager's request decoder and dispatcher
 * (#16): any bytes an authenticated client may send, as the first message
 * of a connection (control requests) and on a method-call channel (calls
 * on a dict, a list, a queue, a Namespace, a lock, an iterator that
 * exist). Every input must get a well-formed reply (kind, value) or a
 * clean error; nothing may crash, leak or block (waits end at once: the
 * fake client's socket is closed). The table is reset after each input. */
#include "fuzz_common.h"
#include "core/mgr_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mpx_manager_server *srv;
static int dead_fd = -1;

static void fixtures(void)
{
    static const char *const types[] = {"dict", "list", "Queue", "Namespace", "Lock",
                                        "RLock", "Event", "Value", "Array", "Barrier"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        /* ask for them as a client would: create requests */
        mpx_obj *args;
        if (strcmp(types[i], "Value") == 0)
            args = mpx_obj_build("(ssi)", types[i], "i", 1);
        else if (strcmp(types[i], "Array") == 0)
            args = mpx_obj_build("(ss[ii])", types[i], "i", 1, 2);
        else if (strcmp(types[i], "Barrier") == 0)
            args = mpx_obj_build("(si)", types[i], 2);
        else
            args = mpx_obj_build("(s)", types[i]);
        mpx_obj *req = mpx_obj_build("(OsN{})", mpx_obj_none(), "create", args);
        void *buf, *out;
        size_t len, olen;
        if (!req || mpx_obj_dumps(req, 4, &buf, &len, NULL, NULL))
            abort();
        if (mpx__mgr_server_handle_bytes(srv, false, dead_fd, NULL, buf, len, &out, &olen))
            abort();
        mpx_free(out);
        mpx_free(buf);
        mpx_obj_decref(req);
    }
}

static void check_reply(const void *out, size_t olen)
{
    mpx_obj *r;
    if (mpx_obj_loads(&r, out, olen, NULL, NULL))
        abort(); /* a reply always decodes */
    if (mpx_obj_typeof(r) != MPX_OBJ_TUPLE || mpx_obj_len(r) != 2 ||
        !mpx_obj_str_value(mpx_obj_item(r, 0)))
        abort();
    mpx_obj_decref(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
            abort();
        close(sv[1]);
        dead_fd = sv[0];
        /* SyncManager's types, but Pool without its callable: a pool
         * would start worker processes for every input that creates one */
        mpx_manager_registry *reg;
        mpx_register_opts po = {0};
        po.proxytype = "PoolProxy";
        if (mpx_manager_registry_create(&reg, "SyncManager", mpx_manager_sync_registry()) ||
            mpx_manager_register(reg, "Pool", &po))
            abort();
        if (mpx__mgr_server_new(&srv, reg, "@mpx-fuzz-mgr", 0, "k", 1, -1))
            abort();
        mpx_manager_registry_destroy(reg); /* the server keeps its own reference */
        mpx__mgr_reset_serial();
        fixtures();
    }
    uint8_t buf[FUZZ_MAX_INPUT];
    if (size > sizeof buf)
        return 0;
    memcpy(buf, data, size);
    for (int channel = 0; channel < 2; channel++) {
        void *out = NULL;
        size_t olen = 0;
        int rc = mpx__mgr_server_handle_bytes(srv, channel, dead_fd, NULL, buf, size, &out,
                                              &olen);
        if (rc == 0)
            check_reply(out, olen);
        else if (rc != -ENOMEM && rc != MPX_ETOOBIG && rc != MPX_EDEPTH)
            abort();
        mpx_free(out);
    }
    /* start the next input from the same table */
    pthread_mutex_lock(&srv->mu);
    mpx__mgr_table_clear(srv);
    pthread_mutex_unlock(&srv->mu);
    mpx__mgr_reset_serial(); /* the fixtures are 7f0000000001 .. 7f000000000a again */
    fixtures();
    return 0;
}
