/* core/process_internal.h - the process object and the child bootstrap. */
#ifndef MPX_CORE_PROCESS_INTERNAL_H
#define MPX_CORE_PROCESS_INTERNAL_H

#include "core/args.h"
#include "core/context_internal.h"

#include <pthread.h>

#define MPX__PROC_MAGIC 0x6d707870u /* "mpxp" */
#define MPX__MAX_IDENTITY 32
#define MPX__AUTHKEY_MAX 1024

enum { MPX__P_INITIAL, MPX__P_STARTED, MPX__P_STOPPED, MPX__P_CLOSED };

struct mpx_process {
    uint32_t magic;
    pthread_mutex_t mu;
    int refs; /* one for the user, one while in the children registry */
    char *name;
    bool daemon;
    mpx_context *ctx;
    bool ctx_explicit; /* opts.ctx was given: the child's default method is
                        * this one (else the default is resolved at start) */
    mpx_target_fn target;
    mpx_run_fn run;
    void *udata;
    size_t udata_size; /* > 0: udata is an owned copy */
    mpx_args *args;
    unsigned char authkey[MPX__AUTHKEY_MAX];
    size_t authkey_len;
    pid_t pid;
    pid_t creator; /* pid of the process that made the object (PROC-24) */
    pid_t parent_pid; /* for current/parent objects */
    int state;
    bool has_exit;
    int exitcode;
    int sentinel;
    int identity[MPX__MAX_IDENTITY];
    int identity_len;
    int child_counter; /* children created by this process (when current) */
    bool is_current;   /* object describing the running process */
    bool is_parent;    /* the parent_process() object */
    bool in_registry;
    void *popen; /* start-method state */
    /* The thread context: mpx_current_process() of the thread that made
     * the object (only compared, never followed): only that "process"
     * may start it, as dummy.Process.start requires. */
    const struct mpx_process *made_by;
    struct mpx_process *next_child;
};

/* Record the end of p (called by popen ops, p->mu held or not). */
void mpx__process_set_exit(mpx_process *p, int exitcode);
/* Exit code of a wait status: WEXITSTATUS or -WTERMSIG. */
int mpx__status_to_exitcode(int status);

/*
 * In a new child, after the start method set it up: make p the current
 * process, run the target with args, shut down (join / terminate
 * children), flush stdio and _exit. Never returns. parent_sentinel may be
 * -1 (the child then opens a pidfd of its parent).
 */
__attribute__((noreturn)) void mpx__child_run(mpx_process *p, mpx_args *args);

/* Make p the current process in a new child (identity, registry reset,
 * stdin on /dev/null, death signal for daemons, default start method).
 * parent_pid is the creator (mpx_parent_process); real_parent the process
 * that forked us (the fork server under forkserver), whose death kills a
 * daemonic child. parent_start is the creator's start time
 * (mpx__self_start_time; 0 when real_parent is the creator), which tells
 * the creator from a later process with the same pid. */
void mpx__child_setup(mpx_process *p, pid_t parent_pid, pid_t real_parent, uint64_t parent_start);

/* This process's start time (clock ticks since boot, /proc/self/stat), 0
 * when unknown. Cached. */
uint64_t mpx__self_start_time(void);

/* The spawn/forkserver bootstrap builds the child's own object from data
 * sent by the parent. */
int mpx__process_export_self(mpx_process *p, mpx__buf *out);
int mpx__process_import_self(mpx__rd *in, mpx_process **out);

/* The thread context (popen_thread.c): the thread "process" running in
 * the calling thread, or NULL; forget it (in a fork child, whose thread
 * is a process of its own now); end the calling thread "process" with
 * code (mpx_exit there: Python's sys.exit in a dummy.Process). */
mpx_process *mpx__thread_self(void);
void mpx__thread_forget(void);
__attribute__((noreturn)) void mpx__thread_exit(int code);

/* Is this process running as an mpx child (not the main program)? */
extern bool mpx__in_child;

/* Internal descriptors kept for the life of the process (tests' leak
 * check ignores them). */
void mpx__fd_mark_internal(int fd, bool on);
int mpx__fd_is_internal(int fd);

/* Functions run at exit before children are terminated and joined (in
 * the main program's atexit handler and at the end of a child), most
 * recently added first: Python's finalizers with an exit priority (a
 * manager is shut down before its process would be joined). At most 8. */
void mpx__process_on_exit(void (*fn)(void));

/* Hooks called by init.c. */
void mpx__process_init(void);
void mpx__process_atfork_prepare(void);
void mpx__process_atfork_parent(void);
void mpx__process_atfork_child(void);
void mpx__process_exit_handler(void);

/* Shared by the fork and spawn start methods (real children of ours).
 * Process handles (pidfds) are os/pidfd.h's. */
int mpx__fd_readable(int fd);
/* /dev/null opened once for fork children (-1 until the first fork start). */
extern int mpx__devnull_fd;
int mpx__child_wait(mpx_process *p, mpx__deadline d);
int mpx__child_poll(mpx_process *p);
int mpx__child_signal(mpx_process *p, int sig);

#endif
