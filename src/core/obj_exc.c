/*
 * obj_exc.c - exception values: the value a pool task fails with (the
 * analogue of the exception Python's pool re-raises in the parent), and
 * the exceptions mpx makes for failures that have no task value (a worker
 * that crashed, a task that timed out, an item that was cancelled).
 *
 * An exception is an instance built the way CPython pickles one
 * (BaseException.__reduce__: the class and its args), so that repr prints
 * ValueError('bad input') and a CPython peer that receives it gets a real
 * ValueError.
 */
#include "core/pool_obj.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* module.qualname from "ValueError" (builtins) or "a.b.Name". */
static mpx_obj *exc_class(const char *type)
{
    const char *dot = strrchr(type, '.');
    if (!dot)
        return mpx_obj_class("builtins", type);
    size_t mlen = (size_t)(dot - type);
    char mod[256];
    if (mlen == 0 || mlen >= sizeof mod || !dot[1])
        return NULL;
    memcpy(mod, type, mlen);
    mod[mlen] = 0;
    return mpx_obj_class(mod, dot + 1);
}

mpx_obj *mpx__obj_exception_v(const char *type, mpx_obj *args)
{
    mpx_obj *cls = type && *type ? exc_class(type) : NULL;
    mpx_obj *v = NULL;
    if (cls && args)
        v = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_REDUCE, cls, args, NULL, NULL, NULL, NULL});
    mpx_obj_decref(cls);
    mpx_obj_decref(args);
    return v;
}

static mpx_obj *exception_va(const char *type, const char *fmt, va_list ap)
{
    mpx_obj *args;
    if (!fmt) {
        args = mpx_obj_tuple(0);
    } else {
        char small[256];
        va_list aq;
        va_copy(aq, ap);
        int n = vsnprintf(small, sizeof small, fmt, aq);
        va_end(aq);
        if (n < 0)
            return NULL;
        mpx_obj *msg;
        if ((size_t)n < sizeof small) {
            msg = mpx_obj_strn(small, (size_t)n);
        } else {
            char *big = malloc((size_t)n + 1);
            if (!big)
                return NULL;
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            msg = mpx_obj_strn(big, (size_t)n);
            free(big);
        }
        if (!msg) /* not UTF-8: carried as its bytes' repr would lose it; say so */
            msg = mpx_obj_str("(message is not valid UTF-8)");
        args = msg ? mpx_obj_tuple(1) : NULL;
        if (args)
            mpx_obj_tuple_set_new(args, 0, msg);
        else
            mpx_obj_decref(msg);
    }
    return mpx__obj_exception_v(type, args);
}

MPX_API mpx_obj *mpx_obj_exception(const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mpx_obj *v = exception_va(type, fmt, ap);
    va_end(ap);
    return v;
}

MPX_API mpx_obj *mpx_task_raise(mpx_obj **error, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mpx_obj *v = exception_va(type, fmt, ap);
    va_end(ap);
    if (error) {
        mpx_obj_decref(*error);
        *error = v;
    } else {
        mpx_obj_decref(v);
    }
    return NULL;
}

/* The last line of Python's traceback for an exception value: "ValueError:
 * bad input", "multiprocessing.context.TimeoutError: ...", "KeyError: 'k'"
 * (str of a single argument, except KeyError which shows its repr; the
 * tuple's str for several); any other value: its repr. */
char *mpx__obj_exception_text(const mpx_obj *e)
{
    mpx_obj_reduce parts;
    const char *mod, *name;
    if (!e || mpx_obj_instance_get(e, &parts) != 0 || parts.how != MPX_OBJ_REDUCE ||
        mpx_obj_class_name(parts.callable, &mod, &name) != 0)
        return e ? mpx_obj_repr(e) : NULL;
    int64_t nargs = mpx_obj_len(parts.args);
    char *detail = NULL;
    if (nargs == 1) {
        const mpx_obj *a0 = mpx_obj_item(parts.args, 0);
        detail = strcmp(name, "KeyError") == 0 && strcmp(mod, "builtins") == 0 ? mpx_obj_repr(a0)
                                                                                : mpx_obj_text(a0);
    } else if (nargs > 1) {
        detail = mpx_obj_repr(parts.args);
    }
    int builtin = strcmp(mod, "builtins") == 0 || strcmp(mod, "__main__") == 0;
    char *out = NULL;
    int n;
    if (detail && *detail)
        n = builtin ? asprintf(&out, "%s: %s", name, detail)
                    : asprintf(&out, "%s.%s: %s", mod, name, detail);
    else
        n = builtin ? asprintf(&out, "%s", name) : asprintf(&out, "%s.%s", mod, name);
    mpx_free(detail);
    return n < 0 ? NULL : out;
}

/* The exception for a failure without a task value (code and message of
 * the byte pool's mpx_task_error). */
mpx_obj *mpx__obj_exception_for(int code, const char *message)
{
    const char *type;
    switch (code) {
    case MPX_EWORKER:
    case MPX_EBROKEN: type = "concurrent.futures.process.BrokenProcessPool"; break;
    case MPX_ETIMEDOUT: type = "multiprocessing.context.TimeoutError"; break;
    case MPX_ECANCELED: type = "concurrent.futures._base.CancelledError"; break;
    case MPX_EPROTO: type = "_pickle.UnpicklingError"; break;
    case MPX_ERESOLVE: type = "AttributeError"; break;
    case -ENOMEM: type = "MemoryError"; break;
    default: type = "RuntimeError"; break;
    }
    mpx_obj *v = mpx_obj_exception(type, "%s", message && *message ? message : mpx_strerror(code));
    return v;
}

MPX_API int mpx_obj_print(const mpx_obj *v)
{
    if (!v)
        return MPX_EINVAL;
    char *s = mpx_obj_text(v);
    if (!s)
        return -ENOMEM;
    int rc = 0;
    flockfile(stdout);
    if (fputs(s, stdout) == EOF || putc_unlocked('\n', stdout) == EOF || fflush(stdout) == EOF)
        rc = errno ? -errno : -EIO;
    funlockfile(stdout);
    mpx_free(s);
    return rc;
}
