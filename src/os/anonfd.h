/*
 * os/anonfd.h - anonymous descriptors: memfds (memory files that travel by
 * descriptor and leave nothing in /dev/shm) and eventfds (a counter a
 * thread or process can poll).
 *
 * Both are always made close-on-exec: a descriptor reaches a child only
 * when mpx passes it on purpose (spawn file actions, SCM_RIGHTS).
 *
 * Threads: safe (no state).
 */
#ifndef MPX_OS_ANONFD_H
#define MPX_OS_ANONFD_H

/* A new memfd of size 0 named name (shown in /proc/PID/fd), with flags
 * (MFD_ALLOW_SEALING, ...) | MFD_CLOEXEC. Returns it or -errno. */
int mpx__memfd_create(const char *name, unsigned flags);

/* A new eventfd, counter 0, close-on-exec and non-blocking. Returns it or
 * -errno. */
int mpx__eventfd_open(void);

/* Add 1 to the counter of an eventfd (it becomes readable), EINTR
 * retried. Returns 0 or -errno. Async-signal-safe. */
int mpx__eventfd_post(int fd);

#endif /* MPX_OS_ANONFD_H */
