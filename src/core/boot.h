/*
 * core/boot.h - the bootstrap of spawn and forkserver children (see
 * docs/start-methods.md, "Bootstrap protocol").
 *
 * A spawn child is the program re-executed with MPX_SPAWN_FD=3 in its
 * environment: a stream socket on fd 3 carries one blob (u64 length +
 * bytes) from the parent, and the descriptors the child needs are on fds
 * 4..4+n-1. A library constructor sees the variable before main() and
 * never returns to it. The child answers with one status record.
 *
 * A fork server is spawned the same way with a SERVER blob; its children
 * receive a CHILD blob over the server's control socket and are forked
 * from it.
 */
#ifndef MPX_CORE_BOOT_H
#define MPX_CORE_BOOT_H

#include "core/process_internal.h"

#define MPX__BOOT_MAGIC 0x4258504du /* "MPXB" */
#define MPX__BOOT_VERSION 2
#define MPX__BOOT_ENV "MPX_SPAWN_FD"
#define MPX__BOOT_FD 3
#define MPX__BOOT_MAX (1u << 30) /* largest blob accepted */

enum { MPX__BOOT_CHILD = 1, MPX__BOOT_SERVER = 2 };

/* Status records (8 bytes) from a starting child or the fork server. */
typedef struct mpx__boot_rec {
    int32_t kind;  /* one of the MPX__REC_* below */
    int32_t value; /* STARTED: 0 or an error; PID: pid; EXIT: wait status */
} mpx__boot_rec;
enum { MPX__REC_STARTED = 'S', MPX__REC_PID = 'P', MPX__REC_EXIT = 'X' };

int mpx__boot_send_rec(int fd, int kind, int value);

/* Is this a spawn child or fork server still starting up (constructors
 * running)? Starting a process then is refused (GUIDE-12). */
bool mpx__boot_in_progress(void);

/* Parent side: the CHILD blob for p (header included). The descriptors of
 * the arguments are appended to fds (borrowed). */
int mpx__boot_encode_child(mpx_process *p, mpx__buf *out, mpx__fdlist *fds);
/* The header of a blob. */
int mpx__boot_put_header(mpx__buf *out, int mode);

/*
 * Child side: rebuild the process from a CHILD blob (header included),
 * report on status_fd (closed afterwards), run the target and exit.
 * fds are the received descriptors (owned). real_parent is the pid of
 * the process that is really our parent (the fork server under
 * forkserver). Never returns.
 */
__attribute__((noreturn)) void mpx__boot_child(const void *blob, size_t len, int *fds, int nfds,
                                               int status_fd, pid_t real_parent);

/* Called by the library constructor: when MPX_SPAWN_FD is set, run the
 * spawned child or fork server and never return. */
void mpx__boot_from_env(int argc, char **argv, char **envp, void *self_ctor);

/* Spawn the executable with blob on fd 3 and fds on 4.. (popen_spawn.c);
 * waits for the STARTED record. On success *pid is the child's pid.
 * keep_fd (or -1) is inherited after those, unknown to the child: the
 * write end of a sentinel pipe where there is no pidfd. */
int mpx__spawn_program(const mpx__buf *blob, const int *fds, int nfds, int keep_fd, pid_t *pid);

/* The fork server's main loop (popen_forkserver.c). in is positioned
 * after the header; ctl is the control socket. Never returns. */
__attribute__((noreturn)) void mpx__forkserver_main(int boot_fd, int ctl, mpx__rd *in);

#endif
