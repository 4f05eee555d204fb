/* test_log.c - logging (LOG-01..07). */
#include "harness.h"

#include <fcntl.h>
#include <unistd.h>

struct capture {
    int n;
    int level;
    char pname[64];
    char msg[256];
};

static void handler(int level, const char *pname, const char *msg, void *ud)
{
    struct capture *c = ud;
    c->n++;
    c->level = level;
    snprintf(c->pname, sizeof c->pname, "%s", pname);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

MPX_TEST(log_02_off_by_default)
{
    if (getenv("MPX_LOG_LEVEL"))
        MPX_SKIP("MPX_LOG_LEVEL is set");
    CHECK_EQ(mpx_log_get_level(), MPX_LOG_NOTSET);
}

MPX_TEST(log_07_handler_levels_and_process_name)
{
    struct capture c = {0};
    CHECK_OK(mpx_log_set_handler(handler, &c));
    CHECK_OK(mpx_log_set_level(MPX_LOG_INFO));
    mpx_log(MPX_LOG_DEBUG, "hidden %d", 1);
    CHECK_EQ(c.n, 0);
    mpx_log(MPX_LOG_WARNING, "doomed %d", 7);
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.level, MPX_LOG_WARNING);
    CHECK_STREQ(c.msg, "doomed 7");
    CHECK_STREQ(c.pname, "MainProcess");
    CHECK_OK(mpx_log_set_level(MPX_LOG_SUBDEBUG));
    mpx_log(MPX_LOG_SUBDEBUG, "deep");
    CHECK_EQ(c.n, 2);
    CHECK_ERR(mpx_log_set_level(-1), MPX_EINVAL);
    CHECK_OK(mpx_log_set_handler(NULL, NULL));
    mpx_log(MPX_LOG_CRITICAL, "nobody listens");
    CHECK_EQ(c.n, 2);
}

MPX_TEST(log_06_level_names)
{
    CHECK_STREQ(mpx_log_level_name(5), "SUBDEBUG");
    CHECK_STREQ(mpx_log_level_name(25), "SUBWARNING");
    CHECK_STREQ(mpx_log_level_name(10), "DEBUG");
    CHECK_STREQ(mpx_log_level_name(17), "Level 17");
    CHECK_EQ(mpx_log_level_parse("subdebug"), 5);
    CHECK_EQ(mpx_log_level_parse("SUBWARNING"), 25);
    CHECK_EQ(mpx_log_level_parse("15"), 15);
    CHECK_ERR(mpx_log_level_parse("loud"), MPX_EINVAL);
    CHECK_ERR(mpx_log_level_parse(""), MPX_EINVAL);
}

static int t_logs(const mpx_args *a)
{
    (void)a;
    mpx_log(MPX_LOG_INFO, "from the child");
    return 0;
}

/* LOG-04, LOG-05: stderr format "[LEVEL/ProcessName] message", the
 * library's own events, one write per record. */
MPX_TEST(log_04_to_stderr_format_and_internal_events)
{
    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    int saved = dup(2);
    dup2(pfd[1], 2);
    CHECK_OK(mpx_log_to_stderr(MPX_LOG_DEBUG));
    mpx_log(MPX_LOG_WARNING, "doomed");
    mpx_process_opts o = {.name = "logger-child"};
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, t_logs, NULL, &o));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    mpx_process_destroy(p);
    CHECK_OK(mpx_log_set_handler(NULL, NULL));
    dup2(saved, 2);
    close(saved);
    close(pfd[1]);
    char buf[8192] = {0};
    size_t len = 0;
    ssize_t r;
    while ((r = read(pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(pfd[0]);
    CHECK(strstr(buf, "[WARNING/MainProcess] doomed\n"));
    CHECK(strstr(buf, "[INFO/logger-child] child process calling self.run()\n"));
    CHECK(strstr(buf, "[INFO/logger-child] from the child\n"));
    CHECK(strstr(buf, "[INFO/logger-child] process exiting with exitcode 0\n"));
    CHECK(strstr(buf, "[DEBUG/MainProcess] started process logger-child"));
}
