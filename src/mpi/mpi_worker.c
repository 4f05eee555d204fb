/*
 * mpi_worker.c - the serving loop of a worker rank (wire protocol:
 * mpi_internal.h). One message at a time from the process at rank 0 of
 * comm: T_OPEN runs the pool's initializer, T_WORK runs the items of the
 * slots it carries in order and answers with their output records,
 * T_CLOSE ends the pool, T_EXIT ends the process. Between messages the
 * rank polls with a back-off (spin, yield, then sleeps of up to 1 ms), so
 * an idle worker rank costs almost no CPU; a rank with work queued never
 * waits.
 */
#include "mpi/mpi_internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct wfn {
    bool set;
    uint32_t gen;
    mpx__fnptr fn;
    int err;
} wfn;

typedef struct wstate {
    MPI_Comm comm;
    wfn fns[PX_FN_MAX];
    mpx_args *initargs; /* kept while the pool lasts: the initializer may keep pointers */
    mpx_task_out *o;
    /* T_DONE replies go out with MPI_Isend from two buffers, so the rank
     * runs its next message while rank 0 takes the reply */
    mx_buf outs[2];
    MPI_Request oreq[2];
    int cur;
    mx_buf out; /* outs[cur] while a T_WORK is run */
    char host[MX_HOST];
} wstate;

static void reset_pool(wstate *ws)
{
    memset(ws->fns, 0, sizeof ws->fns);
    mpx_args_destroy(ws->initargs);
    ws->initargs = NULL;
}

static void reply(wstate *ws, int tag, const void *p, size_t len)
{
    if (MPI_Send(p, (int)len, MPI_BYTE, 0, tag, ws->comm) != MPI_SUCCESS)
        MPI_Abort(MPI_COMM_WORLD, 1);
}

static void do_open(wstate *ws, const unsigned char *p, size_t len)
{
    int32_t rc = 0;
    reset_pool(ws);
    if (len < 8) {
        rc = MPX_EPROTO;
    } else {
        uint32_t fl = px_get32(p + 4);
        size_t off = 8 + PX_PAD8(fl);
        mpx__fnptr init = NULL;
        if (fl > PX_FN_SIZE || off > len)
            rc = MPX_EPROTO;
        if (!rc)
            rc = mx_api->fnref_decode(p + 8, fl, &init);
        if (!rc)
            rc = mx_args_get(p + off, len - off, &ws->initargs);
        if (!rc && init)
            rc = ((mpx_init_fn)init)(ws->initargs);
        if (rc > 0)
            rc = 0;
    }
    unsigned char r[8 + MX_HOST];
    int32_t pid = (int32_t)getpid();
    memcpy(r, &rc, 4);
    memcpy(r + 4, &pid, 4);
    memcpy(r + 8, ws->host, MX_HOST);
    fflush(NULL);
    reply(ws, T_READY, r, sizeof r);
}

static int put_out(mx_buf *b, uint64_t index, int code, int task_rc, const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return MPX_ETOOBIG;
    int rc = mx_buf_reserve(b, PX_OUT_REC + PX_PAD8(len));
    if (rc)
        return rc;
    unsigned char *o = b->p + b->len;
    px_put64(o, index);
    px_put32(o + 8, (uint32_t)code);
    px_put32(o + 12, (uint32_t)task_rc);
    px_put32(o + 16, (uint32_t)len);
    px_put32(o + 20, 0);
    if (len)
        memcpy(o + PX_OUT_REC, data, len);
    memset(o + PX_OUT_REC + len, 0, PX_PAD8(len) - len);
    b->len += PX_OUT_REC + PX_PAD8(len);
    return 0;
}

/* Run every item of a T_WORK message; returns 0 or a protocol error. */
static int do_work(wstate *ws, const unsigned char *p, size_t len)
{
    if (len < 8)
        return MPX_EPROTO;
    uint32_t nfn = px_get32(p), nslots = px_get32(p + 4);
    size_t pos = 8;
    for (uint32_t i = 0; i < nfn; i++) {
        if (pos + MX_FN_HDR > len)
            return MPX_EPROTO;
        uint32_t idx = px_get32(p + pos), gen = px_get32(p + pos + 4);
        uint32_t fl = px_get32(p + pos + 8);
        pos += MX_FN_HDR;
        if (idx >= PX_FN_MAX || fl > PX_FN_SIZE || pos + PX_PAD8(fl) > len)
            return MPX_EPROTO;
        wfn *f = &ws->fns[idx];
        f->set = true;
        f->gen = gen;
        f->fn = NULL;
        f->err = mx_api->fnref_decode(p + pos, fl, &f->fn);
        if (!f->err && !f->fn)
            f->err = MPX_ERESOLVE;
        pos += PX_PAD8(fl);
    }
    mx_buf *b = &ws->out;
    b->len = 0;
    int rc = mx_buf_reserve(b, MX_DONE_HDR);
    if (rc)
        return rc;
    b->len = MX_DONE_HDR;
    px_put32(b->p + 8, nslots);
    px_put32(b->p + 12, 0);
    int64_t t0 = mx_now_ns();
    for (uint32_t k = 0; k < nslots; k++) {
        if (pos + MX_SLOT_HDR > len)
            return MPX_EPROTO;
        const unsigned char *sh = p + pos;
        uint32_t slot = px_get32(sh), kind = px_get32(sh + 4), fn_idx = px_get32(sh + 8);
        uint32_t fn_gen = px_get32(sh + 12), nrec = px_get32(sh + 16), cancel = px_get32(sh + 20);
        uint32_t in_bytes = px_get32(sh + 24);
        pos += MX_SLOT_HDR;
        if (in_bytes > len - pos || fn_idx >= PX_FN_MAX)
            return MPX_EPROTO;
        const unsigned char *ip = p + pos, *iend = ip + in_bytes;
        pos += in_bytes;
        size_t rs = b->len;
        rc = mx_buf_reserve(b, MX_RSLOT_HDR);
        if (rc)
            return rc;
        b->len += MX_RSLOT_HDR;
        wfn *f = &ws->fns[fn_idx];
        int ferr = !f->set || f->gen != fn_gen ? MPX_EPROTO : f->err;
        uint32_t nout = 0;
        for (uint32_t r = 0; r < nrec; r++) {
            if (ip + PX_IN_REC > iend)
                return MPX_EPROTO;
            uint64_t index = px_get64(ip);
            uint32_t il = px_get32(ip + 8);
            const unsigned char *data = ip + PX_IN_REC;
            if (il > (size_t)(iend - data))
                return MPX_EPROTO;
            ip = data + PX_PAD8(il);
            if (cancel) {
                rc = put_out(b, index, MPX_ECANCELED, 0, NULL, 0);
            } else if (ferr) {
                char m[200];
                int n = snprintf(m, sizeof m,
                                 "%s: the task function cannot be found in MPI rank %d on %s (every "
                                 "rank must run the same binary)",
                                 mpx_strerror(ferr), mx_rank, ws->host);
                rc = put_out(b, index, ferr, ferr, m, n > 0 ? (size_t)n : 0);
            } else {
                int task_rc = 0;
                const void *d = NULL;
                size_t dl = 0;
                int code = mx_api->run_item(&ws->o, kind, f->fn, data, il, &task_rc, &d, &dl);
                rc = put_out(b, index, code, task_rc, d, dl);
            }
            if (rc)
                return rc;
            nout++;
        }
        px_put32(b->p + rs, slot);
        px_put32(b->p + rs + 4, nout);
        px_put64(b->p + rs + 8, b->len - rs - MX_RSLOT_HDR);
    }
    px_put64(b->p, (uint64_t)(mx_now_ns() - t0));
    return 0;
}

void mx_serve(MPI_Comm comm, bool spawned)
{
    wstate *ws = calloc(1, sizeof *ws);
    if (!ws)
        MPI_Abort(MPI_COMM_WORLD, 1);
    ws->comm = comm;
    ws->oreq[0] = ws->oreq[1] = MPI_REQUEST_NULL;
    if (gethostname(ws->host, sizeof ws->host - 1) < 0)
        snprintf(ws->host, sizeof ws->host, "?");
    mx_buf in = {0};
    unsigned idle = 0;
    for (;;) {
        int flag = 0;
        MPI_Message m;
        MPI_Status st;
        if (MPI_Improbe(0, MPI_ANY_TAG, comm, &flag, &m, &st) != MPI_SUCCESS)
            MPI_Abort(MPI_COMM_WORLD, 1);
        if (!flag) {
            mx_backoff(&idle, 1000);
            continue;
        }
        idle = 0;
        int cnt = 0;
        MPI_Get_count(&st, MPI_BYTE, &cnt);
        in.len = 0;
        if (mx_buf_reserve(&in, (size_t)cnt + 8))
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Mrecv(in.p, cnt, MPI_BYTE, &m, MPI_STATUS_IGNORE);
        switch (st.MPI_TAG) {
        case T_OPEN: do_open(ws, in.p, (size_t)cnt); break;
        case T_WORK: {
            int c = ws->cur;
            MPI_Wait(&ws->oreq[c], MPI_STATUS_IGNORE); /* its previous reply is out */
            ws->out = ws->outs[c];
            int rc = do_work(ws, in.p, (size_t)cnt);
            ws->outs[c] = ws->out;
            if (rc) {
                fprintf(stderr, "mpx: MPI worker rank %d: bad work message (%s)\n", mx_rank,
                        mpx_strerror(rc));
                MPI_Abort(MPI_COMM_WORLD, 1);
            }
            if (MPI_Isend(ws->out.p, (int)ws->out.len, MPI_BYTE, 0, T_DONE, ws->comm,
                          &ws->oreq[c]) != MPI_SUCCESS)
                MPI_Abort(MPI_COMM_WORLD, 1);
            ws->cur = 1 - c;
            break;
        }
        case T_CLOSE:
            MPI_Waitall(2, ws->oreq, MPI_STATUSES_IGNORE);
            reset_pool(ws);
            fflush(NULL);
            reply(ws, T_CLOSED, NULL, 0);
            break;
        case T_EXIT:
            MPI_Waitall(2, ws->oreq, MPI_STATUSES_IGNORE);
            reset_pool(ws);
            fflush(NULL);
            reply(ws, T_BYE, NULL, 0);
            if (spawned)
                MPI_Comm_disconnect(&comm);
            mx_api->task_out_free(ws->o);
            mx_buf_free(&ws->outs[0]);
            mx_buf_free(&ws->outs[1]);
            mx_buf_free(&in);
            free(ws);
            return;
        default: break;
        }
    }
}
