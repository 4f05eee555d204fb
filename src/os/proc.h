/*
 * os/proc.h - reading /proc and the cgroup files: the one place the
 * library parses them (/proc/<pid>/stat for the owner-death check of
 * locks and queues and the parent check of children; the calling
 * thread's status for the fork server's requests; the cgroup CPU quota
 * for mpx_cpu_count_usable).
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

/*
 * The calling thread's umask and ignored signals (bit n-1 for signal n),
 * from /proc/thread-self/status: the only way to read the umask without
 * changing it. false when /proc cannot be read.
 */
bool mpx__proc_self_status(uint32_t *umask_v, uint64_t *ignored);

/*
 * The CPU limit of this process's cgroup (v2 cpu.max, the smallest over
 * its ancestors, rounded up to whole CPUs), or 0 when there is none or
 * it cannot be read.
 */
int mpx__proc_cgroup_cpu_quota(void);

#endif /* MPX_OS_PROC_H */
