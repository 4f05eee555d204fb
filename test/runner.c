/*
 * runner.c - runs every registered test in its own process with a time
 * limit, in parallel jobs, and ends with "N passed, N failed[, N skipped]".
 *
 *   mpx_test [--jobs N] [--start METHOD] [--list] [--timeout-scale X]
 *            [--one NAME] [--skip-once] [PATTERN...]
 *
 * --skip-once leaves out the tests declared with MPX_TEST_ONCE (those whose
 * behaviour does not depend on the default start method): test/run-tests
 * --start all runs them under the first method only.
 * PATTERN selects tests whose name contains it. --one runs a single test in
 * this process (for gdb and valgrind). Each test runs in a new process group;
 * when it ends, anything left in the group is a failure ("left processes
 * behind") and is killed. Open descriptors are compared before and after
 * the body: a leaked descriptor fails the test.
 */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static mpx_test_case *tests_head;
static size_t ntests;
static const char *start_method = "fork";
static const char *current_name = "";

void mpx_test_register(mpx_test_case *tc)
{
    tc->next = tests_head;
    tests_head = tc;
    ntests++;
}

void mpx_test_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: %s: %s [pid %d]\n", file, line, current_name, msg, (int)getpid());
    fflush(NULL);
    _exit(1);
}

void mpx_test_skip(const char *why)
{
    fprintf(stderr, "SKIP %s: %s\n", current_name, why);
    fflush(NULL);
    _exit(77);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MPX_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MPX_TEST_SANITIZED 1
#endif
#endif

bool mpx_test_sanitized(void)
{
#ifdef MPX_TEST_SANITIZED
    return true;
#else
    const char *p = getenv("LD_PRELOAD");
    return (p && strstr(p, "valgrind")) || getenv("MPX_TEST_VALGRIND") != NULL;
#endif
}

const char *mpx_test_start_method(void)
{
    return start_method;
}

int64_t mpx_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *mpx_test_tmp_path(const char *suffix)
{
    static char buf[512];
    static int seq;
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/mpxt-%d-%d%s", tmp && *tmp ? tmp : "/tmp", (int)getpid(), seq++,
             suffix ? suffix : "");
    return buf;
}

static int cmp_case(const void *a, const void *b)
{
    const mpx_test_case *x = *(mpx_test_case *const *)a, *y = *(mpx_test_case *const *)b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->line - y->line;
}

/* Bitmap of open fds (up to 1024), taken before and after a test body. */
static void fd_snapshot(unsigned char *map, size_t bytes)
{
    memset(map, 0, bytes);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd == self || fd < 0 || (size_t)fd >= bytes * 8)
            continue;
        map[fd / 8] |= (unsigned char)(1u << (fd % 8));
    }
    closedir(d);
}

static void describe_fd(int fd, char *out, size_t cap)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, out, cap - 1);
    out[n > 0 ? n : 0] = 0;
}

/* Descriptors the library keeps for the life of the process (the fork
 * server connection, ...): not leaks. Declared weak so the runner links
 * before that exists. */
extern int mpx__fd_is_internal(int fd) __attribute__((weak));

static void run_body(mpx_test_case *tc)
{
    unsigned char before[128], after[128];
    current_name = tc->name;
    fd_snapshot(before, sizeof before);
    tc->fn();
    fflush(NULL);
    fd_snapshot(after, sizeof after);
    for (int fd = 0; fd < 1024; fd++) {
        bool b = before[fd / 8] & (1u << (fd % 8)), a = after[fd / 8] & (1u << (fd % 8));
        if (a && !b && !(mpx__fd_is_internal && mpx__fd_is_internal(fd))) {
            char what[256];
            describe_fd(fd, what, sizeof what);
            mpx_test_fail(tc->file, tc->line, "descriptor %d (%s) left open", fd, what);
        }
    }
}

typedef struct slot {
    mpx_test_case *tc;
    pid_t pid;
    int64_t deadline_ms;
    int64_t started_ms;
} slot;

/* Print the members of process group pgid: pid, state, parent, command. */
static void list_group(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0, pgrp = 0;
        char st = '?';
        if (rp && sscanf(rp + 2, "%c %d %d", &st, &ppid, &pgrp) == 3 && pgrp == pgid)
            printf("#    left: pid %s state %c ppid %d %.*s\n", e->d_name, st, ppid,
                   (int)(rp - buf + 1), buf);
    }
    if (d)
        closedir(d);
}

static int finish(slot *s, int status, bool timed_out, int *passed, int *failed, int *skipped)
{
    int64_t ms = mpx_test_now_ms() - s->started_ms;
    /* Anything still in the test's process group was left behind. */
    bool leftovers = false;
    for (int i = 0; i < 100 && kill(-s->pid, 0) == 0; i++) {
        /* Orphans of the test (a fork server whose client died, a
         * grandchild whose parent was killed) are reparented to us, the
         * subreaper: reap those that have ended. */
        while (waitpid(-s->pid, NULL, WNOHANG) > 0)
            ;
        if (kill(-s->pid, 0) != 0)
            break;
        if (i == 0 && getenv("MPX_TEST_DEBUG_LEFT") && printf("# runner %d test %d\n", (int)getpid(), (int)s->pid))
            list_group(s->pid);
        leftovers = true;
        /* Give exiting daemonic children a moment to go. */
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
        leftovers = kill(-s->pid, 0) == 0;
    }
    if (leftovers) {
        list_group(s->pid);
        kill(-s->pid, SIGKILL);
    }
    if (timed_out) {
        printf("FAIL %s (%s:%d) timed out after %d s\n", s->tc->name, s->tc->file, s->tc->line,
               s->tc->timeout_s);
        (*failed)++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("skip %s\n", s->tc->name);
        (*skipped)++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !leftovers) {
        printf("ok   %s (%lld ms)\n", s->tc->name, (long long)ms);
        (*passed)++;
    } else {
        if (leftovers)
            printf("FAIL %s (%s:%d) left processes behind\n", s->tc->name, s->tc->file,
                   s->tc->line);
        else if (WIFSIGNALED(status))
            printf("FAIL %s (%s:%d) killed by signal %d (%s)\n", s->tc->name, s->tc->file,
                   s->tc->line, WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            printf("FAIL %s (%s:%d) exit status %d\n", s->tc->name, s->tc->file, s->tc->line,
                   WEXITSTATUS(status));
        (*failed)++;
    }
    fflush(stdout);
    return 0;
}

static pid_t launch(mpx_test_case *tc)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        setpgid(0, 0);
        run_body(tc);
        fflush(NULL);
        exit(0); /* exit, not _exit: the library's exit handlers must run */
    }
    setpgid(pid, pid);
    return pid;
}

/* A pattern matches names containing it; "=NAME" matches NAME only. */
static bool matches(const char *name, int npat, char **pats)
{
    if (npat == 0)
        return true;
    for (int i = 0; i < npat; i++)
        if (pats[i][0] == '=' ? !strcmp(name, pats[i] + 1) : strstr(name, pats[i]) != NULL)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    int jobs = 1;
    double scale = 1.0;
    bool list = false, skip_once = false;
    const char *one = NULL;
    char **pats = calloc((size_t)argc, sizeof *pats);
    int npat = 0;
    const char *env = getenv("MPX_START_METHOD");
    if (env && *env)
        start_method = env;
    env = getenv("MPX_TEST_TIMEOUT_SCALE");
    if (env && *env)
        scale = atof(env);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
            jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--start") && i + 1 < argc)
            start_method = argv[++i];
        else if (!strcmp(argv[i], "--timeout-scale") && i + 1 < argc)
            scale = atof(argv[++i]);
        else if (!strcmp(argv[i], "--list"))
            list = true;
        else if (!strcmp(argv[i], "--skip-once"))
            skip_once = true;
        else if (!strcmp(argv[i], "--one") && i + 1 < argc)
            one = argv[++i];
        else
            pats[npat++] = argv[i];
    }
    if (jobs < 1)
        jobs = 1;
    if (scale <= 0)
        scale = 1.0;
    /* The library reads the start method from the environment; children
     * started by spawn inherit it. */
    setenv("MPX_START_METHOD", start_method, 1);

    mpx_test_case **all = calloc(ntests ? ntests : 1, sizeof *all);
    size_t n = 0;
    for (mpx_test_case *t = tests_head; t; t = t->next)
        all[n++] = t;
    qsort(all, n, sizeof *all, cmp_case);

    if (list) {
        for (size_t i = 0; i < n; i++)
            if (matches(all[i]->name, npat, pats))
                printf("%s\n", all[i]->name);
        return 0;
    }
    if (one) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(all[i]->name, one)) {
                mpx_test_case *tc = all[i];
                free(all); /* so that valgrind sees no leak */
                free(pats);
                run_body(tc);
                printf("ok   %s\n", one);
                return 0;
            }
        fprintf(stderr, "no test named %s\n", one);
        free(all);
        free(pats);
        return 2;
    }

    /* Orphaned processes of the tests become our children, so that the
     * leftover check does not count zombies waiting for init. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    printf("# mpx tests, start method %s, %d job(s)\n", start_method, jobs);
    fflush(stdout);
    int passed = 0, failed = 0, skipped = 0;
    /* An exact name that names no test (a list gone stale) fails. */
    for (int i = 0; i < npat; i++) {
        if (pats[i][0] != '=')
            continue;
        size_t k = 0;
        while (k < n && strcmp(all[k]->name, pats[i] + 1) != 0)
            k++;
        if (k == n) {
            printf("FAIL %s: no such test\n", pats[i] + 1);
            failed++;
        }
    }
    slot *slots = calloc((size_t)jobs, sizeof *slots);
    size_t next = 0;
    int running = 0;
    for (;;) {
        while (running < jobs && next < n) {
            mpx_test_case *tc = all[next++];
            if (!matches(tc->name, npat, pats) || (skip_once && tc->once))
                continue;
            for (int j = 0; j < jobs; j++)
                if (!slots[j].tc) {
                    slots[j].tc = tc;
                    slots[j].started_ms = mpx_test_now_ms();
                    slots[j].deadline_ms =
                        slots[j].started_ms + (int64_t)(tc->timeout_s * 1000 * scale);
                    slots[j].pid = launch(tc);
                    running++;
                    break;
                }
        }
        if (running == 0)
            break;
        int status;
        pid_t r = waitpid(-1, &status, WNOHANG);
        if (r > 0) {
            for (int j = 0; j < jobs; j++)
                if (slots[j].tc && slots[j].pid == r) {
                    finish(&slots[j], status, false, &passed, &failed, &skipped);
                    slots[j].tc = NULL;
                    running--;
                }
            continue;
        }
        int64_t now = mpx_test_now_ms();
        for (int j = 0; j < jobs; j++)
            if (slots[j].tc && now > slots[j].deadline_ms) {
                kill(-slots[j].pid, SIGKILL);
                waitpid(slots[j].pid, &status, 0);
                finish(&slots[j], status, true, &passed, &failed, &skipped);
                slots[j].tc = NULL;
                running--;
            }
        struct timespec t = {0, 2 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    free(slots);
    free(all);
    free(pats);
    return failed ? 1 : 0;
}
