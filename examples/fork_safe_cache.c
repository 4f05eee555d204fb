/*
 * fork_safe_cache.c - the seed's fork-safe cache (EX-35, programming
 * guidelines, "Beware of replacing sys.stdin with a file like object"):
 *
 *     @property
 *     def cache(self):
 *         pid = os.getpid()
 *         if pid != self._pid:
 *             self._pid = pid
 *             self._cache = []
 *         return self._cache
 *
 * A cache that remembers which process filled it and starts empty in any
 * other one: a fork child inherits a copy of the parent's memory, cache
 * included, and must not flush (or trust) what belongs to its parent. The
 * demo fills a cache of pending log lines in the parent, then starts a
 * child with each start method: every child sees an empty cache (under
 * fork because the pid check discards the inherited copy, under spawn and
 * forkserver because the child never had it), adds its own lines and
 * flushes them; the parent's lines are flushed once, by the parent.
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct cache {
    pid_t pid;       /* the process the entries belong to */
    int n;
    char lines[16][64];
} cache;

static cache pending; /* a global, as Python's object attribute */

/* The cache of the calling process: emptied when the pid changed. */
static cache *get_cache(void)
{
    pid_t pid = getpid();
    if (pid != pending.pid) {
        pending.pid = pid;
        pending.n = 0;
    }
    return &pending;
}

static void cache_add(const char *who, const char *what)
{
    cache *c = get_cache();
    if (c->n < 16)
        snprintf(c->lines[c->n++], sizeof c->lines[0], "%s: %s", who, what);
}

static void cache_flush(void)
{
    cache *c = get_cache();
    for (int i = 0; i < c->n; i++)
        printf("    flushed by pid %d: %s\n", (int)getpid(), c->lines[i]);
    fflush(stdout);
    c->n = 0;
}

static int child(const mpx_args *a)
{
    const char *method = mpx_args_str(a, 0);
    printf("  %s child (pid %d): %d cached line(s) on entry\n", method, (int)getpid(),
           get_cache()->n);
    cache_add(method, "a line of the child");
    cache_flush();
    return 0;
}

int main(void)
{
    cache_add("parent", "first line of the parent");
    cache_add("parent", "second line of the parent");
    printf("parent (pid %d): %d cached line(s)\n", (int)getpid(), get_cache()->n);
    const char *methods[] = {"fork", "spawn", "forkserver"};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        mpx_context *ctx;
        mpx_args *a;
        mpx_process *p;
        int rc = mpx_get_context(&ctx, methods[i]);
        if (!rc)
            rc = mpx_args_create(&a);
        if (!rc) {
            rc = mpx_args_add_str(a, methods[i]);
            if (!rc)
                rc = mpx_process_create(&p, child, a, &(mpx_process_opts){.ctx = ctx});
            mpx_args_destroy(a);
        }
        if (!rc) {
            fflush(stdout);
            rc = mpx_process_start(p);
            if (!rc && mpx_process_join(p, MPX_FOREVER) < 0)
                rc = -1;
            int code = -1;
            mpx_process_exitcode(p, &code);
            bad |= rc || code;
            mpx_process_destroy(p);
        }
        if (rc) {
            fprintf(stderr, "fork_safe_cache: %s\n", mpx_strerror(rc));
            return 1;
        }
    }
    printf("parent (pid %d): still %d cached line(s), flushed once here:\n", (int)getpid(),
           get_cache()->n);
    cache_flush();
    return bad;
}
