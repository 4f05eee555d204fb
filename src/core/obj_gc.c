/*
 * obj_gc.c - reference cycles among values (docs/obj.md, "Cycles").
 *
 * Counting references frees everything except cycles (Python's
 * l.append(l)). Two rules find them without a global collector:
 *
 * 1. Marking. A container that may be part of a cycle carries MPX__F_CYC.
 *    Storing container C into container P through the API can close a
 *    cycle only if P is reachable from C; that needs P to be held by some
 *    container (nparents > 0), so the common cases (filling a fresh
 *    container, storing a container without container parents) cost one
 *    comparison. Otherwise the containers below C are searched and every
 *    one on a path from C to P is marked. The decoder marks the target of
 *    each memo GET instead (every cycle in a pickle goes through one).
 *
 * 2. Trial deletion. When a marked container loses a reference and is
 *    then held only by containers (count == nparents), it may be an
 *    unreachable cycle. Its reference is handed to a per-thread pending
 *    list and, once the outermost call is done, the subgraph below the
 *    pending containers is examined as CPython's collector examines a
 *    generation: references from inside the subgraph are subtracted from
 *    each count; what keeps a positive count is held from outside, and so
 *    is everything it reaches; the rest is garbage and is freed. Survivors
 *    held both from outside and from inside are marked, so that releasing
 *    them later checks again.
 *
 * A decode defers the checks to its end and runs one examination over
 * everything it queued, so a hostile pickle cannot make it quadratic.
 * The examination takes a process-wide mutex (it writes scratch fields
 * of the values it visits); everything else here is per thread.
 *
 * Threads. A drop of a marked container decides on the very count it
 * changes (compare and swap, obj.c), so of two threads dropping the last
 * two outside references one queues it. Survivors' pending references
 * are dropped before the lock is released, so the next examination (in
 * any thread) does not count them as holders; a survivor that lost a
 * reference while it was examined and is then held only by containers is
 * examined again. Garbage is flagged GARBAGE (not VISIT, which another
 * thread's examination may set on the live values it refers to) and is
 * freed after the lock: nothing outside reaches it.
 */
#include "core/obj_internal.h"

#include <pthread.h>

static pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t gc_once = PTHREAD_ONCE_INIT;

static void gc_prepare(void)
{
    pthread_mutex_lock(&gc_lock);
}

static void gc_parent(void)
{
    pthread_mutex_unlock(&gc_lock);
}

static void gc_child(void)
{
    pthread_mutex_init(&gc_lock, NULL);
}

static void gc_init(void)
{
    pthread_atfork(gc_prepare, gc_parent, gc_child);
}

static void lock(void)
{
    pthread_once(&gc_once, gc_init);
    pthread_mutex_lock(&gc_lock);
}

static void unlock(void)
{
    pthread_mutex_unlock(&gc_lock);
}

typedef struct gc_tls {
    mpx_obj **v;
    size_t n, cap;
    int defer;
    int running;
} gc_tls;

static __thread gc_tls tls __attribute__((tls_model("initial-exec")));

static inline mpx__vcont *C(mpx_obj *o)
{
    return (mpx__vcont *)o;
}

static inline int tracked(const mpx_obj *o)
{
    return mpx__v_is_cont(o) && !(MPX__FL(o) & MPX__F_IMMORTAL);
}

/* ---- marking on insertion ---------------------------------------------- */

typedef struct vec {
    mpx_obj **v;
    size_t n, cap;
    int failed;
} vec;

static void vec_push(vec *a, mpx_obj *o)
{
    if (a->failed)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        mpx_obj **v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->failed = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = o;
}

typedef struct search {
    vec nodes;  /* containers reachable from the inserted child */
    vec edges;  /* pairs (from, to) among them */
    mpx_obj *from;
} search;

static void search_child(mpx_obj *c, void *arg)
{
    search *s = arg;
    if (!tracked(c))
        return;
    if (!(MPX__FL(c) & MPX__F_VISIT)) {
        mpx__v_set_flag(c, MPX__F_VISIT);
        C(c)->gc_refs = (int64_t)s->nodes.n;
        vec_push(&s->nodes, c);
    }
    vec_push(&s->edges, s->from);
    vec_push(&s->edges, c);
}

/* child was stored into parent (parent already counts it). */
void mpx__gc_link(mpx_obj *parent, mpx_obj *child)
{
    if (!tracked(child))
        return;
    __atomic_fetch_add(&C(child)->nparents, 1, __ATOMIC_RELAXED);
    if (child == parent) {
        mpx__v_set_flag(parent, MPX__F_CYC);
        return;
    }
    if (!tracked(parent) || __atomic_load_n(&C(parent)->nparents, __ATOMIC_RELAXED) == 0)
        return; /* nothing holds parent: it cannot be below child */
    lock();
    search s = {{0}, {0}, NULL};
    mpx__v_set_flag(child, MPX__F_VISIT);
    C(child)->gc_refs = 0;
    vec_push(&s.nodes, child);
    for (size_t i = 0; i < s.nodes.n && !s.nodes.failed; i++) {
        mpx_obj *x = s.nodes.v[i];
        if (x == parent)
            continue; /* no need to look below parent */
        s.from = x;
        mpx__v_children(x, search_child, &s);
    }
    int found = (MPX__FL(parent) & MPX__F_VISIT) != 0;
    if (s.nodes.failed || s.edges.failed) {
        /* out of memory: mark everything seen (safe, only slower) */
        for (size_t i = 0; i < s.nodes.n; i++)
            mpx__v_set_flag(s.nodes.v[i], MPX__F_CYC);
        mpx__v_set_flag(parent, MPX__F_CYC);
    } else if (found) {
        /* walk the edges backwards from parent: every node that reaches
         * it lies on a cycle through the new edge parent -> child */
        size_t nn = s.nodes.n, ne = s.edges.n / 2;
        size_t *start = calloc(nn + 1, sizeof *start);
        size_t *pred = malloc((ne ? ne : 1) * sizeof *pred);
        unsigned char *seen = calloc(nn, 1);
        size_t *queue = malloc(nn * sizeof *queue);
        if (!start || !pred || !seen || !queue) {
            for (size_t i = 0; i < nn; i++)
                mpx__v_set_flag(s.nodes.v[i], MPX__F_CYC);
        } else {
            for (size_t e = 0; e < ne; e++)
                start[C(s.edges.v[2 * e + 1])->gc_refs + 1]++;
            for (size_t i = 0; i < nn; i++)
                start[i + 1] += start[i];
            size_t *fill = malloc((nn + 1) * sizeof *fill);
            if (!fill) {
                for (size_t i = 0; i < nn; i++)
                    mpx__v_set_flag(s.nodes.v[i], MPX__F_CYC);
            } else {
                memcpy(fill, start, (nn + 1) * sizeof *fill);
                for (size_t e = 0; e < ne; e++) {
                    size_t to = (size_t)C(s.edges.v[2 * e + 1])->gc_refs;
                    pred[fill[to]++] = (size_t)C(s.edges.v[2 * e])->gc_refs;
                }
                free(fill);
                size_t qh = 0, qt = 0, p = (size_t)C(parent)->gc_refs;
                seen[p] = 1;
                queue[qt++] = p;
                while (qh < qt) {
                    size_t x = queue[qh++];
                    mpx__v_set_flag(s.nodes.v[x], MPX__F_CYC);
                    for (size_t k = start[x]; k < start[x + 1]; k++)
                        if (!seen[pred[k]]) {
                            seen[pred[k]] = 1;
                            queue[qt++] = pred[k];
                        }
                }
            }
        }
        free(start);
        free(pred);
        free(seen);
        free(queue);
    }
    for (size_t i = 0; i < s.nodes.n; i++)
        mpx__v_clear_flag(s.nodes.v[i], MPX__F_VISIT);
    unlock();
    free(s.nodes.v);
    free(s.edges.v);
}

/* ---- pending checks ---------------------------------------------------- */

/* o (a marked container) is about to lose a reference after which only
 * containers hold it. Keep that reference on the pending list instead. */
int mpx__gc_consider(mpx_obj *o);
int mpx__gc_consider(mpx_obj *o)
{
    if (mpx__v_flags(o) & MPX__F_PENDING)
        return 0;
    if (tls.n == tls.cap) {
        size_t cap = tls.cap ? tls.cap * 2 : 16;
        mpx_obj **v = realloc(tls.v, cap * sizeof *v);
        if (!v)
            return 0; /* the cycle, if any, stays: a leak under memory pressure only */
        tls.v = v;
        tls.cap = cap;
    }
    mpx__v_set_flag(o, MPX__F_PENDING);
    tls.v[tls.n++] = o;
    return 1;
}

void mpx__v_release_raw(mpx_obj *o, int from_parent);
void mpx__v_free_container_only(mpx_obj *o);

typedef struct scan {
    mpx__vcont *tail;
} scan;

static void visit_child(mpx_obj *c, void *arg)
{
    scan *s = arg;
    if (!tracked(c))
        return;
    if (!(MPX__FL(c) & MPX__F_VISIT)) {
        mpx__v_set_flag(c, MPX__F_VISIT);
        C(c)->gc_refs = (int64_t)__atomic_load_n(&c->refcnt, __ATOMIC_ACQUIRE);
        C(c)->gc_next = NULL;
        s->tail->gc_next = C(c);
        s->tail = C(c);
    }
    C(c)->gc_refs--;
}

static void alive_child(mpx_obj *c, void *arg)
{
    vec *stack = arg;
    if (tracked(c) && (MPX__FL(c) & MPX__F_VISIT) && !(MPX__FL(c) & MPX__F_ALIVE)) {
        mpx__v_set_flag(c, MPX__F_ALIVE);
        vec_push(stack, c);
    }
}

/* A garbage container's reference to another garbage container is not
 * released (both go); other references are. (GARBAGE, not VISIT: once the
 * lock is released another thread's collection may be visiting live
 * containers that this garbage refers to.) */
static void drop_child(mpx_obj *c, void *arg)
{
    (void)arg;
    if (tracked(c) && (MPX__FL(c) & MPX__F_GARBAGE))
        return;
    mpx__v_release_raw(c, 1);
}

/* Examine the subgraph below roots[0..n), each holding one pending
 * reference. */
static void collect(mpx_obj **roots, size_t n)
{
    /* each root's count when examined (NULL under memory pressure: then
     * survivors are never queued again, see below) */
    uint32_t *seen = malloc(n * sizeof *seen);
    lock();
    mpx__vcont *head = NULL;
    scan s = {NULL};
    for (size_t i = 0; i < n; i++) {
        mpx_obj *r = roots[i];
        uint32_t rc = __atomic_load_n(&r->refcnt, __ATOMIC_ACQUIRE);
        if (seen)
            seen[i] = rc;
        if (!(MPX__FL(r) & MPX__F_VISIT)) {
            mpx__v_set_flag(r, MPX__F_VISIT);
            C(r)->gc_refs = (int64_t)rc;
            C(r)->gc_next = NULL;
            if (s.tail)
                s.tail->gc_next = C(r);
            else
                head = C(r);
            s.tail = C(r);
        }
        C(r)->gc_refs--; /* the pending reference is being released */
    }
    for (mpx__vcont *x = head; x; x = x->gc_next)
        mpx__v_children(&x->h, visit_child, &s);

    /* what is held from outside, and all it reaches, is alive */
    vec stack = {0};
    for (mpx__vcont *x = head; x; x = x->gc_next)
        if (x->gc_refs > 0 && !(MPX__FL(&x->h) & MPX__F_ALIVE)) {
            mpx__v_set_flag(&x->h, MPX__F_ALIVE);
            vec_push(&stack, &x->h);
        }
    while (stack.n && !stack.failed)
        mpx__v_children(stack.v[--stack.n], alive_child, &stack);
    if (stack.failed) /* out of memory: keep everything */
        for (mpx__vcont *x = head; x; x = x->gc_next)
            mpx__v_set_flag(&x->h, MPX__F_ALIVE);
    free(stack.v);

    /* split: survivors lose their marks, garbage is flagged GARBAGE (not
     * VISIT: once the lock is released, another thread's collection may
     * set VISIT on live containers that this garbage refers to) */
    mpx__vcont *garbage = NULL;
    for (mpx__vcont *x = head, *next; x; x = next) {
        next = x->gc_next;
        mpx_obj *o = &x->h;
        if (MPX__FL(o) & MPX__F_ALIVE) {
            uint32_t rc = __atomic_load_n(&o->refcnt, __ATOMIC_ACQUIRE);
            if (x->gc_refs > 0 && (int64_t)rc - x->gc_refs > 0)
                mpx__v_set_flag(o, MPX__F_CYC); /* held from outside and inside */
            mpx__v_clear_flag(o, MPX__F_VISIT | MPX__F_ALIVE);
        } else {
            mpx__v_set_flag(o, MPX__F_GARBAGE);
            x->gc_next = garbage;
            garbage = x;
        }
    }
    /* the pending references of survivors go now, under the lock: a
     * collection running next in another thread must not count them as
     * holders (two threads dropping two values of one cycle at once each
     * queue theirs; the first examination sees the other's pending
     * reference and keeps everything, the second must then see the truth).
     * roots[i] stays set only where a reference is still ours after the
     * lock (garbage roots go with the rest: NULL). */
    for (size_t i = 0; i < n; i++) {
        mpx_obj *r = roots[i];
        roots[i] = NULL;
        if (MPX__FL(r) & MPX__F_GARBAGE)
            continue; /* freed with the rest */
        mpx__v_clear_flag(r, MPX__F_PENDING);
        uint32_t rc = __atomic_load_n(&r->refcnt, __ATOMIC_ACQUIRE);
        for (;;) {
            if (rc == 1) { /* other threads dropped theirs meanwhile: it is dead */
                roots[i] = r;
                break;
            }
            /* held only by containers now, and some reference went while it
             * was examined: the verdict may be stale, examine it again
             * (without a drop meanwhile, a survivor held by a live
             * container is not queued again and again) */
            if (seen && rc < seen[i] && rc - 1 == __atomic_load_n(&C(r)->nparents, __ATOMIC_RELAXED) &&
                mpx__gc_consider(r))
                break;
            if (__atomic_compare_exchange_n(&r->refcnt, &rc, rc - 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                break;
        }
    }
    for (mpx__vcont *x = garbage; x; x = x->gc_next)
        mpx__v_clear_flag(&x->h, MPX__F_VISIT);
    unlock();
    free(seen);

    /* free the garbage: first every reference that leaves it (nothing
     * outside can reach it, so no other thread touches it), then the
     * containers themselves */
    for (mpx__vcont *x = garbage; x; x = x->gc_next)
        mpx__v_children(&x->h, drop_child, NULL);
    for (mpx__vcont *x = garbage, *next; x; x = next) {
        next = x->gc_next;
        mpx__v_free_container_only(&x->h);
    }
    /* survivors whose last reference was the pending one */
    for (size_t i = 0; i < n; i++)
        if (roots[i])
            mpx__v_release_raw(roots[i], 0);
}

void mpx__gc_drain(void);
void mpx__gc_drain(void)
{
    if (MPX__LIKELY(tls.n == 0) || tls.defer || tls.running)
        return;
    tls.running = 1;
    while (tls.n) {
        mpx_obj **roots = tls.v;
        size_t n = tls.n;
        tls.v = NULL;
        tls.n = tls.cap = 0;
        collect(roots, n);
        free(roots);
    }
    tls.running = 0;
}

void mpx__gc_defer_begin(void)
{
    tls.defer++;
}

void mpx__gc_defer_end(void)
{
    if (--tls.defer == 0)
        mpx__gc_drain();
}
