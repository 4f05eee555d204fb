/*
 * pool_submit.c - the submission calls: apply, map, starmap, imap (ordered,
 * unordered, over a generator) and the fixed-size fast path (map_fixed).
 * Each checks its arguments, builds a job (pool_job.c), registers it with
 * the pool (submit: the function table entry, the job list) and wakes the
 * handler; the blocking forms then wait on the result (pool_result.c).
 *
 * Threads: any caller thread of the process that created the pool
 * (POOL-06), concurrently; a submission takes p->mu briefly. The input
 * (items, arrays, generators) belongs to the handler once submitted.
 */
#include "core/pool_parent.h"
#include "core/args.h"

#include <string.h>
#include <unistd.h>

/* The per-call task timeout (mpx_call_opts.timeout): 0 the pool's,
 * MPX_FOREVER none, N > 0 ms; negative is MPX_EINVAL (no task runs in
 * zero time). */
static int call_timeout(mpx_pool *p, mpx_duration t, int64_t *ns)
{
    if (t == 0) {
        *ns = p->task_timeout_ns;
        return 0;
    }
    if (t < 0)
        return MPX_EINVAL;
    *ns = task_timeout_ns(t);
    if (*ns && p->threads)
        return MPX_ENOTSUP;
    return 0;
}

/* Register the job with the pool and wake the handler. On failure the
 * job is freed. */
static int submit(mpx_pool *p, mpx_result *j, mpx__fnptr fn)
{
    int rc = call_timeout(p, j->o.timeout, &j->timeout_ns);
    if (rc) {
        mpx__pool_job_free(j);
        return rc;
    }
    if (j->total != SIZE_MAX && j->type != J_FIXED) {
        size_t cap = j->type == J_IMAP || j->type == J_IMAPU ? j->cap : j->total;
        j->cap = cap ? cap : 1;
    }
    if (!j->win) {
        int wrc = mpx__pool_win_alloc(j, j->cap ? j->cap : 1);
        if (!wrc && j->type == J_IMAPU)
            j->uq = calloc(j->cap ? j->cap : 1, sizeof *j->uq);
        if (wrc || (j->type == J_IMAPU && !j->uq)) {
            mpx__pool_job_free(j);
            return -ENOMEM;
        }
        if (j->type == J_IMAP || j->type == J_IMAPU)
            for (size_t i = 0; i < j->cap; i++)
                j->win[i].st = IR_USED;
    }
    pthread_mutex_lock(&p->mu);
    if (p->state != P_RUN || p->handler_exited) {
        pthread_mutex_unlock(&p->mu);
        mpx__pool_job_free(j);
        return MPX_ESTATE; /* POOL-17: Pool not running */
    }
    if (p->broken) {
        pthread_mutex_unlock(&p->mu);
        mpx__pool_job_free(j);
        return MPX_EBROKEN;
    }
    int idx = mpx__pool_fn_acquire(p, fn);
    if (idx < 0) {
        pthread_mutex_unlock(&p->mu);
        mpx__pool_job_free(j);
        return idx;
    }
    j->fn_idx = idx;
    j->pool = p;
    if (j->src != S_GEN && j->total == 0) {
        /* nothing to do: ready at once (Python returns []) */
        j->input_done = true;
        j->ready = true;
        j->announced = true;
        mpx__pool_fn_release(p, idx);
        j->refs = 1;
        j->pool = NULL;
        pthread_mutex_unlock(&p->mu);
        if (j->o.callback && (j->type == J_MAP))
            j->o.callback(j, j->o.udata);
        return 0;
    }
    p->outstanding++;
    j->in_list = true;
    if (p->jobs_tail)
        p->jobs_tail->next = j;
    else
        p->jobs = j;
    p->jobs_tail = j;
    pthread_mutex_unlock(&p->mu);
    wake_handler(p);
    return 0;
}

static size_t default_chunksize(mpx_pool *p, size_t n)
{
    size_t d = (size_t)p->n * 4;
    size_t c = n / d + (n % d ? 1 : 0);
    return c ? c : 1;
}

static int check_pool(mpx_pool *p)
{
    if (!p || p->magic != POOL_OBJ_MAGIC)
        return MPX_EINVAL;
    /* mpx__self_pid: refreshed by the library's atfork child handler
     * (getpid() is a system call per submission) */
    if (p->creator != mpx__self_pid)
        return MPX_ESTATE; /* POOL-06 */
    return 0;
}

MPX_API int mpx_pool_apply_async(mpx_pool *p, mpx_task_fn fn, const void *in, size_t len,
                                 const mpx_call_opts *opts, mpx_result **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (!in && len))
        return MPX_EINVAL;
    mpx_result *j = mpx__pool_job_new_apply(opts, len);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_BYTES;
    j->src = S_ENC;
    j->enc = &j->enc1;
    void *copy = len <= JOB_APPLY_INL ? j->inl : malloc(len);
    if (!copy) {
        mpx__pool_job_free(j);
        return -ENOMEM;
    }
    if (len)
        memcpy(copy, in, len);
    j->enc[0] = (mpx_bytes){copy, len};
    j->nenc = 1;
    j->total = 1;
    j->cap = 1;
    j->win = &j->win1;
    j->chunksize = 1;
    rc = submit(p, j, (mpx__fnptr)fn);
    if (!rc)
        *out = j;
    return rc;
}

MPX_API int mpx_pool_apply(mpx_pool *p, mpx_task_fn fn, const void *in, size_t len,
                           const mpx_call_opts *opts, mpx_result **out)
{
    int rc = mpx_pool_apply_async(p, fn, in, len, opts, out);
    if (rc)
        return rc;
    return mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

static int map_common(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, const void *base,
                      size_t size, size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (n && !items && !base))
        return MPX_EINVAL;
    mpx_result *j = mpx__pool_job_new(J_MAP, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_BYTES;
    j->src = items ? S_ITEMS : S_ARRAY;
    j->items = items;
    j->base = base;
    j->size = size;
    j->total = n;
    j->chunksize = opts && opts->chunksize ? opts->chunksize : default_chunksize(p, n);
    rc = submit(p, j, (mpx__fnptr)fn);
    if (!rc)
        *out = j;
    return rc;
}

MPX_API int mpx_pool_map_async(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                               const mpx_call_opts *opts, mpx_result **out)
{
    return map_common(p, fn, items, NULL, 0, n, opts, out);
}

MPX_API int mpx_pool_map(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                         const mpx_call_opts *opts, mpx_result **out)
{
    int rc = map_common(p, fn, items, NULL, 0, n, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

MPX_API int mpx_pool_map_array(mpx_pool *p, mpx_task_fn fn, const void *base, size_t size,
                               size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    if (!base && n)
        return MPX_EINVAL;
    int rc = map_common(p, fn, NULL, base ? base : "", size, n, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

/* Serialise bound_before ++ a ++ bound_after (values only). */
static int encode_star(const mpx_call_opts *o, const mpx_args *a, mpx_bytes *out)
{
    const mpx_args *parts[3] = {o ? o->bound_before : NULL, a, o ? o->bound_after : NULL};
    mpx__buf b;
    mpx__buf_init(&b);
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += parts[i] ? mpx_args_count(parts[i]) : 0;
    int rc = mpx__buf_put_u32(&b, (uint32_t)total);
    for (int i = 0; i < 3 && !rc; i++) {
        if (!parts[i])
            continue;
        for (size_t k = 0; k < mpx_args_count(parts[i]); k++) {
            int t = mpx_args_type(parts[i], k);
            if (t == MPX_ARG_FD || t == MPX_ARG_OBJECT)
                rc = MPX_ENOTSUP;
        }
        if (rc)
            break;
        mpx__buf part;
        mpx__buf_init(&part);
        mpx__fdlist fds;
        fds.n = 0;
        rc = mpx__args_export(parts[i], NULL, &part, &fds);
        if (!rc && part.len >= 4)
            rc = mpx__buf_append(&b, part.data + 4, part.len - 4);
        mpx__buf_free(&part);
    }
    if (rc) {
        mpx__buf_free(&b);
        return rc;
    }
    out->data = b.data;
    out->len = b.len;
    return 0;
}

static int star_common(mpx_pool *p, int type, mpx_star_fn fn, const mpx_args *const *items,
                       size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (n && !items))
        return MPX_EINVAL;
    mpx_result *j = mpx__pool_job_new(type, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_STAR;
    j->src = S_ENC;
    j->enc = calloc(n ? n : 1, sizeof *j->enc);
    if (!j->enc) {
        mpx__pool_job_free(j);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        rc = encode_star(opts, items[i], &j->enc[i]);
        if (rc) {
            j->nenc = i;
            mpx__pool_job_free(j);
            return rc;
        }
        j->nenc = i + 1;
    }
    j->total = n;
    j->chunksize = type == J_APPLY                ? 1
                   : opts && opts->chunksize ? opts->chunksize
                                             : default_chunksize(p, n);
    rc = submit(p, j, (mpx__fnptr)fn);
    if (!rc)
        *out = j;
    return rc;
}

MPX_API int mpx_pool_starmap_async(mpx_pool *p, mpx_star_fn fn, const mpx_args *const *items,
                                   size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    return star_common(p, J_MAP, fn, items, n, opts, out);
}

MPX_API int mpx_pool_starmap(mpx_pool *p, mpx_star_fn fn, const mpx_args *const *items,
                             size_t n, const mpx_call_opts *opts, mpx_result **out)
{
    int rc = star_common(p, J_MAP, fn, items, n, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

MPX_API int mpx_pool_apply_star_async(mpx_pool *p, mpx_star_fn fn, const mpx_args *args,
                                      const mpx_call_opts *opts, mpx_result **out)
{
    const mpx_args *one[1] = {args};
    return star_common(p, J_APPLY, fn, one, 1, opts, out);
}

MPX_API int mpx_pool_apply_star(mpx_pool *p, mpx_star_fn fn, const mpx_args *args,
                                const mpx_call_opts *opts, mpx_result **out)
{
    int rc = mpx_pool_apply_star_async(p, fn, args, opts, out);
    return rc ? rc : mpx_result_get(*out, MPX_FOREVER, NULL, NULL);
}

static int imap_common(mpx_pool *p, int type, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                       mpx_gen_fn gen, void *state, const mpx_call_opts *opts, mpx_imap **out)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || !out || (!gen && n && !items))
        return MPX_EINVAL;
    mpx_imap *it = calloc(1, sizeof *it);
    mpx_result *j = it ? mpx__pool_job_new(type, opts) : NULL;
    if (!j) {
        free(it);
        return -ENOMEM;
    }
    j->kind = PX_K_BYTES;
    if (gen) {
        j->src = S_GEN;
        j->gen = gen;
        j->gstate = state;
        j->total = SIZE_MAX;
    } else {
        j->src = S_ITEMS;
        j->items = items;
        j->total = n;
    }
    j->chunksize = opts && opts->chunksize ? opts->chunksize : 1;
    size_t la = opts && opts->lookahead ? opts->lookahead : (size_t)p->n * 4 * j->chunksize + 1024;
    if (!gen && la > n)
        la = n ? n : 1;
    j->cap = la;
    j->total = gen ? SIZE_MAX : n;
    rc = submit(p, j, (mpx__fnptr)fn);
    if (rc) {
        free(it);
        return rc;
    }
    it->magic = IMAP_MAGIC;
    it->j = j;
    *out = it;
    return 0;
}

MPX_API int mpx_pool_imap(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items, size_t n,
                          const mpx_call_opts *opts, mpx_imap **out)
{
    return imap_common(p, J_IMAP, fn, items, n, NULL, NULL, opts, out);
}

MPX_API int mpx_pool_imap_unordered(mpx_pool *p, mpx_task_fn fn, const mpx_bytes *items,
                                    size_t n, const mpx_call_opts *opts, mpx_imap **out)
{
    return imap_common(p, J_IMAPU, fn, items, n, NULL, NULL, opts, out);
}

MPX_API int mpx_pool_imap_gen(mpx_pool *p, mpx_task_fn fn, mpx_gen_fn gen, void *state,
                              const mpx_call_opts *opts, mpx_imap **out)
{
    if (!gen)
        return MPX_EINVAL;
    return imap_common(p, J_IMAP, fn, NULL, 0, gen, state, opts, out);
}

MPX_API int mpx_pool_imap_unordered_gen(mpx_pool *p, mpx_task_fn fn, mpx_gen_fn gen,
                                        void *state, const mpx_call_opts *opts, mpx_imap **out)
{
    if (!gen)
        return MPX_EINVAL;
    return imap_common(p, J_IMAPU, fn, NULL, 0, gen, state, opts, out);
}

/* ---- the fixed-size fast path ----------------------------------------------------- */

MPX_API int mpx_pool_map_fixed(mpx_pool *p, mpx_elem_fn fn, const void *in, size_t in_size,
                               void *out, size_t out_size, size_t n, const mpx_call_opts *opts,
                               int *status)
{
    int rc = check_pool(p);
    if (rc)
        return rc;
    if (!fn || (n && (!in || !out)) || (opts && opts->shared_len && !opts->shared))
        return MPX_EINVAL;
    if (p->be)
        return MPX_ENOTSUP; /* the arrays are shared memory of this host */
    if (n == 0)
        return 0;
    if (in_size && n > SIZE_MAX / 4 / (in_size + out_size + 4))
        return MPX_EINVAL;
    mpx_result *j = mpx__pool_job_new(J_FIXED, opts);
    if (!j)
        return -ENOMEM;
    j->kind = PX_K_FIXED;
    j->src = S_NONE;
    j->total = n;
    j->cap = 1;
    size_t ctx_len = opts ? opts->shared_len : 0; /* mpx_call_opts.shared */
    size_t off_ctx = (sizeof(px_fixed_ctl) + 63) & ~(size_t)63;
    size_t off_in = (off_ctx + ctx_len + 63) & ~(size_t)63;
    size_t off_out = (off_in + n * in_size + 63) & ~(size_t)63;
    size_t off_status = (off_out + n * out_size + 63) & ~(size_t)63;
    size_t off_desc = (off_status + n * 4 + 4095) & ~(size_t)4095;
    size_t size = off_desc + 4096;
    rc = mpx__shmap_create(&j->fx, "mpx-pool-fixed", size);
    if (rc) {
        mpx__pool_job_free(j);
        return rc;
    }
    /* keep the descriptor at the end of the mapping (fx.size - 4096) */
    unsigned char *m = j->fx.addr;
    px_fixed_desc *d = (px_fixed_desc *)(void *)(m + j->fx.size - 4096);
    size_t chunk = opts ? opts->chunksize : 0;
    if (!chunk) {
        chunk = n / ((size_t)p->n * 16);
        if (chunk < 1)
            chunk = 1;
        if (chunk > 4096)
            chunk = 4096;
    }
    d->owner_pid = getpid();
    d->fd = j->fx.fd;
    d->map_size = j->fx.size;
    d->n = n;
    d->in_size = in_size;
    d->out_size = out_size;
    d->chunk = chunk;
    d->off_in = off_in;
    d->off_out = off_out;
    d->off_status = off_status;
    d->off_ctx = off_ctx;
    d->ctx_len = ctx_len;
    if (ctx_len)
        memcpy(m + off_ctx, opts->shared, ctx_len);
    if (n && in_size)
        memcpy(m + off_in, in, n * in_size);
    mpx_result *keep = j;
    rc = submit(p, j, (mpx__fnptr)fn);
    if (rc)
        return rc;
    rc = mpx_result_wait(keep, MPX_FOREVER);
    rc = rc == 1 ? 0 : rc;
    int first = 0;
    if (!rc) {
        _Atomic int32_t *st = (_Atomic int32_t *)(void *)(m + off_status);
        if (n && out_size)
            memcpy(out, m + off_out, n * out_size);
        for (size_t i = 0; i < n; i++) {
            int32_t v = atomic_load(&st[i]);
            int code = v == 1 ? 0 : v == 0 ? MPX_ECANCELED : v;
            if (status)
                status[i] = code;
            if (code && !first)
                first = code;
        }
    }
    mpx_result_destroy(keep);
    return rc ? rc : first;
}
