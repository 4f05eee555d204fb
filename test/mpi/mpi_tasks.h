/*
 * test/mpi/mpi_tasks.h - a tiny harness for the MPI backend's tests
 * (test/mpi/test_mpi.c). Each test is run by test/mpi/run in its own
 * `mpirun -n 4` job (or as a singleton) with a time limit; main() in
 * rank 0 runs the test named on the command line. A failed check prints
 * file:line and exits 1; MX_SKIP exits 77.
 */
#ifndef MPX_TEST_MPI_TASKS_H
#define MPX_TEST_MPI_TASKS_H

#include <mpx.h>
#include <mpx/mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct mx_test {
    const char *name;
    void (*fn)(void);
} mx_test;

#define CHECK(c)                                                                      \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);     \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__,    \
                    __LINE__, #a, #b, a_, b_);                                             \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define CHECK_OK(x) CHECK_EQ((x), 0)

#define MX_SKIP(why)                                   \
    do {                                               \
        fprintf(stderr, "skipped: %s\n", why);         \
        exit(77);                                      \
    } while (0)

#endif
