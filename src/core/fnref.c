/*
 * fnref.c - function references across exec (see fnref.h and
 * docs/start-methods.md, "Function references").
 *
 * Wire form (one reference):
 *   u8 tag
 *     0  NULL
 *     1  raw pointer: u64 (fork children only: same address space copy)
 *     2  portable: bytes name      registered name, or empty
 *                  u8 kind         0 no module, 1 shared object, 2 main program
 *                  bytes build_id  GNU build-id of the module (may be empty)
 *                  bytes path      dlpi_name of the module ("" for the program)
 *                  u64 offset      address - module load bias
 *
 * Decoding prefers the registered name (so set_executable binaries can
 * provide their own implementation), then the module: the program itself
 * (kind 2) or the loaded shared object with the same build-id (or, for a
 * module without build-id, the same path). A build-id mismatch, a module
 * that is not loaded, or an offset outside the module's executable
 * segments is MPX_ERESOLVE: the reference is never turned into a wild
 * pointer.
 */
#include "core/fnref.h"
#include "core/context_internal.h"

#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <string.h>

/* ---- named registry: append-only, lock-free readers (fork-safe) ---- */

typedef struct reg {
    char *name;
    mpx__fnptr fn;
    struct reg *next;
} reg;

static reg *regs;

static reg *reg_by_name(const char *name, size_t len)
{
    for (reg *r = __atomic_load_n(&regs, __ATOMIC_ACQUIRE); r; r = r->next)
        if (strlen(r->name) == len && memcmp(r->name, name, len) == 0)
            return r;
    return NULL;
}

static reg *reg_by_fn(mpx__fnptr fn)
{
    for (reg *r = __atomic_load_n(&regs, __ATOMIC_ACQUIRE); r; r = r->next)
        if (r->fn == fn)
            return r;
    return NULL;
}

MPX_API int mpx_register_function(const char *name, mpx_fn fn)
{
    if (!name || !*name || !fn || strlen(name) > 255)
        return MPX_EINVAL;
    reg *old = reg_by_name(name, strlen(name));
    if (old)
        return old->fn == (mpx__fnptr)fn ? 0 : MPX_EINVAL;
    reg *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->name = strdup(name);
    if (!r->name) {
        free(r);
        return -ENOMEM;
    }
    r->fn = (mpx__fnptr)fn;
    r->next = __atomic_load_n(&regs, __ATOMIC_ACQUIRE);
    while (!__atomic_compare_exchange_n(&regs, &r->next, r, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
        ;
    return 0;
}

MPX_API int mpx_lookup_function(const char *name, mpx_fn *out)
{
    if (!name || !out)
        return MPX_EINVAL;
    reg *r = reg_by_name(name, strlen(name));
    if (!r)
        return MPX_ERESOLVE;
    *out = (mpx_fn)r->fn;
    return 0;
}

/* ---- modules ---- */

/* The GNU build-id of a loaded module, from its PT_NOTE segments. */
static size_t build_id(const struct dl_phdr_info *info, const unsigned char **out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        while (left >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t nsz = (nh->n_namesz + 3) & ~(size_t)3, dsz = (nh->n_descsz + 3) & ~(size_t)3;
            if (sizeof *nh + nsz + dsz > left)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
                memcmp(p + sizeof *nh, "GNU", 4) == 0 && nh->n_descsz <= 64) {
                *out = p + sizeof *nh + nsz;
                return nh->n_descsz;
            }
            p += sizeof *nh + nsz + dsz;
            left -= sizeof *nh + nsz + dsz;
        }
    }
    return 0;
}

static bool in_exec_segment(const struct dl_phdr_info *info, uintptr_t addr)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && addr >= lo &&
            addr - lo < ph->p_memsz)
            return true;
    }
    return false;
}

typedef struct find_addr {
    uintptr_t addr;
    int index;
    bool found, is_main;
    uintptr_t bias;
    char path[512];
    unsigned char bid[64];
    size_t bidlen;
} find_addr;

static int find_addr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    find_addr *f = data;
    int idx = f->index++;
    if (!in_exec_segment(info, f->addr))
        return 0;
    f->found = true;
    f->is_main = idx == 0;
    f->bias = info->dlpi_addr;
    snprintf(f->path, sizeof f->path, "%s", info->dlpi_name ? info->dlpi_name : "");
    const unsigned char *b;
    f->bidlen = build_id(info, &b);
    if (f->bidlen)
        memcpy(f->bid, b, f->bidlen);
    return 1;
}

typedef struct find_mod {
    int kind;
    const void *bid;
    size_t bidlen;
    const char *path;
    size_t pathlen;
    uint64_t off;
    int index;
    int result; /* 0 not found, 1 resolved, negative error */
    uintptr_t addr;
} find_mod;

static int find_mod_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    find_mod *f = data;
    int idx = f->index++;
    const unsigned char *b;
    size_t blen = build_id(info, &b);
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    bool match;
    if (f->kind == 2)
        match = idx == 0;
    else if (f->bidlen && blen)
        match = blen == f->bidlen && memcmp(b, f->bid, blen) == 0;
    else
        match = strlen(name) == f->pathlen && memcmp(name, f->path, f->pathlen) == 0;
    if (!match)
        return 0;
    /* The program itself, or a module matched by path: the build-ids must
     * agree when both have one. */
    if (f->bidlen && blen && (blen != f->bidlen || memcmp(b, f->bid, blen) != 0)) {
        f->result = MPX_ERESOLVE;
        return 1;
    }
    uintptr_t addr = info->dlpi_addr + (uintptr_t)f->off;
    if (f->off > UINTPTR_MAX - info->dlpi_addr || !in_exec_segment(info, addr)) {
        f->result = MPX_ERESOLVE;
        return 1;
    }
    f->addr = addr;
    f->result = 1;
    return 1;
}

int mpx__fnref_encode(mpx_context *ctx, mpx__fnptr fn, mpx__buf *out)
{
    if (!fn)
        return mpx__buf_put_u8(out, 0);
    if (ctx && ctx->method == MPX__FORK) {
        int rc = mpx__buf_put_u8(out, 1);
        return rc ? rc : mpx__buf_put_u64(out, (uint64_t)(uintptr_t)fn);
    }
    reg *r = reg_by_fn(fn);
    find_addr f;
    memset(&f, 0, sizeof f);
    f.addr = (uintptr_t)fn;
    dl_iterate_phdr(find_addr_cb, &f);
    if (!f.found && !r)
        return MPX_ERESOLVE;
    int rc = mpx__buf_put_u8(out, 2);
    if (!rc)
        rc = mpx__buf_put_bytes(out, r ? r->name : NULL, r ? strlen(r->name) : 0);
    if (!rc)
        rc = mpx__buf_put_u8(out, (uint8_t)(!f.found ? 0 : f.is_main ? 2 : 1));
    if (!rc)
        rc = mpx__buf_put_bytes(out, f.bid, f.bidlen);
    if (!rc)
        rc = mpx__buf_put_bytes(out, f.path, f.found ? strlen(f.path) : 0);
    if (!rc)
        rc = mpx__buf_put_u64(out, f.found ? (uint64_t)(f.addr - f.bias) : 0);
    return rc;
}

int mpx__fnref_decode(mpx__rd *in, mpx__fnptr *fn)
{
    uint8_t tag;
    int rc = mpx__rd_u8(in, &tag);
    if (rc)
        return rc;
    if (tag == 0) {
        *fn = NULL;
        return 0;
    }
    if (tag == 1) {
        uint64_t v;
        rc = mpx__rd_u64(in, &v);
        if (!rc)
            *fn = (mpx__fnptr)(uintptr_t)v;
        return rc;
    }
    if (tag != 2)
        return MPX_EPROTO;
    const void *name, *bid, *path;
    size_t nlen, blen, plen;
    uint8_t kind;
    uint64_t off;
    rc = mpx__rd_bytes(in, &name, &nlen);
    if (!rc)
        rc = mpx__rd_u8(in, &kind);
    if (!rc)
        rc = mpx__rd_bytes(in, &bid, &blen);
    if (!rc)
        rc = mpx__rd_bytes(in, &path, &plen);
    if (!rc)
        rc = mpx__rd_u64(in, &off);
    if (rc)
        return rc;
    if (kind > 2 || blen > 64)
        return MPX_EPROTO;
    if (nlen) {
        reg *r = reg_by_name(name, nlen);
        if (r) {
            *fn = r->fn;
            return 0;
        }
    }
    if (kind == 0) {
        MPX__WARNING("function \"%.*s\" is not registered in this program", (int)nlen,
                     (const char *)name);
        return MPX_ERESOLVE;
    }
    find_mod f = {kind, bid, blen, path, plen, off, 0, 0, 0};
    dl_iterate_phdr(find_mod_cb, &f);
    if (f.result != 1) {
        MPX__WARNING("cannot resolve function at offset %#llx of %s%.*s in this program",
                     (unsigned long long)off, kind == 2 ? "the parent's executable" : "",
                     kind == 2 ? 0 : (int)plen, (const char *)path);
        return MPX_ERESOLVE;
    }
    *fn = (mpx__fnptr)f.addr;
    return 0;
}

/* ---- the compact form ----
 *   u8 tag 3
 *   u8 name length, name          registered name, or empty
 *   u8 kind                       0 no module, 1 shared object, 2 main program
 *   u64 module id                 FNV-1a 64 of kind, then build-id (or path)
 *   u64 offset
 * (fixed-width integers, host order: both ends are one machine) */

static uint64_t module_id(int kind, const unsigned char *bid, size_t bidlen, const char *path,
                          size_t pathlen)
{
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned char k = (unsigned char)kind;
    const unsigned char *p = bidlen ? bid : (const unsigned char *)path;
    size_t n = bidlen ? bidlen : pathlen;
    h = (h ^ k) * 0x100000001b3ull;
    h = (h ^ (bidlen ? 1u : 0u)) * 0x100000001b3ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

int mpx__fnref_encode_compact(mpx__fnptr fn, mpx__buf *out)
{
    if (!fn)
        return MPX_EINVAL;
    reg *r = reg_by_fn(fn);
    find_addr f;
    memset(&f, 0, sizeof f);
    f.addr = (uintptr_t)fn;
    dl_iterate_phdr(find_addr_cb, &f);
    if (!f.found && !r)
        return MPX_ERESOLVE;
    size_t nlen = r ? strlen(r->name) : 0;
    int kind = !f.found ? 0 : f.is_main ? 2 : 1;
    uint64_t id = f.found ? module_id(kind, f.bid, f.bidlen, f.path, strlen(f.path)) : 0;
    uint64_t off = f.found ? (uint64_t)(f.addr - f.bias) : 0;
    int rc = mpx__buf_reserve(out, 1 + 1 + nlen + 1 + 16);
    if (rc)
        return rc;
    unsigned char *p = out->data + out->len;
    *p++ = 3;
    *p++ = (unsigned char)nlen;
    if (nlen)
        memcpy(p, r->name, nlen);
    p += nlen;
    *p++ = (unsigned char)kind;
    memcpy(p, &id, 8);
    memcpy(p + 8, &off, 8);
    out->len += 1 + 1 + nlen + 1 + 16;
    return 0;
}

typedef struct find_id {
    int kind;
    uint64_t id, off;
    int index;
    int result;
    uintptr_t addr;
} find_id;

static int find_id_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    find_id *f = data;
    int idx = f->index++;
    if ((f->kind == 2) != (idx == 0))
        return 0;
    const unsigned char *b = NULL;
    size_t blen = build_id(info, &b);
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (module_id(f->kind, b, blen, name, strlen(name)) != f->id) {
        if (f->kind == 2) {
            f->result = MPX_ERESOLVE; /* another program */
            return 1;
        }
        return 0;
    }
    uintptr_t addr = info->dlpi_addr + (uintptr_t)f->off;
    if (f->off > UINTPTR_MAX - info->dlpi_addr || !in_exec_segment(info, addr)) {
        f->result = MPX_ERESOLVE;
        return 1;
    }
    f->addr = addr;
    f->result = 1;
    return 1;
}

int mpx__fnref_decode_compact(mpx__rd *in, mpx__fnptr *fn)
{
    uint8_t tag, nlen, kind;
    int rc = mpx__rd_u8(in, &tag);
    if (!rc && tag != 3)
        rc = MPX_EPROTO;
    if (!rc)
        rc = mpx__rd_u8(in, &nlen);
    if (rc)
        return rc;
    if (in->left < (size_t)nlen + 17)
        return MPX_EPROTO;
    const char *name = (const char *)in->p;
    kind = in->p[nlen];
    uint64_t id, off;
    memcpy(&id, in->p + nlen + 1, 8);
    memcpy(&off, in->p + nlen + 9, 8);
    in->p += (size_t)nlen + 17;
    in->left -= (size_t)nlen + 17;
    if (kind > 2)
        return MPX_EPROTO;
    if (nlen) {
        reg *r = reg_by_name(name, nlen);
        if (r) {
            *fn = r->fn;
            return 0;
        }
    }
    if (kind == 0) {
        MPX__WARNING("function \"%.*s\" is not registered in this program", (int)nlen, name);
        return MPX_ERESOLVE;
    }
    find_id f = {kind, id, off, 0, 0, 0};
    dl_iterate_phdr(find_id_cb, &f);
    if (f.result != 1) {
        MPX__WARNING("cannot resolve function at offset %#llx of %s in this program",
                     (unsigned long long)off,
                     kind == 2 ? "the parent's executable" : "a shared library of the parent");
        return MPX_ERESOLVE;
    }
    *fn = (mpx__fnptr)f.addr;
    return 0;
}
