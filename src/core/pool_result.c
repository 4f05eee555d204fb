/*
 * pool_result.c - the result and iterator API (AsyncResult, IMapIterator):
 * wait / get / ready / successful / item / error calls on a job, cancelling
 * a job, destroying a result, and the imap iterator's next / error / cancel
 * / destroy.
 *
 * Threads: the callers' threads (result waiters, imap consumers), and the
 * handler thread when a callback reads or waits on its own result
 * (mpx__pool_in_handler). Reads and writes take j->mu; cancelling takes
 * p->mu then j->mu and leaves the slots in flight to the handler (it flags
 * them, pool_handler.c).
 */
#include "core/pool_parent.h"
#include "os/futex.h"

#include <string.h>

static errrec *find_err(mpx_result *j, size_t index)
{
    for (size_t i = j->nerrs; i-- > 0;)
        if (j->errs[i].index == index)
            return &j->errs[i];
    return NULL;
}

/* ---- cancellation --------------------------------------------------------------- */

/*
 * Stop a job's input and mark it cancelled; the handler thread then flags
 * its slots in flight so workers skip the items they have not started
 * (ps[] belongs to the handler: reading it here raced with harvest).
 * Returns the items cancelled, counting those in flight (some of which are
 * already running and will finish). p->mu held.
 */
static int cancel_job_locked(mpx_pool *p, mpx_result *j)
{
    int n = 0;
    pthread_mutex_lock(&j->mu);
    if (!j->ready) {
        j->canceled = true;
        atomic_fetch_add(&p->cancel_gen, 1);
        if (j->type == J_FIXED)
            n += (int)j->inflight; /* one item per slot */
        else if (j->fed > j->done)
            n += (int)(j->fed - j->done);
        if (j->type == J_MAP || j->type == J_APPLY) {
            size_t rest = j->total != SIZE_MAX ? j->total - j->fed : 0;
            for (size_t i = j->fed; i < j->total; i++)
                mpx__pool_store_err(j, i, MPX_ECANCELED, MPX_ECANCELED, NULL, 0, 0, 0, 0, NULL);
            j->fed = j->total;
            n += (int)rest;
        } else {
            j->total = j->fed;
        }
        j->input_done = true;
        if (j->type == J_FIXED && j->fx.addr) {
            px_fixed_ctl *fc = (px_fixed_ctl *)j->fx.addr;
            atomic_store(&fc->next, UINT64_MAX / 2);
        }
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

/* ---- result objects ---------------------------------------------------------------- */

static bool res_ok(const mpx_result *r)
{
    return r && r->magic == RES_MAGIC;
}

static int result_wait(mpx_result *r, mpx_duration timeout)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    mpx__deadline d = mpx__deadline_from(timeout);
    /* a short bounded spin first: a result that is a few microseconds
     * away is not worth a sleep and a cross-CPU wake-up (~25 us here) */
    if (timeout > 0 && !mpx__pool_in_handler)
        for (int i = 0; i < 1000 && !__atomic_load_n(&r->announced, __ATOMIC_ACQUIRE); i++)
            mpx__cpu_relax();
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    while (!(r->announced || (mpx__pool_in_handler && r->ready))) {
        if (d == MPX__NEVER) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        if (mpx__deadline_expired(d)) {
            rc = MPX_ETIMEDOUT;
            break;
        }
        struct timespec ts = {d / 1000000000, d % 1000000000};
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API int mpx_result_wait(mpx_result *r, mpx_duration timeout)
{
    /* yes/no (docs/design.md): 1 ready, 0 not ready at the deadline */
    int rc = result_wait(r, timeout);
    return rc == 0 ? 1 : rc == MPX_ETIMEDOUT ? 0 : rc;
}

static void fill_err(const errrec *e, mpx_task_error *err)
{
    err->code = e->code;
    err->task_rc = e->task_rc;
    err->index = e->index;
    err->pid = e->pid;
    err->signal = e->sig;
    err->exitcode = e->exitcode;
    err->message = e->msg ? e->msg : mpx_strerror(e->code);
    err->backtrace = e->bt;
}

static const errrec *first_err(mpx_result *r)
{
    const errrec *best = NULL;
    for (size_t i = 0; i < r->nerrs; i++)
        if (!best || r->errs[i].index < best->index)
            best = &r->errs[i];
    return best;
}

MPX_API int mpx_result_get(mpx_result *r, mpx_duration timeout, const void **data, size_t *len)
{
    int rc = result_wait(r, timeout); /* MPX_ETIMEDOUT: Python raises */
    if (rc)
        return rc;
    pthread_mutex_lock(&r->mu);
    if (r->nfailed) {
        const errrec *e = first_err(r);
        rc = e ? e->code : MPX_ETASK;
    } else if (r->type == J_APPLY && r->win) {
        ires *x = &r->win[0];
        if (data)
            *data = x->len > 8 ? x->u.p : x->u.b;
        if (len)
            *len = x->len;
    } else {
        if (data)
            *data = NULL;
        if (len)
            *len = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API int mpx_result_ready(mpx_result *r)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int v = r->announced || (mpx__pool_in_handler && r->ready) ? 1 : 0;
    pthread_mutex_unlock(&r->mu);
    return v;
}

MPX_API int mpx_result_successful(mpx_result *r)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int v = !(r->announced || (mpx__pool_in_handler && r->ready)) ? MPX_ESTATE : r->nfailed == 0;
    pthread_mutex_unlock(&r->mu);
    return v;
}

MPX_API size_t mpx_result_count(mpx_result *r)
{
    if (!res_ok(r))
        return 0;
    pthread_mutex_lock(&r->mu);
    size_t n = r->total == SIZE_MAX ? r->fed : r->total;
    pthread_mutex_unlock(&r->mu);
    return n;
}

MPX_API int mpx_result_item(mpx_result *r, size_t i, const void **data, size_t *len)
{
    if (!res_ok(r) || r->type == J_IMAP || r->type == J_IMAPU || r->type == J_FIXED)
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    if (!r->ready)
        rc = MPX_ESTATE;
    else if (i >= r->total || i >= r->cap)
        rc = MPX_EINVAL;
    else {
        ires *x = &r->win[i];
        if (x->st == IR_OK) {
            if (data)
                *data = x->len > 8 ? x->u.p : x->u.b;
            if (len)
                *len = x->len;
        } else {
            errrec *e = find_err(r, i);
            rc = e ? e->code : MPX_ECANCELED;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API size_t mpx_result_failed(mpx_result *r)
{
    if (!res_ok(r))
        return 0;
    pthread_mutex_lock(&r->mu);
    size_t n = r->nfailed;
    pthread_mutex_unlock(&r->mu);
    return n;
}

MPX_API int mpx_result_error(mpx_result *r, mpx_task_error *err)
{
    if (!res_ok(r) || !err)
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = MPX_EEMPTY;
    const errrec *e = first_err(r);
    if (e) {
        fill_err(e, err);
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

MPX_API int mpx_result_item_error(mpx_result *r, size_t i, mpx_task_error *err)
{
    if (!res_ok(r) || !err)
        return MPX_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = MPX_EEMPTY;
    errrec *e = find_err(r, i);
    if (e) {
        fill_err(e, err);
        rc = 0;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int job_cancel(mpx_result *j)
{
    mpx_pool *p;
    pthread_mutex_lock(&j->mu);
    p = j->pool;
    bool ready = j->ready;
    pthread_mutex_unlock(&j->mu);
    if (ready || !p || p->magic != POOL_OBJ_MAGIC)
        return 0;
    pthread_mutex_lock(&p->mu);
    int n = 0;
    if (j->pool == p)
        n = cancel_job_locked(p, j);
    pthread_mutex_unlock(&p->mu);
    wake_handler(p);
    return n;
}

MPX_API int mpx_result_cancel(mpx_result *r)
{
    if (!res_ok(r))
        return MPX_EINVAL;
    return job_cancel(r);
}

MPX_API void mpx_result_destroy(mpx_result *r)
{
    if (!res_ok(r))
        return;
    pthread_mutex_lock(&r->mu);
    bool ready = r->ready;
    r->user_gone = true;
    pthread_mutex_unlock(&r->mu);
    if (!ready)
        job_cancel(r);
    mpx__pool_job_unref(r);
}

/* ---- iterators ------------------------------------------------------------------ */

MPX_API int mpx_imap_next(mpx_imap *it, mpx_duration timeout, const void **data, size_t *len,
                          size_t *index)
{
    if (!it || it->magic != IMAP_MAGIC)
        return MPX_EINVAL;
    mpx_result *j = it->j;
    mpx__deadline d = mpx__deadline_from(timeout);
    pthread_mutex_lock(&j->mu);
    free(j->cur);
    j->cur = NULL;
    int rc;
    size_t idx = 0;
    for (;;) {
        bool known_end = j->src != S_GEN && j->total != SIZE_MAX;
        if (j->type == J_IMAP) {
            if (known_end ? j->cpos < j->total : (j->cpos < j->fed || !j->input_done)) {
                if (j->cpos < j->fed && win_at(j, j->cpos)->st != IR_EMPTY &&
                    win_at(j, j->cpos)->st != IR_USED) {
                    idx = j->cpos++;
                    break;
                }
            } else {
                rc = j->gen_err ? j->gen_err : MPX_EEOF;
                j->gen_err = 0;
                goto out;
            }
        } else {
            if (j->uq_head != j->uq_tail) {
                idx = j->uq[j->uq_head++ % j->cap];
                break;
            }
            if (known_end ? j->consumed >= j->total : (j->input_done && j->consumed >= j->fed)) {
                rc = j->gen_err ? j->gen_err : MPX_EEOF;
                j->gen_err = 0;
                goto out;
            }
        }
        if (d != MPX__NEVER && mpx__deadline_expired(d)) {
            rc = MPX_ETIMEDOUT;
            goto out;
        }
        if (d == MPX__NEVER)
            pthread_cond_wait(&j->cv, &j->mu);
        else {
            struct timespec ts = {d / 1000000000, d % 1000000000};
            pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        }
    }
    {
        ires *x = win_at(j, idx);
        j->consumed++;
        if (index)
            *index = idx;
        if (x->st == IR_OK) {
            if (x->len > 8) {
                j->cur = x->u.p;
            } else {
                j->cur = malloc(x->len ? x->len : 1);
                if (j->cur && x->len)
                    memcpy(j->cur, x->u.b, x->len);
            }
            if (data)
                *data = j->cur;
            if (len)
                *len = x->len;
            rc = 0;
        } else {
            errrec *e = find_err(j, idx);
            rc = e ? e->code : MPX_ECANCELED;
            free(j->last_err.msg);
            free(j->last_err.bt);
            memset(&j->last_err, 0, sizeof j->last_err);
            if (e) {
                j->last_err = *e;
                j->last_err.msg = e->msg ? strdup(e->msg) : NULL;
                j->last_err.bt = e->bt ? strdup(e->bt) : NULL;
            } else {
                j->last_err.index = idx;
                j->last_err.code = rc;
            }
            j->has_last_err = true;
            /* drop the stored error: the window slot is reused */
            if (e) {
                free(e->msg);
                free(e->bt);
                *e = j->errs[--j->nerrs];
            }
        }
        x->st = IR_USED;
        x->len = 0;
    }
out:;
    /* wake the handler for window space in batches, not per item */
    size_t outstanding = j->fed - j->consumed;
    size_t room = j->cap > outstanding ? j->cap - outstanding : 0;
    bool kick = j->win_blocked && rc != MPX_ETIMEDOUT && (room >= (j->cap + 7) / 8 || rc != 0);
    if (kick)
        j->win_blocked = false;
    mpx_pool *p = j->pool;
    pthread_mutex_unlock(&j->mu);
    if (kick && p && p->magic == POOL_OBJ_MAGIC)
        wake_handler(p); /* window space */
    return rc;
}

MPX_API int mpx_imap_error(mpx_imap *it, mpx_task_error *err)
{
    if (!it || it->magic != IMAP_MAGIC || !err)
        return MPX_EINVAL;
    mpx_result *j = it->j;
    pthread_mutex_lock(&j->mu);
    int rc = MPX_EEMPTY;
    if (j->has_last_err) {
        fill_err(&j->last_err, err);
        rc = 0;
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

MPX_API int mpx_imap_cancel(mpx_imap *it)
{
    if (!it || it->magic != IMAP_MAGIC)
        return MPX_EINVAL;
    return job_cancel(it->j);
}

MPX_API void mpx_imap_destroy(mpx_imap *it)
{
    if (!it || it->magic != IMAP_MAGIC)
        return;
    it->magic = 0;
    mpx_result_destroy(it->j);
    free(it);
}
