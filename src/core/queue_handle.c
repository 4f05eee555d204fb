/*
 * queue_handle.c - a queue's handles (include/mpx/queue.h): creation of
 * the shared mapping and its eventfd, the handle's per-process settings
 * (spin, yields, spill delay), freeing, and the object type that carries
 * a queue to children (export, import, drop) and to mpx_wait (wait_fd,
 * ready). Runs in the caller's thread; queue.c has the put/get protocol,
 * recovery and the public calls, queue_overflow.c the overflow store.
 */
#include "os/anonfd.h"
#include "core/queue_internal.h"
#include "core/tuning.h"

#include <stdlib.h>

#define DEFAULT_RING (4u << 20)
#define MIN_RING 4096u
#define MAX_RING (1u << 30)
#define DEFAULT_YIELDS 64
/*
 * How long a put into a full ring waits for a consumer to make room before
 * it writes into the overflow store instead (queue_overflow.c): a consumer
 * that keeps up keeps the traffic in the ring; a missing or stalled one
 * costs one wait of this length, after which puts go to the store without
 * waiting until the consumers have emptied it. MPX_QUEUE_SPILL_US tunes it.
 * It must outlast the time a consumer that is runnable waits for a CPU on
 * a loaded machine (a few scheduler slices of 3 ms), or a present consumer
 * counts as missing: #18, queue_2p2c_256 (4 processes on 2 CPUs beside
 * other jobs) spilled in most runs with 2 ms, and every put then went to
 * the store, paying its page faults, until the consumers had emptied it
 * (0.3-2 M msgs/s against 4-12 M without spilling; docs/queue.md).
 */
#define DEFAULT_SPILL_US 20000

static mpx__objtype queue_type;

/* ---- creation, handles ----------------------------------------------------------- */

static int spin_default(void)
{
    if (mpx__queue_spin_override >= 0)
        return mpx__queue_spin_override;
    return mpx__spin_default(MPX__SPIN_QUEUE); /* MPX_SPIN, alias MPX_QUEUE_SPIN */
}

static mpx_queue *handle_new(void)
{
    static _Atomic uint64_t uids;
    mpx_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->uid = atomic_fetch_add(&uids, 1) + 1;
    q->efd = -1;
    q->map.fd = -1;
    q->spin = spin_default();
    q->yields = q->spin ? DEFAULT_YIELDS : 0;
    const char *y = getenv("MPX_QUEUE_YIELD");
    if (y && *y && q->spin) {
        long v = strtol(y, NULL, 10);
        if (v >= 0 && v <= 100000)
            q->yields = (int)v;
    }
    q->spill_ns = DEFAULT_SPILL_US * 1000LL;
    const char *sp = getenv("MPX_QUEUE_SPILL_US");
    if (sp && *sp) {
        long long v = strtoll(sp, NULL, 10);
        if (v >= 0 && v <= 60000000)
            q->spill_ns = v * 1000;
    }
    return q;
}

static void handle_setup(mpx_queue *q, mpx_context *ctx)
{
    q->sh = q->map.addr;
    q->ring = (unsigned char *)q->map.addr + sizeof(qshared);
    q->size = q->sh->ring_size;
    q->mask = q->size - 1;
    q->osize = q->sh->ovf_size;
    q->omask = q->osize ? q->osize - 1 : 0;
    q->owin = q->osize ? mpx__qo_window(q->osize) : 0;
    mpx__obj_init(&q->hdr, &queue_type, ctx);
    q->qmagic = Q_MAGIC;
}

void mpx__queue_handle_free(mpx_queue *q)
{
    if (q->sh && q->interest_pid == mpx__self_pid && q->interest_pid)
        atomic_fetch_sub(&q->sh->interest, 1);
    q->qmagic = 0;
    q->hdr.magic = 0;
    if (q->osize)
        mpx__qo_unmap(q);
    mpx__shmap_destroy(&q->map);
    mpx__close(q->efd);
    free(q);
}

int mpx__queue_create(mpx_queue **out, int64_t maxsize, const mpx_queue_opts *opts, uint32_t kind)
{
    if (!out)
        return MPX_EINVAL;
    *out = NULL;
    size_t want = opts && opts->ring_bytes ? opts->ring_bytes : DEFAULT_RING;
    if (want > MAX_RING)
        return MPX_EINVAL;
    uint64_t size = MIN_RING;
    while (size < want)
        size <<= 1;
    uint64_t osize = 0;
    if (mpx__qo_size(opts ? opts->overflow_bytes : 0, &osize))
        return MPX_EINVAL;
    mpx_queue *q = handle_new();
    if (!q)
        return -ENOMEM;
    int rc = mpx__shmap_create(&q->map, "mpx-queue", sizeof(qshared) + size);
    if (rc) {
        free(q);
        return rc;
    }
    q->efd = mpx__eventfd_open();
    if (q->efd < 0) {
        rc = q->efd;
        mpx__queue_handle_free(q);
        return rc;
    }
    qshared *sh = q->map.addr;
    sh->magic = SH_MAGIC;
    sh->version = SH_VERSION;
    sh->kind = kind;
    sh->ring_size = size;
    sh->map_size = q->map.size;
    sh->maxsize = maxsize > 0 ? maxsize : 0;
    sh->ovf_size = osize;
    sh->ovf_off = q->map.size; /* page aligned: the store is mapped there */
    handle_setup(q, opts ? opts->ctx : NULL);
    *out = q;
    return 0;
}

/* ---- object type: export/import/drop, mpx_wait hooks -------------------------------- */

static int q_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_queue *q = mpx__queue_of(obj);
    if (!q)
        return MPX_EINVAL;
    int rc = mpx__buf_put_u32(data, SH_VERSION);
    if (!rc)
        rc = mpx__buf_put_u64(data, q->map.size);
    if (!rc)
        rc = mpx__buf_put_u64(data, q->size);
    if (!rc)
        rc = mpx__fdlist_add(fds, q->map.fd);
    if (!rc)
        rc = mpx__fdlist_add(fds, q->efd);
    return rc;
}

static int q_import(mpx__rd *data, const int *fds, int nfds, void **out)
{
    uint32_t ver = 0;
    uint64_t map_size = 0, ring = 0;
    int rc = mpx__rd_u32(data, &ver);
    if (!rc)
        rc = mpx__rd_u64(data, &map_size);
    if (!rc)
        rc = mpx__rd_u64(data, &ring);
    if (!rc && (nfds != 2 || ver != SH_VERSION || ring < MIN_RING || ring > MAX_RING ||
                (ring & (ring - 1)) || map_size < sizeof(qshared) + ring ||
                map_size > sizeof(qshared) + ring + 65536))
        rc = MPX_EPROTO;
    if (rc) {
        for (int i = 0; i < nfds; i++)
            mpx__close(fds[i]);
        return rc;
    }
    mpx_queue *q = handle_new();
    if (!q) {
        mpx__close(fds[0]);
        mpx__close(fds[1]);
        return -ENOMEM;
    }
    rc = mpx__shmap_attach(&q->map, fds[0], (size_t)map_size);
    if (rc) {
        mpx__close(fds[1]);
        free(q);
        return rc;
    }
    q->efd = fds[1];
    mpx__set_cloexec(q->efd, true);
    qshared *sh = q->map.addr;
    if (sh->magic != SH_MAGIC || sh->version != SH_VERSION || sh->ring_size != ring ||
        (sh->ovf_size && ((sh->ovf_size & (sh->ovf_size - 1)) || sh->ovf_off != map_size))) {
        mpx__queue_handle_free(q);
        return MPX_EPROTO;
    }
    handle_setup(q, NULL);
    q->imported = true;
    *out = q;
    return 0;
}

static void q_drop(void *obj)
{
    mpx_queue *q = mpx__queue_of(obj);
    if (q)
        mpx__queue_handle_free(q);
}

static int q_wait_fd(void *obj)
{
    mpx_queue *q = mpx__queue_of(obj);
    if (!q || mpx__queue_handle_closed(q))
        return -1; /* mpx_wait: MPX_ECLOSED */
    if (q->interest_pid != mpx__self_pid) {
        atomic_fetch_add(&q->sh->interest, 1);
        q->interest_pid = mpx__self_pid;
    }
    atomic_thread_fence(memory_order_seq_cst);
    if (mpx__queue_nonempty_or_closed(q))
        mpx__queue_efd_signal(q);
    return q->efd;
}

static int q_ready(void *obj)
{
    mpx_queue *q = mpx__queue_of(obj);
    if (!q)
        return 1;
    if (mpx__queue_nonempty_or_closed(q))
        return 1;
    mpx__queue_efd_drain(q);
    atomic_thread_fence(memory_order_seq_cst);
    if (mpx__queue_nonempty_or_closed(q)) {
        mpx__queue_efd_signal(q);
        return 1;
    }
    return 0;
}

static mpx__objtype queue_type = {
    .name = "queue",
    .export_ = q_export,
    .import_ = q_import,
    .drop = q_drop,
    .wait_fd = q_wait_fd,
    .ready = q_ready,
};

__attribute__((constructor)) static void queue_register(void)
{
    mpx__objtype_register(&queue_type);
}
