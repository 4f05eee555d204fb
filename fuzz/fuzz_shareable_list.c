/* fuzz_shareable_list.c - the ShareableList reader over bytes written by
 * another program (SHMEM-06): the block holds the input (zero-padded to
 * whole pages, so a read past the block leaves the mapping), is attached
 * as a list, and every read path runs on every item, plus assignments of
 * each type; the bytes outside an assigned item's slot must not change. */
#include "core/shm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > (1u << 20))
        return 0;
    char name[64];
    snprintf(name, sizeof name, "mpxfuzz_%d", (int)getpid());
    size_t block = (size + 4095) & ~(size_t)4095;
    mpx_shm *s;
    mpx_shm_opts o = {.untracked = 1};
    if (mpx_shm_open(&s, name, 1, (int64_t)block, &o))
        abort();
    memcpy(mpx_shm_buf(s), data, size);
    mpx_shareable_list *l;
    int rc = mpx_shareable_list_open(&l, NULL, 0, name, NULL);
    if (rc == 0) {
        size_t n = mpx_shareable_list_len(l);
        for (size_t i = 0; i < n && i < 256; i++) {
            mpx_sl_item it;
            if (mpx_shareable_list_get(l, (int64_t)i, &it) == 0)
                mpx_sl_item_clear(&it);
            char buf[64];
            size_t len;
            int64_t v;
            double d;
            int b;
            mpx_shareable_list_type(l, (int64_t)i);
            mpx_shareable_list_get_str(l, (int64_t)i, buf, sizeof buf, &len);
            mpx_shareable_list_get_bytes(l, -(int64_t)i - 1, buf, sizeof buf, &len);
            mpx_shareable_list_get_int(l, (int64_t)i, &v);
            mpx_shareable_list_get_float(l, (int64_t)i, &d);
            mpx_shareable_list_get_bool(l, (int64_t)i, &b);
        }
        mpx_free(mpx_shareable_list_format(l));
        mpx_free(mpx_shareable_list_describe(l));
        mpx_sl_item probe = mpx_sl_str("ab");
        mpx_shareable_list_count(l, &probe);
        probe = mpx_sl_float(1.0);
        mpx_shareable_list_index(l, &probe);
        /* assignments: nothing outside the item's 8-byte-or-more slot,
         * its format and its code may change */
        if (n) {
            size_t i = data[size - 1] % n;
            unsigned char *before = malloc(block);
            memcpy(before, mpx_shm_buf(s), block);
            const mpx_sl_item vals[] = {mpx_sl_int(-1), mpx_sl_str("hello"), mpx_sl_none(),
                                        mpx_sl_bytes("0123456789abcdefg", 17)};
            for (size_t k = 0; k < 4; k++)
                mpx_shareable_list_set(l, (int64_t)i, &vals[k]);
            const unsigned char *after = mpx_shm_buf(s);
            int64_t cnt;
            memcpy(&cnt, after, 8);
            uint64_t off0, off1, offn;
            memcpy(&off0, after + 8 + 8 * i, 8);
            memcpy(&off1, after + 8 + 8 * (i + 1), 8);
            memcpy(&offn, after + 8 + 8 * n, 8);
            size_t data_start = (n + 2) * 8, fmt = data_start + offn + 8 * i,
                   code = data_start + offn + 8 * n + i;
            for (size_t k = 0; k < block; k++) {
                bool in_slot = k >= data_start + off0 && k < data_start + off1;
                if (before[k] != after[k] && !in_slot && !(k >= fmt && k < fmt + 8) && k != code)
                    abort();
            }
            free(before);
        }
        mpx_shareable_list_destroy(l);
    } else if (rc != MPX_EPROTO) {
        abort();
    }
    mpx_shm_unlink(s);
    mpx_shm_destroy(s);
    return 0;
}
