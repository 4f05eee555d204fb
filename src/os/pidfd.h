/*
 * os/pidfd.h - process handles (pidfds, Linux 5.3+).
 *
 * Every pidfd in mpx is made and used here: a descriptor that refers to one
 * process and cannot be confused with a later process of the same pid. It
 * becomes readable when the process ends (a zombie, or gone), signals sent
 * through it reach that process only, and pidfd_getfd copies one of its
 * descriptors.
 *
 * Whether the running kernel has pidfd_open is probed once per process
 * (not under valgrind 3.19, for one; not before Linux 5.3) and remembered:
 * after a failure with ENOSYS no call is made again. Callers keep their
 * fallback for the 0 answer (a sentinel pipe, waitpid, kill): see
 * core/popen_fork.c.
 *
 * Threads: safe (the probe result is one atomic word). Fork: the probe
 * result is inherited, which is right (same kernel).
 */
#ifndef MPX_OS_PIDFD_H
#define MPX_OS_PIDFD_H

#include <sys/types.h>

/* 1 when pidfds work here, 0 when not; the first call probes (opens and
 * closes a pidfd of the calling process). */
int mpx__pidfd_supported(void);

/* A pidfd of pid (close-on-exec), or -errno; -ENOSYS at once when the
 * probe (or an earlier call) found no pidfd_open. A successful call also
 * settles the probe. */
int mpx__pidfd_open(pid_t pid);

/* Send sig to the process of pidfd: 0 or -errno (-ENOSYS without
 * pidfd_send_signal, Linux < 5.1 or valgrind). */
int mpx__pidfd_send_signal(int pidfd, int sig);

/* A copy of descriptor fd of the process of pidfd, close-on-exec, or
 * -errno (-ENOSYS without pidfd_getfd, Linux < 5.6). Needs ptrace access
 * to that process (PTRACE_MODE_ATTACH_REALCREDS). */
int mpx__pidfd_getfd(int pidfd, int fd);

#endif /* MPX_OS_PIDFD_H */
