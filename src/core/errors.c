/* errors.c - mpx_strerror / mpx_err_name from the MPX_ERRORS X-macro. */
#include "core/internal.h"

#include <string.h>

MPX_API const char *mpx_strerror(int err)
{
    if (err == 0)
        return "success";
    switch (err) {
#define X(name, value, msg) \
    case value:             \
        return msg;
        MPX_ERRORS(X)
#undef X
    default:
        break;
    }
    if (err < 0 && err > MPX_ERR_BASE) {
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
    }
    return "unknown error";
}

MPX_API const char *mpx_err_name(int err)
{
    if (err == 0)
        return "OK";
    switch (err) {
#define X(name, value, msg) \
    case value:             \
        return #name;
        MPX_ERRORS(X)
#undef X
    default:
        break;
    }
    if (err < 0 && err > MPX_ERR_BASE) {
        const char *s = strerrorname_np(-err);
        if (s)
            return s;
    }
    return "UNKNOWN";
}

MPX_API const char *mpx_version(void)
{
    return MPX__STR(MPX_VERSION_MAJOR) "." MPX__STR(MPX_VERSION_MINOR) "." MPX__STR(
        MPX_VERSION_PATCH);
}

MPX_API void mpx_free(void *p)
{
    free(p);
}
