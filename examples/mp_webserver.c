/*
 * mp_webserver.c - the seed's pool of HTTP servers sharing one listening
 * socket (EX-41, "An example of how a pool of worker processes can each run
 * a SimpleHTTPServer.HttpServer instance while sharing a single listening
 * socket"):
 *
 *     def note(format, *args):
 *         sys.stderr.write('[%s]\t%s\n' % (current_process().name, format % args))
 *     def serve_forever(server):
 *         note('starting server')
 *         server.serve_forever()
 *     def runpool(address, number_of_processes):
 *         server = HTTPServer(address, RequestHandler)
 *         for i in range(number_of_processes - 1):
 *             Process(target=serve_forever, args=(server,)).start()
 *         serve_forever(server)            # the main process serves too
 *
 * Here the socket listens on 127.0.0.1 with a port the system picks (the
 * original used localhost:8000 and ran until Ctrl-C). Three child processes
 * and the main process accept connections on that one socket and serve the
 * files of a temporary directory, each logging the requests it handled.
 * A client process fetches a few files with a real HTTP client (curl, or
 * Python's urllib when curl is missing), prints what it got and sets a
 * stop event; every server then leaves its (bounded) loop, the children
 * are joined and the directory removed.
 *
 *     build/examples/mp_webserver     (start method: MPX_START_METHOD)
 */
#include <mpx.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NUMBER_OF_PROCESSES 4
#define MAX_REQUESTS 100 /* per server: the loop is bounded */

extern char **environ;

/* '[ProcessName]\tmessage', one write per line so that lines of several
 * processes do not mix. */
static void note(const char *fmt, ...)
{
    char msg[512], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = snprintf(line, sizeof line, "[%s]\t%s\n", mpx_process_name(mpx_current_process()), msg);
    if (n > 0 && write(STDOUT_FILENO, line, (size_t)n) < 0)
        return;
}

/* ---- the server ------------------------------------------------------------ */

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0 && errno != EINTR)
            return;
        if (w > 0) {
            c += w;
            n -= (size_t)w;
        }
    }
}

/* One request: GET of a file of docroot. */
static void handle(int c, const char *docroot)
{
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1) {
        ssize_t r = recv(c, req + len, sizeof req - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        req[len] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[len] = 0;
    char line[256] = "", method[16] = "", path[200] = "";
    sscanf(req, "%255[^\r\n]", line);
    sscanf(line, "%15s %199s", method, path);
    const char *name = !strcmp(path, "/") ? "index.html" : path + 1;
    int status = 404;
    char *body = NULL;
    long size = 0;
    /* only plain file names of the directory */
    if (!strcmp(method, "GET") && path[0] == '/' && !strchr(name, '/') && strcmp(name, "..") &&
        name[0] != '.') {
        char file[600];
        snprintf(file, sizeof file, "%s/%s", docroot, name);
        FILE *f = fopen(file, "rb");
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
            fseek(f, 0, SEEK_SET) == 0 && (body = malloc((size_t)size + 1)) &&
            fread(body, 1, (size_t)size, f) == (size_t)size)
            status = 200;
        if (f)
            fclose(f);
    }
    if (status != 200) {
        free(body);
        body = strdup("<html><body>404 Not Found</body></html>\n");
        size = body ? (long)strlen(body) : 0;
    }
    const char *type = strstr(name, ".html") ? "text/html" : "text/plain";
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.0 %d %s\r\nServer: mpx-example\r\nContent-Type: %s\r\n"
                      "Content-Length: %ld\r\nConnection: close\r\n\r\n",
                      status, status == 200 ? "OK" : "Not Found", type, size);
    send_all(c, head, (size_t)hn);
    if (body)
        send_all(c, body, (size_t)size);
    free(body);
    note("127.0.0.1 \"%s\" %d %ld", line, status, size);
}

/* Serve on the shared socket until the stop event is set, at most
 * MAX_REQUESTS requests. */
static int serve_forever(const mpx_args *a)
{
    int lfd = mpx_args_fd(a, 0);
    const char *docroot = mpx_args_str(a, 1);
    mpx_event *stop = mpx_args_object(a, 2);
    note("starting server");
    int served = 0;
    while (served < MAX_REQUESTS && mpx_event_is_set(stop) == 0) {
        struct pollfd pfd = {lfd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        /* The socket is non-blocking: when another process took the
         * connection first, accept says EAGAIN and we poll again. */
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        handle(c, docroot);
        close(c);
        served++;
    }
    note("stopping after %d request(s)", served);
    return 0;
}

/* ---- the client ------------------------------------------------------------ */

static const char *const urllib_script =
    "import sys, urllib.request, urllib.error\n"
    "try:\n"
    "    r = urllib.request.urlopen(sys.argv[1], timeout=10); b = r.read(); c = r.status\n"
    "except urllib.error.HTTPError as e:\n"
    "    b = e.read(); c = e.code\n"
    "sys.stdout.write(b.decode('latin-1') + '\\n' + str(c))\n";

/* Fetch url with curl (or python3): the body and the status code, -1 when
 * no client could run. */
static int fetch(const char *url, char *body, size_t cap, const char **client)
{
    char *curl[] = {"curl", "-s", "-S", "--max-time", "10", "-w", "\n%{http_code}",
                    (char *)url, NULL};
    char *py[] = {"python3", "-c", (char *)urllib_script, (char *)url, NULL};
    char **argvs[] = {curl, py};
    for (int k = 0; k < 2; k++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -1;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
        pid_t pid;
        int rc = posix_spawnp(&pid, argvs[k][0], &fa, NULL, argvs[k], environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (rc) {
            close(p[0]);
            continue; /* not installed: try the next client */
        }
        size_t len = 0;
        ssize_t r;
        while (len < cap - 1 && (r = read(p[0], body + len, cap - 1 - len)) != 0)
            if (r > 0)
                len += (size_t)r;
            else if (errno != EINTR)
                break;
        body[len] = 0;
        close(p[0]);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        char *nl = strrchr(body, '\n');
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !nl)
            return -1;
        *nl = 0;
        *client = argvs[k][0];
        return atoi(nl + 1);
    }
    return -1;
}

static int client(const mpx_args *a)
{
    int port = (int)mpx_args_int(a, 0);
    mpx_event *stop = mpx_args_object(a, 1);
    const char *paths[] = {"/", "/hello.txt", "/missing.html", "/hello.txt", "/", "/hello.txt"};
    const int want[] = {200, 200, 404, 200, 200, 200};
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        char url[128], body[8192];
        const char *how = "?";
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, paths[i]);
        int code = fetch(url, body, sizeof body, &how);
        body[strcspn(body, "\n")] = 0;
        if (code < 0)
            note("GET %s failed (neither curl nor python3 could fetch it)", paths[i]);
        else
            note("%s GET %s -> %d: %.60s", how, paths[i], code, body);
        bad |= code != want[i];
    }
    mpx_event_set(stop);
    return bad;
}

/* ---- main -------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fputs(text, f);
    return fclose(f) ? -errno : 0;
}

static void remove_docroot(const char *dir)
{
    const char *names[] = {"index.html", "hello.txt"};
    char path[600];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    char docroot[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(docroot, sizeof docroot, "%s/mpx-www-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(docroot)) {
        perror("mp_webserver: mkdtemp");
        return 1;
    }
    int rc = write_file(docroot, "index.html",
                        "<html><body><h1>Served by a pool of mpx processes</h1></body></html>\n");
    if (!rc)
        rc = write_file(docroot, "hello.txt", "Hello from one of the server processes.\n");

    /* One listening socket for every server process. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (!rc && (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
                listen(lfd, 128) < 0 || getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0))
        rc = -errno;
    int port = ntohs(sa.sin_port);
    mpx_event *stop = NULL;
    if (!rc)
        rc = mpx_event_create(&stop, NULL);
    mpx_args *sargs = NULL;
    if (!rc)
        rc = mpx_args_create(&sargs);
    if (!rc)
        rc = mpx_args_add_fd(sargs, lfd);
    if (!rc)
        rc = mpx_args_add_str(sargs, docroot);
    if (!rc)
        rc = mpx_args_add_object(sargs, stop);
    if (!rc)
        printf("Serving at http://127.0.0.1:%d using %d processes\n", port,
               NUMBER_OF_PROCESSES);
    fflush(stdout);

    mpx_process *procs[NUMBER_OF_PROCESSES];
    int nprocs = 0;
    for (int i = 0; !rc && i < NUMBER_OF_PROCESSES - 1; i++) {
        rc = mpx_process_create(&procs[nprocs], serve_forever, sargs, NULL);
        if (!rc && (rc = mpx_process_start(procs[nprocs])) != 0)
            mpx_process_destroy(procs[nprocs]);
        if (!rc)
            nprocs++;
    }
    mpx_args *cargs = NULL;
    if (!rc)
        rc = mpx_args_create(&cargs);
    if (!rc)
        rc = mpx_args_add_int(cargs, port);
    if (!rc)
        rc = mpx_args_add_object(cargs, stop);
    if (!rc)
        rc = mpx_process_create(&procs[nprocs], client, cargs,
                                &(mpx_process_opts){.name = "Client"});
    if (!rc && (rc = mpx_process_start(procs[nprocs])) != 0)
        mpx_process_destroy(procs[nprocs]);
    if (!rc)
        nprocs++;
    mpx_args_destroy(cargs);

    /* The main process also acts as a server (until the client is done). */
    if (!rc)
        serve_forever(sargs);
    else if (stop)
        mpx_event_set(stop); /* let the started servers go */
    int bad = rc != 0;
    for (int i = 0; i < nprocs; i++) {
        int code = -1;
        mpx_process_join(procs[i], MPX_FOREVER);
        mpx_process_exitcode(procs[i], &code);
        bad |= code != 0;
        mpx_process_destroy(procs[i]);
    }
    mpx_args_destroy(sargs);
    mpx_event_destroy(stop);
    if (lfd >= 0)
        close(lfd);
    remove_docroot(docroot);
    if (rc)
        fprintf(stderr, "mp_webserver: %s\n", mpx_strerror(rc));
    else
        printf("%s\n", bad ? "a server or the client failed" : "all servers stopped cleanly");
    return bad;
}
