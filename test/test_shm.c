/* test_shm.c - SharedMemory (SHMEM-01..05, 08) and the tracker that keeps
 * named blocks from leaking (issue #17): create/attach/close/unlink, every
 * error Python raises, passing blocks to children under every start
 * method, and the tracking guarantees: a tracked block goes when the
 * last process of its program has ended (also after SIGKILL of the
 * creator or of the whole process group), an unrelated attacher's exit
 * never unlinks, track=False survives, a reused name is never taken,
 * 10,000 blocks leave nothing behind, a killed tracker is replaced. */
#include "shm_util.h"

#include "core/shm_internal.h"

#include <limits.h>
#include <pthread.h>

/* ---- SHMEM-01, 04: create, attach, attributes ------------------------------ */

MPX_TEST(shmem_01_create_generated_name_attach)
{
    mpx_shm *s, *a;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 10000, NULL));
    const char *name = mpx_shm_name(s);
    /* CPython's form: "psm_" + token_hex(4) */
    CHECK_EQ(strlen(name), 12);
    CHECK(!strncmp(name, "psm_", 4));
    CHECK_EQ(strspn(name + 4, "0123456789abcdef"), 8);
    CHECK(shm_exists(name));
    CHECK_EQ(mpx_shm_size(s), 10000);
    unsigned char *b = mpx_shm_buf(s);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ(b[i], 0);
    memcpy(b, "hello", 6);
    b[9999] = 0x5a;
    /* attach: the size is the block's (the one given is ignored) */
    CHECK_OK(mpx_shm_open(&a, name, 0, 5, NULL));
    CHECK_EQ(mpx_shm_size(a), 10000);
    CHECK_STREQ(mpx_shm_name(a), name);
    CHECK_STREQ((char *)mpx_shm_buf(a), "hello");
    CHECK_EQ(((unsigned char *)mpx_shm_buf(a))[9999], 0x5a);
    ((char *)mpx_shm_buf(a))[0] = 'J';
    CHECK_EQ(b[0], 'J');
    char want[64];
    snprintf(want, sizeof want, "SharedMemory('%s', size=10000)", name);
    check_describe(mpx_shm_describe(a), want);
    mpx_shm_destroy(a);
    CHECK_OK(mpx_shm_unlink(s));
    CHECK(!shm_exists(name));
    char copy[32];
    snprintf(copy, sizeof copy, "%s", name);
    mpx_shm_destroy(s);
    CHECK_ERR(mpx_shm_open(&a, copy, 0, 0, NULL), -ENOENT);
}

MPX_TEST(shmem_01_given_names_as_python)
{
    const char *n = shm_test_name("given");
    mpx_shm *s, *a, *b;
    CHECK_OK(mpx_shm_open(&s, n, 1, 64, NULL));
    CHECK_STREQ(mpx_shm_name(s), n);
    CHECK(shm_exists(n));
    /* FileExistsError */
    CHECK_ERR(mpx_shm_open(&a, n, 1, 64, NULL), -EEXIST);
    CHECK_ERR(mpx_shm_open(&a, n, 1, 64, &(mpx_shm_opts){.untracked = 1}), -EEXIST);
    /* leading slashes name the same block; .name is the name as given */
    char slashed[80];
    snprintf(slashed, sizeof slashed, "//%s", n);
    CHECK_OK(mpx_shm_open(&a, slashed, 0, 0, NULL));
    CHECK_STREQ(mpx_shm_name(a), slashed);
    memcpy(mpx_shm_buf(s), "x", 1);
    CHECK_EQ(((char *)mpx_shm_buf(a))[0], 'x');
    mpx_shm_destroy(a);
    /* a given name with a leading slash is created without it */
    const char *n2 = shm_test_name("slash");
    snprintf(slashed, sizeof slashed, "/%s", n2);
    CHECK_OK(mpx_shm_open(&b, slashed, 1, 8, NULL));
    CHECK_STREQ(mpx_shm_name(b), slashed);
    CHECK(shm_exists(n2));
    CHECK_OK(mpx_shm_unlink(b));
    CHECK(!shm_exists(n2));
    mpx_shm_destroy(b);
    CHECK_OK(mpx_shm_unlink(s));
    mpx_shm_destroy(s);
}

MPX_TEST(shmem_01_errors_as_python)
{
    mpx_shm *s = (mpx_shm *)1;
    /* ValueError */
    CHECK_ERR(mpx_shm_open(&s, NULL, 1, 0, NULL), MPX_EINVAL);
    CHECK(s == NULL);
    CHECK_ERR(mpx_shm_open(&s, NULL, 1, -1, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_open(&s, "x", 0, -1, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_open(&s, NULL, 0, 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_open(&s, NULL, 0, 4096, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_open(NULL, NULL, 1, 4096, NULL), MPX_EINVAL);
    /* FileNotFoundError */
    CHECK_ERR(mpx_shm_open(&s, shm_test_name("missing"), 0, 0, NULL), -ENOENT);
    /* names the kernel refuses (OSError EINVAL / ENAMETOOLONG) */
    const char *bad[] = {"", "/", "///", "a/b", ".", "..", "/.."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_ERR(mpx_shm_open(&s, bad[i], 1, 8, NULL), -EINVAL);
        CHECK_ERR(mpx_shm_open(&s, bad[i], 0, 0, NULL), -EINVAL);
    }
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = 0;
    CHECK_ERR(mpx_shm_open(&s, longname, 1, 8, NULL), -ENAMETOOLONG);
    /* a block of size 0 (made by someone else): Python's "cannot mmap
     * an empty file" ValueError */
    const char *z = shm_test_name("empty");
    char zp[80];
    snprintf(zp, sizeof zp, "/%s", z);
    int fd = shm_open(zp, O_CREAT | O_EXCL | O_RDWR, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_ERR(mpx_shm_open(&s, z, 0, 0, NULL), MPX_EINVAL);
    CHECK(shm_exists(z)); /* never unlinked by a failed attach (CPython's path does) */
    CHECK_EQ(shm_unlink(zp), 0);
    /* a size the system cannot give */
    CHECK(mpx_shm_open(&s, NULL, 1, INT64_MAX, NULL) < 0);
    /* bad handles */
    CHECK(mpx_shm_buf(NULL) == NULL);
    CHECK_EQ(mpx_shm_size(NULL), 0);
    CHECK(mpx_shm_name(NULL) == NULL);
    CHECK_ERR(mpx_shm_close(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_unlink(NULL), MPX_EINVAL);
    CHECK(mpx_shm_describe(NULL) == NULL);
    int junk[16] = {0};
    CHECK_ERR(mpx_shm_close((mpx_shm *)junk), MPX_EINVAL);
    mpx_shm_destroy(NULL);
    mpx_shm_destroy((mpx_shm *)junk);
}

/* ---- SHMEM-02, 03: close and unlink --------------------------------------------- */

MPX_TEST(shmem_02_close_keeps_block)
{
    mpx_shm *s, *a;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 4096, NULL));
    CHECK_OK(mpx_shm_open(&a, mpx_shm_name(s), 0, 0, NULL));
    strcpy(mpx_shm_buf(s), "kept");
    CHECK_OK(mpx_shm_close(s));
    CHECK(mpx_shm_buf(s) == NULL);
    CHECK_OK(mpx_shm_close(s)); /* twice: nothing */
    CHECK_EQ(mpx_shm_size(s), 4096);
    CHECK(shm_exists(mpx_shm_name(s)));
    CHECK_STREQ((char *)mpx_shm_buf(a), "kept");
    /* Python's order close() then unlink() */
    CHECK_OK(mpx_shm_unlink(s));
    CHECK(!shm_exists(mpx_shm_name(a)));
    /* the mapping outlives the name (SHMEM-03) */
    CHECK_STREQ((char *)mpx_shm_buf(a), "kept");
    /* unlink only once: FileNotFoundError after */
    CHECK_ERR(mpx_shm_unlink(a), -ENOENT);
    CHECK_ERR(mpx_shm_unlink(s), -ENOENT);
    mpx_shm_destroy(a);
    mpx_shm_destroy(s);
    CHECK_EQ(mpx__shm_tracked_count(), 0);
}

/* Beyond Python: an unlink never removes a block that took the name after
 * ours was unlinked. */
MPX_TEST(shmem_03_unlink_leaves_reused_name_alone)
{
    const char *n = shm_test_name("reuse");
    char p[80];
    snprintf(p, sizeof p, "/%s", n);
    mpx_shm *s, *a;
    CHECK_OK(mpx_shm_open(&s, n, 1, 4096, NULL));
    CHECK_OK(mpx_shm_open(&a, n, 0, 0, NULL));
    CHECK_EQ(shm_unlink(p), 0); /* someone unlinks it ... */
    int fd = shm_open(p, O_CREAT | O_EXCL | O_RDWR, 0600); /* ... and makes another */
    CHECK(fd >= 0);
    CHECK_ERR(mpx_shm_unlink(s), -ENOENT);
    CHECK_ERR(mpx_shm_unlink(a), -ENOENT);
    CHECK(shm_exists(n));
    CHECK_EQ(mpx__shm_tracked_count(), 0); /* our block's record is gone too */
    close(fd);
    CHECK_EQ(shm_unlink(p), 0);
    mpx_shm_destroy(a);
    mpx_shm_destroy(s);
}

/* Create and destroy 10,000 blocks: /dev/shm, descriptors and the tracker
 * table come back to where they started. */
MPX_TEST_T(shmem_05_ten_thousand_blocks_leave_nothing, 120)
{
    enum { N = 10000 };
    static char names[N][16];
    mpx_shm *warm;
    CHECK_OK(mpx_shm_open(&warm, NULL, 1, 1, NULL)); /* tracker started before counting */
    CHECK_OK(mpx_shm_unlink(warm));
    mpx_shm_destroy(warm);
    int fds = shm_count_fds();
    for (int i = 0; i < N; i++) {
        mpx_shm *s;
        mpx_shm_opts o = {.untracked = i % 4 == 3};
        CHECK_OK(mpx_shm_open(&s, NULL, 1, 4096 + i % 3, &o));
        snprintf(names[i], sizeof names[i], "%s", mpx_shm_name(s));
        ((char *)mpx_shm_buf(s))[i % 4096] = 1;
        if (i % 2)
            CHECK_OK(mpx_shm_close(s));
        CHECK_OK(mpx_shm_unlink(s));
        mpx_shm_destroy(s);
    }
    CHECK_EQ(shm_count_fds(), fds);
    CHECK_EQ(mpx__shm_tracked_count(), 0);
    for (int i = 0; i < N; i++)
        if (shm_exists(names[i]))
            FAIL("block %s left in /dev/shm", names[i]);
}

/* Many threads create tracked blocks at once, the first ones racing to
 * start the tracker. */
static void *create_many(void *arg)
{
    mpx_shm **out = arg;
    for (int i = 0; i < 20; i++) {
        int rc = mpx_shm_open(&out[i], NULL, 1, 100, NULL);
        if (rc)
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

MPX_TEST(shmem_05_threads_create_at_once)
{
    enum { T = 4 };
    static mpx_shm *blocks[T][20];
    pthread_t th[T];
    for (int t = 0; t < T; t++)
        CHECK_EQ(pthread_create(&th[t], NULL, create_many, blocks[t]), 0);
    for (int t = 0; t < T; t++) {
        void *r;
        CHECK_EQ(pthread_join(th[t], &r), 0);
        CHECK_EQ((intptr_t)r, 0);
    }
    CHECK_EQ(mpx__shm_tracked_count(), T * 20);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < 20; i++) {
            CHECK_OK(mpx_shm_unlink(blocks[t][i]));
            mpx_shm_destroy(blocks[t][i]);
        }
    CHECK_EQ(mpx__shm_tracked_count(), 0);
}

/* ---- children: by object and by name, every start method ------------------------ */

static int t_child_uses(const mpx_args *a)
{
    mpx_shm *s = NULL, *byname = NULL;
    if (mpx_args_get_object(a, 0, "shm", (void **)&s))
        return 10;
    const char *name = mpx_args_str(a, 1);
    if (strcmp(mpx_shm_name(s), name) != 0 || mpx_shm_size(s) != 8192)
        return 11;
    if (mpx_args_int(a, 2)) {
        /* passed closed: closed here too, whatever the start method */
        if (mpx_shm_buf(s) != NULL || mpx_shm_close(s) != 0)
            return 14;
    } else if (!mpx_shm_buf(s) || strcmp(mpx_shm_buf(s), "from parent") != 0) {
        return 12;
    }
    if (mpx_shm_open(&byname, name, 0, 0, NULL))
        return 13;
    strcpy((char *)mpx_shm_buf(byname) + 4096, "from child");
    mpx_shm_destroy(byname);
    return 0;
}

static void children_use(mpx_shm *s, int closed)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, s));
    CHECK_OK(mpx_args_add_str(a, mpx_shm_name(s)));
    CHECK_OK(mpx_args_add_int(a, closed));
    mpx_process *p = start_args(t_child_uses, a);
    mpx_args_destroy(a);
    CHECK_EQ(join_destroy(p), 0);
}

MPX_TEST(shmem_children_by_object_and_name)
{
    mpx_shm *s;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 8192, NULL));
    strcpy(mpx_shm_buf(s), "from parent");
    children_use(s, 0);
    CHECK_STREQ((char *)mpx_shm_buf(s) + 4096, "from child");
    memset((char *)mpx_shm_buf(s) + 4096, 0, 16);
    CHECK_OK(mpx_shm_close(s));
    children_use(s, 1);
    mpx_shm *chk;
    CHECK_OK(mpx_shm_open(&chk, mpx_shm_name(s), 0, 0, NULL));
    CHECK_STREQ((char *)mpx_shm_buf(chk) + 4096, "from child");
    mpx_shm_destroy(chk);
    CHECK_OK(mpx_shm_unlink(s));
    mpx_shm_destroy(s);
}

/* A block passed to a child after its name is gone still works there
 * (it travels as a descriptor). */
static int t_child_reads(const mpx_args *a)
{
    mpx_shm *s = mpx_args_object(a, 0);
    return mpx_shm_buf(s) && strcmp(mpx_shm_buf(s), "nameless") == 0 ? 0 : 15;
}

MPX_TEST(shmem_children_get_unlinked_block)
{
    mpx_shm *s;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 100, NULL));
    strcpy(mpx_shm_buf(s), "nameless");
    CHECK_OK(mpx_shm_unlink(s));
    mpx_process *p = start_objs_int(t_child_reads, s, NULL, 0);
    CHECK_EQ(join_destroy(p), 0);
    mpx_shm_destroy(s);
}

static int t_child_unlinks(const mpx_args *a)
{
    mpx_shm *s = mpx_args_object(a, 0);
    return mpx_shm_unlink(s) == 0 ? 0 : 20;
}

/* An unlink in another process of the program clears the record (no
 * double unlink at the end, no stale slot). */
MPX_TEST(shmem_03_child_unlink_untracks)
{
    mpx_shm *s;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 100, NULL));
    CHECK_EQ(mpx__shm_tracked_count(), 1);
    mpx_process *p = start_objs_int(t_child_unlinks, s, NULL, 0);
    CHECK_EQ(join_destroy(p), 0);
    CHECK(!shm_exists(mpx_shm_name(s)));
    CHECK_EQ(mpx__shm_tracked_count(), 0);
    CHECK_ERR(mpx_shm_unlink(s), -ENOENT);
    mpx_shm_destroy(s);
}

/* ---- tracking: programs ending ---------------------------------------------------- */

/* A program that creates a tracked and an untracked block and ends
 * normally without unlinking either. */
static int prog_leaves_two(void *arg, int wfd)
{
    (void)arg;
    mpx_shm *t, *u;
    CHECK_OK(mpx_shm_open(&t, NULL, 1, 4096, NULL));
    CHECK_OK(mpx_shm_open(&u, NULL, 1, 4096, &(mpx_shm_opts){.untracked = 1}));
    shm_send(wfd, mpx_shm_name(t));
    shm_send(wfd, mpx_shm_name(u));
    mpx_shm_destroy(t);
    mpx_shm_destroy(u);
    return 0;
}

MPX_TEST(shmem_05_track_false_survives_program)
{
    int rfd;
    pid_t pid = shm_program(prog_leaves_two, NULL, false, &rfd);
    char tracked[128], untracked[128];
    CHECK(shm_recv(rfd, tracked));
    CHECK(shm_recv(rfd, untracked));
    close(rfd);
    CHECK_EQ(shm_program_wait(pid), 0);
    /* the tracked one goes when the program has ended ... */
    CHECK(shm_wait_gone(tracked));
    /* ... the tracker has done its work: the untracked one is still there */
    CHECK(shm_exists(untracked));
    char p[140];
    snprintf(p, sizeof p, "/%s", untracked);
    CHECK_EQ(shm_unlink(p), 0);
}

/* Children of the creator attach, block until released; the creator
 * is killed with SIGKILL (alone, or with its whole process group). */
static int t_attached_wait(const mpx_args *a)
{
    mpx_shm *s = mpx_args_object(a, 0), *own = NULL;
    int ready = mpx_args_fd(a, 1), release = mpx_args_fd(a, 2);
    if (mpx_args_int(a, 3) && mpx_shm_open(&own, mpx_shm_name(s), 0, 0, NULL))
        return 30;
    if (strcmp(mpx_shm_buf(own ? own : s), "data") != 0)
        return 31;
    if (write(ready, "r", 1) != 1)
        return 32;
    char c;
    while (read(release, &c, 1) < 0 && errno == EINTR)
        ;
    mpx_shm_destroy(own);
    return 0;
}

typedef struct kill_setup {
    int ready_w, release_r;
    int ready_r, release_w; /* the test's ends: closed in the program */
} kill_setup;

static int prog_creator_with_children(void *arg, int wfd)
{
    kill_setup *k = arg;
    close(k->ready_r);
    close(k->release_w); /* else fork children would hold it too */
    mpx_shm *s;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 4096, NULL));
    strcpy(mpx_shm_buf(s), "data");
    for (int i = 0; i < 2; i++) {
        mpx_args *a;
        CHECK_OK(mpx_args_create(&a));
        CHECK_OK(mpx_args_add_object(a, s));
        CHECK_OK(mpx_args_add_fd(a, k->ready_w));
        CHECK_OK(mpx_args_add_fd(a, k->release_r));
        CHECK_OK(mpx_args_add_int(a, i)); /* child 1 also attaches by name */
        mpx_process *p = start_args(t_attached_wait, a);
        mpx_args_destroy(a);
        (void)p; /* killed before it would join */
    }
    shm_send(wfd, mpx_shm_name(s));
    for (;;)
        pause();
    return 0;
}

static void sigkill_creator(bool whole_group)
{
    int ready[2], release[2];
    CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
    CHECK_EQ(pipe2(release, O_CLOEXEC), 0);
    kill_setup k = {ready[1], release[0], ready[0], release[1]};
    int rfd;
    pid_t pid = shm_program(prog_creator_with_children, &k, true, &rfd);
    close(ready[1]);
    close(release[0]);
    char name[128];
    CHECK(shm_recv(rfd, name));
    close(rfd);
    char c;
    for (int i = 0; i < 2; i++)
        CHECK_EQ(read(ready[0], &c, 1), 1);
    CHECK_EQ(kill(whole_group ? -pid : pid, SIGKILL), 0);
    CHECK_EQ(shm_program_wait(pid), -SIGKILL);
    if (!whole_group) {
        /* the children still live: the block must stay */
        sleep_ms(200);
        CHECK(shm_exists(name));
        mpx_shm *s;
        CHECK_OK(mpx_shm_open(&s, name, 0, 0, NULL));
        CHECK_STREQ((char *)mpx_shm_buf(s), "data");
        mpx_shm_destroy(s);
    }
    close(release[1]); /* the children end */
    CHECK(shm_wait_gone(name));
    close(ready[0]);
}

MPX_TEST(shmem_05_sigkill_creator_children_attached)
{
    sigkill_creator(false);
}

MPX_TEST(shmem_05_sigkill_process_group)
{
    sigkill_creator(true);
}

/* An unrelated program attaches (and has a tracker of its own) and ends:
 * the block stays; the creator's program then ends and it goes. */
static int prog_creator_waits(void *arg, int wfd)
{
    int release = ((int *)arg)[0];
    close(((int *)arg)[1]); /* the test's end */
    mpx_shm *s;
    CHECK_OK(mpx_shm_open(&s, NULL, 1, 4096, NULL));
    strcpy(mpx_shm_buf(s), "mine");
    shm_send(wfd, mpx_shm_name(s));
    char c;
    while (read(release, &c, 1) < 0 && errno == EINTR)
        ;
    mpx_shm_destroy(s); /* not unlinked: the tracker does it */
    return 0;
}

static int t_attach_by_name(const mpx_args *a)
{
    mpx_shm *s;
    if (mpx_shm_open(&s, mpx_args_str(a, 0), 0, 0, NULL))
        return 40;
    int ok = strcmp(mpx_shm_buf(s), "mine") == 0;
    mpx_shm_destroy(s);
    return ok ? 0 : 41;
}

static int prog_attacher(void *arg, int wfd)
{
    const char *name = arg;
    mpx_shm *s, *own;
    CHECK_OK(mpx_shm_open(&s, name, 0, 0, NULL)); /* attach: track=True has no effect */
    CHECK_STREQ((char *)mpx_shm_buf(s), "mine");
    CHECK_OK(mpx_shm_open(&own, NULL, 1, 64, NULL)); /* a tracker of its own */
    shm_send(wfd, mpx_shm_name(own));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, name));
    mpx_process *p = start_args(t_attach_by_name, a);
    mpx_args_destroy(a);
    CHECK_EQ(join_destroy(p), 0);
    mpx_shm_destroy(s);
    mpx_shm_destroy(own);
    return 0;
}

MPX_TEST(shmem_05_unrelated_attacher_exit_does_not_unlink)
{
    int release[2];
    CHECK_EQ(pipe2(release, O_CLOEXEC), 0);
    int r1, r2;
    pid_t creator = shm_program(prog_creator_waits, release, false, &r1);
    close(release[0]);
    char name[128], other[128];
    CHECK(shm_recv(r1, name));
    close(r1);
    pid_t att = shm_program(prog_attacher, name, false, &r2);
    CHECK(shm_recv(r2, other));
    close(r2);
    CHECK_EQ(shm_program_wait(att), 0);
    CHECK(shm_wait_gone(other)); /* the attacher's tracker has finished */
    CHECK(shm_exists(name));
    close(release[1]);
    CHECK_EQ(shm_program_wait(creator), 0);
    CHECK(shm_wait_gone(name));
}

/* Killed between shm_unlink and clearing its record (simulated with a
 * bare shm_unlink), with the name then taken by another block: the
 * tracker must not remove the newcomer. */
static int prog_unlink_race(void *arg, int wfd)
{
    const char *n = arg;
    char p[140];
    snprintf(p, sizeof p, "/%s", n);
    mpx_shm *s, *m;
    CHECK_OK(mpx_shm_open(&s, n, 1, 4096, NULL));
    CHECK_OK(mpx_shm_open(&m, NULL, 1, 4096, NULL));
    CHECK_EQ(shm_unlink(p), 0);
    int fd = shm_open(p, O_CREAT | O_EXCL | O_RDWR, 0600);
    CHECK(fd >= 0);
    close(fd);
    shm_send(wfd, mpx_shm_name(m));
    mpx_shm_destroy(s);
    mpx_shm_destroy(m);
    return 0;
}

MPX_TEST(shmem_05_tracker_spares_reused_name)
{
    const char *n = shm_test_name("race");
    int rfd;
    pid_t pid = shm_program(prog_unlink_race, (void *)n, false, &rfd);
    char marker[128];
    CHECK(shm_recv(rfd, marker));
    close(rfd);
    CHECK_EQ(shm_program_wait(pid), 0);
    CHECK(shm_wait_gone(marker)); /* the tracker has done its work */
    CHECK(shm_exists(n));
    char p[140];
    snprintf(p, sizeof p, "/%s", n);
    CHECK_EQ(shm_unlink(p), 0);
}

/* The pids of the trackers of this process's table. */
static int find_trackers(pid_t *out, int cap)
{
    struct stat mine;
    int have = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[300], l[300];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, l, sizeof l - 1);
        if (n > 0) {
            l[n] = 0;
            if (strstr(l, "mpx-shm-tracker") && stat(p, &mine) == 0)
                have = 1;
        }
    }
    if (d)
        closedir(d);
    if (!have)
        return 0;
    int found = 0;
    DIR *pd = opendir("/proc");
    while (pd && (e = readdir(pd)) && found < cap) {
        pid_t pid = atoi(e->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        char p[300], cmd[512] = {0};
        snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, cmd, sizeof cmd - 1);
        close(fd);
        bool tracker = false;
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmd + i) + 1)
            if (!strcmp(cmd + i, "--mpx-shm-tracker"))
                tracker = true;
        if (!tracker)
            continue;
        snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
        DIR *fdd = opendir(p);
        struct dirent *f;
        while (fdd && (f = readdir(fdd))) {
            char q[600];
            struct stat st;
            snprintf(q, sizeof q, "%s/%s", p, f->d_name);
            if (stat(q, &st) == 0 && st.st_ino == mine.st_ino && st.st_dev == mine.st_dev) {
                out[found++] = pid;
                break;
            }
        }
        if (fdd)
            closedir(fdd);
    }
    if (pd)
        closedir(pd);
    return found;
}

/* The tracker is killed: the next tracked create starts another, which
 * unlinks the blocks made before and after. Forked children that start
 * it at the same moment leave one tracker. */
static int t_create_one(const mpx_args *a)
{
    mpx_shm *s;
    int rc = mpx_shm_open(&s, NULL, 1, 64, NULL);
    if (rc)
        return 50;
    int wfd = mpx_args_fd(a, 0);
    shm_send(wfd, mpx_shm_name(s));
    mpx_shm_destroy(s);
    return 0;
}

static int prog_kill_tracker(void *arg, int wfd)
{
    (void)arg;
    mpx_shm *a;
    CHECK_OK(mpx_shm_open(&a, NULL, 1, 64, NULL));
    shm_send(wfd, mpx_shm_name(a));
    pid_t t[4];
    CHECK_EQ(find_trackers(t, 4), 1);
    CHECK_EQ(kill(t[0], SIGKILL), 0);
    for (int i = 0; i < 500 && find_trackers(t, 4) > 0; i++)
        sleep_ms(10);
    CHECK_EQ(find_trackers(t, 4), 0);
    /* four children race to start the next one */
    mpx_process *p[4];
    for (int i = 0; i < 4; i++) {
        mpx_args *args;
        CHECK_OK(mpx_args_create(&args));
        CHECK_OK(mpx_args_add_fd(args, wfd));
        p[i] = start_args(t_create_one, args);
        mpx_args_destroy(args);
    }
    for (int i = 0; i < 4; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    CHECK_EQ(find_trackers(t, 4), 1);
    mpx_shm_destroy(a);
    return 0;
}

MPX_TEST(shmem_05_killed_tracker_is_replaced)
{
    int rfd;
    pid_t pid = shm_program(prog_kill_tracker, NULL, false, &rfd);
    char names[5][128];
    int n = 0;
    while (n < 5 && shm_recv(rfd, names[n]))
        n++;
    close(rfd);
    CHECK_EQ(shm_program_wait(pid), 0);
    CHECK_EQ(n, 5);
    for (int i = 0; i < n; i++)
        CHECK(shm_wait_gone(names[i]));
}

/* ---- SharedMemoryManager (SHMEM-07) ------------------------------------------------- */

MPX_TEST(shmem_07_manager_shutdown_unlinks)
{
    mpx_shm_manager *m;
    mpx_shm *s, *t;
    mpx_shareable_list *l;
    CHECK_OK(mpx_shm_manager_create(&m));
    CHECK_ERR(mpx_shm_manager_shared_memory(m, 64, &s), MPX_ESTATE); /* not started */
    CHECK_OK(mpx_shm_manager_start(m));
    CHECK_ERR(mpx_shm_manager_start(m), MPX_ESTATE);
    CHECK_ERR(mpx_shm_manager_shared_memory(m, 0, &s), MPX_EINVAL);
    CHECK_OK(mpx_shm_manager_shared_memory(m, 128, &s));
    CHECK_OK(mpx_shm_manager_shared_memory(m, 4096, &t));
    mpx_sl_item items[] = {mpx_sl_int(7), mpx_sl_str("x")};
    CHECK_OK(mpx_shm_manager_shareable_list(m, items, 2, &l));
    char ns[32], nt[32], nl[32];
    snprintf(ns, sizeof ns, "%s", mpx_shm_name(s));
    snprintf(nt, sizeof nt, "%s", mpx_shm_name(t));
    snprintf(nl, sizeof nl, "%s", mpx_shm_name(mpx_shareable_list_shm(l)));
    CHECK(shm_exists(ns) && shm_exists(nt) && shm_exists(nl));
    /* one of them unlinked by its user already: skipped at shutdown */
    CHECK_OK(mpx_shm_unlink(t));
    CHECK_OK(mpx_shm_manager_shutdown(m));
    CHECK(!shm_exists(ns) && !shm_exists(nl));
    /* the mappings stay valid */
    int64_t v;
    CHECK_OK(mpx_shareable_list_get_int(l, 0, &v));
    CHECK_EQ(v, 7);
    CHECK_OK(mpx_shm_manager_shutdown(m)); /* again: nothing */
    CHECK_ERR(mpx_shm_manager_shared_memory(m, 64, &t), MPX_ESTATE);
    CHECK_ERR(mpx_shm_manager_start(m), MPX_ESTATE);
    mpx_shm_destroy(s);
    mpx_shm_destroy(t);
    mpx_shareable_list_destroy(l);
    mpx_shm_manager_destroy(m);
    CHECK_EQ(mpx__shm_tracked_count(), 0);
    /* destroy of a started manager shuts it down (the end of `with`) */
    CHECK_OK(mpx_shm_manager_create(&m));
    CHECK_OK(mpx_shm_manager_start(m));
    CHECK_OK(mpx_shm_manager_shared_memory(m, 64, &s));
    snprintf(ns, sizeof ns, "%s", mpx_shm_name(s));
    mpx_shm_manager_destroy(m);
    CHECK(!shm_exists(ns));
    mpx_shm_destroy(s);
    /* bad handles */
    CHECK_ERR(mpx_shm_manager_create(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_manager_start(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_manager_shutdown(NULL), MPX_EINVAL);
    CHECK_ERR(mpx_shm_manager_shared_memory(NULL, 8, &s), MPX_EINVAL);
    CHECK_ERR(mpx_shm_manager_shareable_list(NULL, NULL, 0, &l), MPX_EINVAL);
    mpx_shm_manager_destroy(NULL);
}

static int t_manager_in_child(const mpx_args *a)
{
    (void)a;
    return 0;
}

/* A fork copy of a manager refuses to act for it; killing the program
 * still removes the manager's blocks (they are tracked). */
static int prog_manager_killed(void *arg, int wfd)
{
    (void)arg;
    mpx_shm_manager *m;
    mpx_shm *s;
    mpx_shareable_list *l;
    CHECK_OK(mpx_shm_manager_create(&m));
    CHECK_OK(mpx_shm_manager_start(m));
    CHECK_OK(mpx_shm_manager_shared_memory(m, 64, &s));
    mpx_sl_item items[] = {mpx_sl_none()};
    CHECK_OK(mpx_shm_manager_shareable_list(m, items, 1, &l));
    pid_t c = fork();
    if (c == 0) {
        mpx_shm *x;
        int ok = mpx_shm_manager_shared_memory(m, 64, &x) == MPX_ESTATE &&
                 mpx_shm_manager_shutdown(m) == MPX_ESTATE;
        _exit(ok ? 0 : 1);
    }
    CHECK_EQ(shm_program_wait(c), 0);
    CHECK(shm_exists(mpx_shm_name(s)));
    mpx_process *p = start_args(t_manager_in_child, NULL);
    CHECK_EQ(join_destroy(p), 0);
    shm_send(wfd, mpx_shm_name(s));
    shm_send(wfd, mpx_shm_name(mpx_shareable_list_shm(l)));
    for (;;)
        pause();
    return 0;
}

MPX_TEST(shmem_07_manager_blocks_go_when_killed)
{
    int rfd;
    pid_t pid = shm_program(prog_manager_killed, NULL, true, &rfd);
    char a[128], b[128];
    CHECK(shm_recv(rfd, a));
    CHECK(shm_recv(rfd, b));
    close(rfd);
    CHECK_EQ(kill(-pid, SIGKILL), 0);
    CHECK_EQ(shm_program_wait(pid), -SIGKILL);
    CHECK(shm_wait_gone(a));
    CHECK(shm_wait_gone(b));
}
