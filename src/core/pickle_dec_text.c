/*
 * pickle_dec_text.c - the decoder's protocol 0 text opcodes: INT (with
 * _pickle.c's "01"/"00" booleans and strtol base 0), LONG, FLOAT, STRING
 * (a quoted Python 2 literal, decoded as ASCII), UNICODE
 * (raw-unicode-escape), and the decimal indexes of GET and PUT.
 */
#include "core/pickle_dec.h"

#include <math.h>
#include <stdio.h>

/* ---- text opcodes ------------------------------------------------------------ */

static int copy_line(dec *d, const char *s, size_t n, char **out)
{
    *out = NULL;
    int rc = mpx__pd_charge(d, n + 1);
    if (rc)
        return rc;
    char *b = malloc(n + 1);
    if (!b)
        return mpx__pd_nomem(d);
    memcpy(b, s, n);
    b[n] = 0;
    *out = b;
    return 0;
}

int mpx__pd_load_int_text(dec *d)
{
    const char *s;
    size_t n;
    char *line = NULL;
    int rc = mpx__pd_readline(d, &s, &n);
    if (rc || (rc = copy_line(d, s, n, &line)))
        return rc;
    d->budget += n + 1;
    if (n == 0) {
        free(line);
        return mpx__pd_fail(d, MPX_EPROTO, "pickle data was truncated (empty INT)");
    }
    errno = 0;
    char *endp;
    long long x = strtoll(line, &endp, 0); /* base 0 as _pickle.c's strtol */
    if (errno || *endp) {
        mpx_obj *o = NULL;
        size_t bad;
        rc = mpx__int_parse(line, n, 0, &o, &bad);
        free(line);
        if (rc)
            return mpx__pd_fail(d, MPX_EPROTO, "could not convert string to int");
        if ((rc = mpx__pd_charge(d, sizeof(mpx__vbig) + n / 2)))
            return rc;
        return mpx__pd_push(d, o);
    }
    free(line);
    if (n == 2 && (x == 0 || x == 1)) /* "01" / "00": protocol 0's True and False */
        return mpx__pd_push(d, x ? &mpx__v_true : &mpx__v_false);
    return mpx__pd_push_int(d, x);
}

int mpx__pd_load_long_text(dec *d)
{
    const char *s;
    size_t n;
    int rc = mpx__pd_readline(d, &s, &n);
    if (rc)
        return rc;
    if (n && s[n - 1] == 'L')
        n--;
    mpx_obj *o = NULL;
    size_t bad;
    if ((rc = mpx__pd_charge(d, sizeof(mpx__vbig) + n / 2)))
        return rc;
    rc = mpx__int_parse(s, n, 10, &o, &bad);
    if (rc == -ENOMEM)
        return mpx__pd_nomem(d);
    if (rc == -ERANGE)
        return mpx__pd_fail(d, MPX_EINVAL, "Exceeds the limit (4300 digits) for integer string conversion");
    if (rc)
        return mpx__pd_fail(d, MPX_EPROTO, "invalid literal for LONG");
    return mpx__pd_push(d, o);
}

int mpx__pd_load_float_text(dec *d)
{
    const char *s;
    size_t n;
    int rc = mpx__pd_readline(d, &s, &n);
    if (rc)
        return rc;
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return mpx__pd_fail(d, MPX_EPROTO, "could not convert string to float");
    memcpy(buf, s, n);
    buf[n] = 0;
    /* decimal syntax only (strtod would also take hex), inf and nan */
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' ||
              (c | 0x20) == 'i' || (c | 0x20) == 'n' || (c | 0x20) == 'f' || (c | 0x20) == 'a' ||
              (c | 0x20) == 't' || (c | 0x20) == 'y'))
            return mpx__pd_fail(d, MPX_EPROTO, "could not convert string to float");
    }
    errno = 0;
    char *endp;
    double v = strtod(buf, &endp);
    if (*endp || endp == buf)
        return mpx__pd_fail(d, MPX_EPROTO, "could not convert string to float");
    if (errno == ERANGE && isinf(v))
        return mpx__pd_fail(d, -ERANGE, "float too large: '%s'", buf);
    if ((rc = mpx__pd_charge(d, sizeof(mpx__vfloat))))
        return rc;
    return mpx__pd_push(d, mpx__v_float(v));
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* STRING: a quoted Python 2 literal, decoded with the bytes escapes of
 * PyBytes_DecodeEscape, then as ASCII. */
int mpx__pd_load_string_text(dec *d)
{
    const char *s;
    size_t n;
    int rc = mpx__pd_readline(d, &s, &n);
    if (rc)
        return rc;
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '\'' && s[0] != '"'))
        return mpx__pd_fail(d, MPX_EPROTO, "the STRING opcode argument must be quoted");
    s++;
    n -= 2;
    if ((rc = mpx__pd_charge(d, n + 1)))
        return rc;
    unsigned char *b = malloc(n + 1);
    if (!b)
        return mpx__pd_nomem(d);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\\' || i + 1 >= n) {
            if (c == '\\') {
                free(b);
                return mpx__pd_fail(d, MPX_EPROTO, "Trailing \\ in string");
            }
            b[o++] = c;
            continue;
        }
        c = (unsigned char)s[++i];
        switch (c) {
        case '\n':
            break;
        case '\\':
        case '\'':
        case '"':
            b[o++] = c;
            break;
        case 'b':
            b[o++] = '\b';
            break;
        case 'f':
            b[o++] = '\f';
            break;
        case 't':
            b[o++] = '\t';
            break;
        case 'n':
            b[o++] = '\n';
            break;
        case 'r':
            b[o++] = '\r';
            break;
        case 'v':
            b[o++] = '\v';
            break;
        case 'a':
            b[o++] = '\a';
            break;
        case 'x':
            if (i + 2 < n + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
                b[o++] = (unsigned char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
                i += 2;
            } else {
                free(b);
                return mpx__pd_fail(d, MPX_EPROTO, "invalid \\x escape in STRING");
            }
            break;
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = c - '0';
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    v = v * 8 + (unsigned)(s[++i] - '0');
                b[o++] = (unsigned char)v;
            } else {
                b[o++] = '\\';
                b[o++] = c;
            }
            break;
        }
    }
    rc = mpx__pd_push_py2str(d, b, o);
    free(b);
    return rc;
}

/* UNICODE: raw-unicode-escape (latin-1 bytes, \uXXXX and \UXXXXXXXX after
 * an odd number of backslashes). */
int mpx__pd_load_unicode_text(dec *d)
{
    const char *s;
    size_t n;
    int rc = mpx__pd_readline(d, &s, &n);
    if (rc)
        return rc;
    if ((rc = mpx__pd_charge(d, 2 * n + 1)))
        return rc;
    unsigned char *b = malloc(2 * n + 1); /* UTF-8 of latin-1 doubles at most */
    if (!b)
        return mpx__pd_nomem(d);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c != '\\') {
            o += (size_t)mpx__utf8_put(c, b + o);
            i++;
            continue;
        }
        size_t bs = i;
        while (i < n && s[i] == '\\')
            b[o++] = (unsigned char)s[i++];
        if (((i - bs) & 1) == 0 || i >= n || (s[i] != 'u' && s[i] != 'U'))
            continue;
        o--; /* the escaping backslash */
        int count = s[i] == 'u' ? 4 : 8;
        i++;
        uint32_t cp = 0;
        for (int k = 0; k < count; k++, i++) {
            int h = i < n ? hexval(s[i]) : -1;
            if (h < 0) {
                free(b);
                return mpx__pd_fail(d, MPX_EPROTO, "truncated \\%cXXXX escape in UNICODE", count == 4 ? 'u' : 'U');
            }
            cp = cp * 16 + (uint32_t)h;
        }
        if (cp > 0x10FFFF) {
            free(b);
            return mpx__pd_fail(d, MPX_EPROTO, "\\Uxxxxxxxx out of range in UNICODE");
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            free(b);
            return mpx__pd_fail(d, MPX_EINVAL, "str with a lone surrogate U+%04X (not representable as UTF-8)",
                        (unsigned)cp);
        }
        if (o + 4 > 2 * n + 1) { /* escapes shrink, but keep the bound explicit */
            free(b);
            return mpx__pd_nomem(d);
        }
        o += (size_t)mpx__utf8_put(cp, b + o);
    }
    mpx_obj *str = mpx__v_str_raw((const char *)b, o, 0, 0);
    free(b);
    if (!str)
        return mpx__pd_nomem(d);
    /* count code points and ASCII-ness */
    size_t bad;
    const char *why;
    int64_t ncp = mpx__utf8_scan((const unsigned char *)((mpx__vstr *)str)->data, o, &bad, &why);
    ((mpx__vstr *)str)->ncp = (size_t)ncp;
    if ((size_t)ncp == o)
        str->flags |= MPX__F_ASCII;
    return mpx__pd_push(d, str);
}

int mpx__pd_parse_index(dec *d, const char *what, size_t *idx)
{
    const char *s = NULL;
    size_t n = 0;
    int rc = mpx__pd_readline(d, &s, &n);
    if (rc)
        return rc;
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] == '-')
        return mpx__pd_fail(d, MPX_EPROTO, "negative %s argument", what);
    if (i < n && s[i] == '+')
        i++;
    if (i >= n)
        return mpx__pd_fail(d, MPX_EPROTO, "invalid %s argument", what);
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return mpx__pd_fail(d, MPX_EPROTO, "invalid %s argument", what);
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *idx = (size_t)v;
    return 0;
}

