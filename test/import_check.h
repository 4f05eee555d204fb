/*
 * test/import_check.h - a check shared by the tests of object types that
 * travel to spawn and forkserver children (test_sync.c, test_sharedctypes.c).
 */
#ifndef MPX_TEST_IMPORT_CHECK_H
#define MPX_TEST_IMPORT_CHECK_H

#include "harness.h"

#include "core/args.h"

#include <fcntl.h>

/* An args import of one object of type name whose exported data is the
 * len bytes at junk, with /dev/null as its one descriptor, must fail. The
 * import must also close that descriptor: the runner fails a test that
 * leaks one. */
static inline void check_import_rejects(const char *name, const void *junk, size_t len)
{
    mpx__buf buf;
    mpx__buf_init(&buf);
    CHECK_OK(mpx__buf_put_u32(&buf, 1));
    CHECK_OK(mpx__buf_put_u8(&buf, MPX_ARG_OBJECT));
    CHECK_OK(mpx__buf_put_bytes(&buf, name, strlen(name)));
    CHECK_OK(mpx__buf_put_u32(&buf, 0));
    CHECK_OK(mpx__buf_put_u32(&buf, 1));
    CHECK_OK(mpx__buf_put_bytes(&buf, junk, len));
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    mpx__rd rd = {buf.data, buf.len};
    mpx_args *in = NULL;
    CHECK(mpx__args_import(&rd, &fd, 1, &in) < 0);
    mpx__buf_free(&buf);
}

#endif /* MPX_TEST_IMPORT_CHECK_H */
