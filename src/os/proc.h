/*
 * os/proc.h - reading /proc: the one place the library parses
 * /proc/<pid>/stat (the owner-death check of locks and queues, the
 * parent check of children).
 */
#ifndef MPX_OS_PROC_H
#define MPX_OS_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * /proc/<pid>/stat: the state letter (field 3) and the start time (field
 * 22, clock ticks since boot; with the pid it names a process for as long
 * as it lives). 0, or -errno: -ENOENT / -ESRCH when there is no such
 * process, -EPROTO when the line cannot be parsed.
 */
int mpx__proc_stat(pid_t pid, char *state, uint64_t *start);

/* A state letter of a process that has ended (zombie or dead). */
static inline bool mpx__proc_state_ended(char state)
{
    return state == 'Z' || state == 'X' || state == 'x';
}

#endif /* MPX_OS_PROC_H */
