/*
 * shared_memory.c - Python's multiprocessing.shared_memory examples,
 * ported (SHMEM-01..07):
 *
 *     shm_a = SharedMemory(create=True, size=10)
 *     shm_a.buf[:4] = bytearray([22, 33, 44, 55])
 *     shm_b = SharedMemory(shm_a.name)
 *     bytes(shm_b.buf[:5])                     # b'\x16!,7\x00'
 *     shm_b.close(); shm_a.close(); shm_a.unlink()
 *
 *     a = ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42])
 *     a[2] = -78.5; a[2] = 'dry ice'
 *     a[2] = 'larger than previously allocated storage space'  # ValueError
 *
 *     with SharedMemoryManager() as smm:
 *         sl = smm.ShareableList(range(2000))
 *         # two processes sum the halves of sl through the block
 *
 * plus a block passed to child processes that sum 1,000,000 doubles.
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>

static int sum_half(const mpx_args *a)
{
    mpx_shm *s = mpx_args_object(a, 0); /* the block itself */
    int64_t half = mpx_args_int(a, 1), n = mpx_args_int(a, 2);
    const double *v = mpx_shm_buf(s);
    double sum = 0;
    for (int64_t i = half * n / 2; i < (half + 1) * n / 2; i++)
        sum += v[i];
    /* the result goes back through the block too, after the data */
    ((double *)mpx_shm_buf(s))[n + half] = sum;
    return 0;
}

static int sum_list_half(const mpx_args *a)
{
    /* attach by name, as a Python child that got the name would */
    mpx_shareable_list *sl;
    if (mpx_shareable_list_open(&sl, NULL, 0, mpx_args_str(a, 0), NULL))
        return 1;
    int64_t half = mpx_args_int(a, 1), n = (int64_t)mpx_shareable_list_len(sl), total = 0, v;
    for (int64_t i = half * n / 2; i < (half + 1) * n / 2; i++)
        if (mpx_shareable_list_get_int(sl, i, &v) == 0)
            total += v;
    printf("  child %lld: sum of its half = %lld\n", (long long)half, (long long)total);
    mpx_shareable_list_destroy(sl);
    return 0;
}

static void print_list(mpx_shareable_list *a)
{
    char *d = mpx_shareable_list_describe(a);
    printf("  %s\n", d ? d : "(error)");
    mpx_free(d);
}

int main(void)
{
    /* SharedMemory */
    mpx_shm *shm_a, *shm_b;
    if (mpx_shm_open(&shm_a, NULL, 1, 10, NULL))
        return 1;
    unsigned char *buffer = mpx_shm_buf(shm_a);
    memcpy(buffer, (unsigned char[]){22, 33, 44, 55}, 4);
    mpx_shm_open(&shm_b, mpx_shm_name(shm_a), 0, 0, NULL);
    unsigned char *b = mpx_shm_buf(shm_b);
    printf("SharedMemory %s: bytes(shm_b.buf[:5]) = %02x %02x %02x %02x %02x\n",
           mpx_shm_name(shm_a), b[0], b[1], b[2], b[3], b[4]);
    mpx_shm_close(shm_b);
    mpx_shm_close(shm_a);
    mpx_shm_unlink(shm_a);
    mpx_shm_destroy(shm_b);
    mpx_shm_destroy(shm_a);

    /* ShareableList */
    mpx_sl_item items[] = {mpx_sl_str("howdy"), mpx_sl_bytes("HoWdY", 5), mpx_sl_float(-273.154),
                           mpx_sl_int(100), mpx_sl_none(), mpx_sl_bool(1), mpx_sl_int(42)};
    mpx_shareable_list *a;
    if (mpx_shareable_list_open(&a, items, 7, NULL, NULL))
        return 1;
    printf("ShareableList:\n");
    print_list(a);
    mpx_shareable_list_set_float(a, 2, -78.5);
    print_list(a);
    mpx_shareable_list_set_str(a, 2, "dry ice"); /* changing types is supported */
    print_list(a);
    int rc = mpx_shareable_list_set_str(a, 2, "larger than previously allocated storage space");
    printf("  a[2] = 'larger than ...': %s (Python: ValueError)\n", mpx_err_name(rc));
    char *fmt = mpx_shareable_list_format(a);
    printf("  format %s, len %zu\n", fmt, mpx_shareable_list_len(a));
    mpx_free(fmt);
    mpx_shm_unlink(mpx_shareable_list_shm(a));
    mpx_shareable_list_destroy(a);

    /* SharedMemoryManager: its blocks are unlinked at shutdown */
    mpx_shm_manager *smm;
    mpx_shm_manager_create(&smm);
    mpx_shm_manager_start(smm);
    static mpx_sl_item range[2000];
    for (int i = 0; i < 2000; i++)
        range[i] = mpx_sl_int(i);
    mpx_shareable_list *sl;
    if (mpx_shm_manager_shareable_list(smm, range, 2000, &sl))
        return 1;
    printf("SharedMemoryManager: ShareableList(range(2000)) in %s\n",
           mpx_shm_name(mpx_shareable_list_shm(sl)));
    mpx_process *p[2];
    for (int h = 0; h < 2; h++) {
        mpx_args *args;
        mpx_args_create(&args);
        mpx_args_add_str(args, mpx_shm_name(mpx_shareable_list_shm(sl)));
        mpx_args_add_int(args, h);
        mpx_process_create(&p[h], sum_list_half, args, NULL);
        mpx_args_destroy(args);
        mpx_process_start(p[h]);
    }
    for (int h = 0; h < 2; h++) {
        mpx_process_join(p[h], MPX_FOREVER);
        mpx_process_destroy(p[h]);
    }
    mpx_shareable_list_destroy(sl);
    mpx_shm_manager_destroy(smm); /* shutdown: the block is gone */

    /* a block of doubles summed by two children */
    enum { N = 1000000 };
    mpx_shm *s;
    if (mpx_shm_open(&s, NULL, 1, (N + 2) * sizeof(double), NULL))
        return 1;
    double *v = mpx_shm_buf(s);
    for (int i = 0; i < N; i++)
        v[i] = i * 0.5;
    for (int h = 0; h < 2; h++) {
        mpx_args *args;
        mpx_args_create(&args);
        mpx_args_add_object(args, s);
        mpx_args_add_int(args, h);
        mpx_args_add_int(args, N);
        mpx_process_create(&p[h], sum_half, args, NULL);
        mpx_args_destroy(args);
        mpx_process_start(p[h]);
    }
    for (int h = 0; h < 2; h++) {
        mpx_process_join(p[h], MPX_FOREVER);
        mpx_process_destroy(p[h]);
    }
    printf("sum of %d doubles in a block, by two processes: %.1f (expected %.1f)\n", N,
           v[N] + v[N + 1], 0.5 * N * (N - 1) / 2);
    mpx_shm_unlink(s);
    mpx_shm_destroy(s);
    return 0;
}
