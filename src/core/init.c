/* init.c - process-wide initialisation, fork handlers, internal fds. */
#include "core/boot.h"
#include "core/shm_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

MPX__FORKHOT pid_t mpx__self_pid;


static void atfork_prepare(void)
{
    mpx__process_atfork_prepare();
    mpx__log_atfork_prepare();
}

static void atfork_parent(void)
{
    mpx__log_atfork_parent();
    mpx__process_atfork_parent();
}

static void atfork_child(void)
{
    mpx__self_pid = getpid();
    mpx__log_atfork_child();
    mpx__process_atfork_child();
    mpx__context_atfork_child();
    mpx__forkserver_atfork_child();
    mpx__shm_atfork_child();
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    mpx__self_pid = getpid();
    mpx__log_init_from_env();
    mpx__process_init();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    atexit(mpx__process_exit_handler);
}

void mpx__global_init(void)
{
    pthread_once(&once, init_once);
}

/*
 * Before main(): initialise, and when this program was started as a spawn
 * child or fork server (MPX_SPAWN_FD in the environment) or as the shared
 * memory tracker (MPX_SHM_TRACKER), run that and never return to main()
 * (no fork bomb: TestNoForkBomb).
 */
__attribute__((constructor)) static void mpx__ctor(int argc, char **argv, char **envp)
{
    mpx__global_init();
    mpx__shm_tracker_from_env(); /* the shm tracker (shm_track.c): never returns */
    mpx__boot_from_env(argc, argv, envp, (void *)mpx__ctor);
}

/* ---- internal descriptors ---- */

static unsigned char internal_fds[4096 / 8];

void mpx__fd_mark_internal(int fd, bool on)
{
    if (fd < 0 || fd >= 4096)
        return;
    if (on)
        __atomic_or_fetch(&internal_fds[fd / 8], (unsigned char)(1u << (fd % 8)), __ATOMIC_RELAXED);
    else
        __atomic_and_fetch(&internal_fds[fd / 8], (unsigned char)~(1u << (fd % 8)),
                           __ATOMIC_RELAXED);
}

int mpx__fd_is_internal(int fd)
{
    if (fd < 0 || fd >= 4096)
        return 0;
    return (__atomic_load_n(&internal_fds[fd / 8], __ATOMIC_RELAXED) >> (fd % 8)) & 1;
}
