/*
 * test_tensor.c -- DLTensor validation, runs, pack/unpack and the allgather
 * output check (plugin/util/tensor.c).
 *
 * The layout tests compare every result byte for byte with a naive
 * element-by-element reference on a few hundred randomized views (fixed seed).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/util/tensor.h"

/* ------------------------------------------------------------------ helpers */

static DLDataType dt(uint8_t code, uint8_t bits, uint16_t lanes)
{
    DLDataType d = {code, bits, lanes};
    return d;
}

static DLTensor mk(void *data, DLDataType dtype, int ndim, int64_t *shape, int64_t *strides,
                   uint64_t byte_offset)
{
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.device.device_id = 0;
    t.ndim = ndim;
    t.dtype = dtype;
    t.shape = shape;
    t.strides = strides;
    t.byte_offset = byte_offset;
    return t;
}

#define F32 dt(kDLFloat, 32, 1)

static dlc_tensor describe_ok(const DLTensor *t)
{
    dlc_tensor d;
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_tensor_describe(t, "input", &d, &err);
    cr_assert_eq(st, DLCOLL_SUCCESS, "describe failed: %d %s", st, err.msg);
    return d;
}

/* Describe expecting failure with `status`; the message must contain `needle`. */
static void describe_fails(const DLTensor *t, dlcoll_status_t status, const char *needle)
{
    dlc_tensor d;
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_tensor_describe(t, "input", &d, &err);
    cr_assert_eq(st, status, "status %d, want %d (%s)", st, status, err.msg);
    cr_assert_eq(err.status, status);
    cr_assert(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
    cr_assert(strncmp(err.msg, "input", 5) == 0, "message \"%s\" does not name the argument",
              err.msg);
}

/* Deterministic xorshift64*; the seed is fixed so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static int64_t rnd_range(int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}
static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* ------------------------------------------------------------------ the naive reference */

/* Byte offset (from data) of every logical byte of t, in logical order.
 * Caller frees.  Independent of tensor.c: walks the multi-index directly. */
static size_t *naive_addresses(const DLTensor *t, size_t esize, size_t *nbytes_out)
{
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++)
        numel *= (size_t)t->shape[i];
    size_t nbytes = numel * esize;
    size_t *addr = malloc((nbytes ? nbytes : 1) * sizeof *addr);
    cr_assert(addr);
    int64_t compact[DLC_MAX_NDIM], idx[DLC_MAX_NDIM] = {0};
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        compact[i] = s;
        s *= t->shape[i];
    }
    const int64_t *st = t->strides ? t->strides : compact;
    for (size_t e = 0; e < numel; e++) {
        int64_t el = 0;
        for (int i = 0; i < t->ndim; i++)
            el += idx[i] * st[i];
        for (size_t b = 0; b < esize; b++)
            addr[e * esize + b] = (size_t)t->byte_offset + (size_t)el * esize + b;
        for (int i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i])
                break;
            idx[i] = 0;
        }
    }
    *nbytes_out = nbytes;
    return addr;
}

/* True when two elements share a byte. */
static int naive_overlaps(const size_t *addr, size_t nbytes, size_t bufsize)
{
    uint8_t *seen = calloc(bufsize ? bufsize : 1, 1);
    int dup = 0;
    for (size_t i = 0; i < nbytes && !dup; i++) {
        if (seen[addr[i]])
            dup = 1;
        seen[addr[i]] = 1;
    }
    free(seen);
    return dup;
}

static size_t naive_runs(const size_t *addr, size_t off, size_t len)
{
    if (len == 0)
        return 0;
    size_t runs = 1;
    for (size_t i = off + 1; i < off + len; i++)
        if (addr[i] != addr[i - 1] + 1)
            runs++;
    return runs;
}

/* for_runs callback: records runs and checks them against the reference. */
typedef struct run_check {
    const uint8_t *data;    /* the DLTensor's data pointer */
    const size_t *addr;     /* naive addresses             */
    size_t pos;             /* next logical byte expected  */
    size_t count;
    const uint8_t *prev_end;
} run_check;

static int check_run(void *ctx, uint8_t *ptr, size_t n)
{
    run_check *rc = ctx;
    cr_assert(n > 0, "empty run");
    cr_assert(ptr != rc->prev_end, "run %zu continues the previous one: not maximal", rc->count);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq((size_t)(ptr + i - rc->data), rc->addr[rc->pos + i],
                     "run %zu byte %zu at the wrong address", rc->count, i);
    rc->pos += n;
    rc->count++;
    rc->prev_end = ptr + n;
    return 0;
}

/* Check runs, run_count, pack and unpack of t (in buf of bufsize bytes) over
 * [off, off+len) against the reference. */
static void check_range(const DLTensor *t, const dlc_tensor *d, uint8_t *buf, size_t bufsize,
                        const size_t *addr, size_t off, size_t len)
{
    /* Runs. */
    run_check rc = {buf, addr, off, 0, NULL};
    cr_assert_eq(dlc_tensor_for_runs(d, off, len, check_run, &rc), 0);
    cr_assert_eq(rc.pos, off + len, "runs cover %zu bytes, want %zu", rc.pos - off, len);
    size_t want_runs = naive_runs(addr, off, len);
    cr_assert_eq(rc.count, want_runs, "for_runs made %zu runs, want %zu", rc.count, want_runs);
    cr_assert_eq(dlc_tensor_run_count(d, off, len), want_runs, "run_count %zu, want %zu",
                 dlc_tensor_run_count(d, off, len), want_runs);

    /* Pack. */
    uint8_t *got = malloc(len + 1), *want = malloc(len + 1);
    memset(got, 0xa5, len + 1);
    dlc_tensor_pack(d, off, len, got);
    for (size_t i = 0; i < len; i++)
        want[i] = buf[addr[off + i]];
    cr_assert(memcmp(got, want, len) == 0, "pack differs");
    cr_assert_eq(got[len], 0xa5, "pack wrote past len");

    /* Unpack into a copy; every byte outside the range must stay. */
    uint8_t *src = malloc(len + 1);
    fill_random(src, len);
    uint8_t *mine = malloc(bufsize), *ref = malloc(bufsize);
    memcpy(mine, buf, bufsize);
    memcpy(ref, buf, bufsize);
    for (size_t i = 0; i < len; i++)
        ref[addr[off + i]] = src[i];
    DLTensor t2 = *t;
    t2.data = mine;
    dlc_tensor d2 = describe_ok(&t2);
    dlc_tensor_unpack(&d2, off, len, src);
    cr_assert(memcmp(mine, ref, bufsize) == 0, "unpack differs");
    free(got);
    free(want);
    free(src);
    free(mine);
    free(ref);
}

/* Full check of an accepted tensor: description fields, the whole range and
 * a few random sub-ranges.  Returns the number of runs of the whole tensor. */
static size_t check_tensor(const DLTensor *t, uint8_t *buf, size_t bufsize)
{
    dlc_tensor d = describe_ok(t);
    size_t esize = dlc_dtype_size(t->dtype), nbytes;
    size_t *addr = naive_addresses(t, esize, &nbytes);
    cr_assert_eq(d.nbytes, nbytes);
    cr_assert_eq(d.numel * d.elem_size, nbytes);
    cr_assert_eq(d.elem_size, esize);
    cr_assert_eq(d.base, buf + t->byte_offset);
    size_t runs = naive_runs(addr, 0, nbytes);
    cr_assert_eq(d.contiguous, runs <= 1, "contiguous %d but %zu runs", d.contiguous, runs);
    cr_assert(!naive_overlaps(addr, nbytes, bufsize), "accepted an overlapping layout");

    check_range(t, &d, buf, bufsize, addr, 0, nbytes);
    for (int r = 0; r < 4 && nbytes > 0; r++) {
        size_t off = (size_t)rnd_range(0, (int64_t)nbytes - 1);
        size_t len = (size_t)rnd_range(0, (int64_t)(nbytes - off));
        check_range(t, &d, buf, bufsize, addr, off, len);
    }
    free(addr);
    return runs;
}

static const DLDataType all_dtypes[] = {
    {DLCOLL_DL_BOOL_CODE, 8, 1}, {kDLInt, 8, 1},   {kDLInt, 16, 1},    {kDLInt, 32, 1},
    {kDLInt, 64, 1},             {kDLUInt, 8, 1},  {kDLUInt, 16, 1},   {kDLUInt, 32, 1},
    {kDLUInt, 64, 1},            {kDLFloat, 16, 1}, {kDLFloat, 32, 1}, {kDLFloat, 64, 1},
    {kDLBfloat, 16, 1},          {kDLComplex, 64, 1}, {kDLComplex, 128, 1},
};
#define N_DTYPES (sizeof all_dtypes / sizeof all_dtypes[0])

/* ------------------------------------------------------------------ dtypes */

Test(tensor, every_supported_dtype_accepted_with_its_size)
{
    static const size_t sizes[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2, 8, 16};
    static const char *names[] = {"bool",    "int8",    "int16",    "int32",     "int64",
                                  "uint8",   "uint16",  "uint32",   "uint64",    "float16",
                                  "float32", "float64", "bfloat16", "complex64", "complex128"};
    uint8_t buf[6 * 16];
    int64_t shape[2] = {2, 3};
    for (size_t i = 0; i < N_DTYPES; i++) {
        char name[64];
        cr_assert_eq(dlc_dtype_size(all_dtypes[i]), sizes[i], "dtype %s", names[i]);
        cr_assert_str_eq(dlc_dtype_name(all_dtypes[i], name, sizeof name), names[i]);
        DLTensor t = mk(buf, all_dtypes[i], 2, shape, NULL, 0);
        dlc_tensor d = describe_ok(&t);
        cr_assert_eq(d.elem_size, sizes[i]);
        cr_assert_eq(d.numel, 6);
        cr_assert_eq(d.nbytes, 6 * sizes[i]);
        cr_assert(d.contiguous);
        cr_assert(dlc_dtype_equal(d.dtype, all_dtypes[i]));
    }
}

Test(tensor, unsupported_dtypes_rejected_naming_the_dtype)
{
    static const DLDataType bad[] = {
        {kDLFloat, 32, 4},  {kDLInt, 8, 2},    {kDLFloat, 32, 0},  {kDLFloat, 8, 1},
        {kDLInt, 4, 1},     {kDLInt, 128, 1},  {kDLUInt, 1, 1},    {kDLBfloat, 32, 1},
        {kDLComplex, 32, 1}, {kDLOpaqueHandle, 64, 1}, {DLCOLL_DL_BOOL_CODE, 1, 1},
        {DLCOLL_DL_BOOL_CODE, 16, 1}, {7, 8, 1}, {200, 32, 1},
    };
    uint8_t buf[64];
    int64_t shape[1] = {2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char needle[64], name[64];
        cr_assert_eq(dlc_dtype_size(bad[i]), 0);
        snprintf(needle, sizeof needle, "dtype(code=%u,bits=%u,lanes=%u)", bad[i].code,
                 bad[i].bits, bad[i].lanes);
        cr_assert_str_eq(dlc_dtype_name(bad[i], name, sizeof name), needle);
        DLTensor t = mk(buf, bad[i], 1, shape, NULL, 0);
        describe_fails(&t, DLCOLL_ERR_UNSUPPORTED, needle);
    }
}

Test(tensor, dtype_equal_compares_code_bits_lanes)
{
    cr_assert(dlc_dtype_equal(F32, dt(kDLFloat, 32, 1)));
    cr_assert(!dlc_dtype_equal(F32, dt(kDLFloat, 64, 1)));
    cr_assert(!dlc_dtype_equal(F32, dt(kDLInt, 32, 1)));
    cr_assert(!dlc_dtype_equal(F32, dt(kDLFloat, 32, 2)));
}

/* ------------------------------------------------------------------ devices */

Test(tensor, non_cpu_devices_rejected)
{
    float buf[4];
    int64_t shape[1] = {4};
    DLTensor t = mk(buf, F32, 1, shape, NULL, 0);
    dlc_tensor d;
    dlc_err err;

    t.device.device_type = kDLCUDA;
    t.device.device_id = 0;
    cr_assert_eq(dlc_tensor_describe(&t, "input", &d, &err), DLCOLL_ERR_UNSUPPORTED);
    cr_assert_str_eq(err.msg, "input: device cuda:0 is not supported (CPU memory only)");

    t.device.device_type = kDLROCM;
    t.device.device_id = 3;
    cr_assert_eq(dlc_tensor_describe(&t, "outputs[3]", &d, &err), DLCOLL_ERR_UNSUPPORTED);
    cr_assert_str_eq(err.msg, "outputs[3]: device rocm:3 is not supported (CPU memory only)");

    static const int others[] = {kDLOpenCL, kDLVulkan, kDLMetal, kDLVPI, kDLExtDev,
                                 kDLCUDAManaged, 0, 99};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        t.device.device_type = (DLDeviceType)others[i];
        t.device.device_id = 1;
        describe_fails(&t, DLCOLL_ERR_UNSUPPORTED, "is not supported (CPU memory only)");
    }
}

Test(tensor, pinned_host_memory_accepted)
{
    /* Page-locked host memory is CPU-addressable (see device_is_host_memory). */
    float buf[4];
    int64_t shape[1] = {4};
    DLTensor t = mk(buf, F32, 1, shape, NULL, 0);
    t.device.device_type = kDLCUDAHost;
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(d.nbytes, 16);
    t.device.device_type = kDLROCMHost;
    describe_ok(&t);
}

/* ------------------------------------------------------------------ shapes */

Test(tensor, bad_shapes_and_pointers_rejected)
{
    float buf[8];
    int64_t shape[2] = {2, 4};
    dlc_tensor d;
    dlc_err err;
    cr_assert_eq(dlc_tensor_describe(NULL, "input", &d, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.msg, "input") && strstr(err.msg, "NULL"), "%s", err.msg);

    DLTensor t = mk(buf, F32, -1, shape, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "ndim -1");

    t = mk(buf, F32, 2, NULL, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "shape is NULL");

    int64_t neg[2] = {2, -4};
    t = mk(buf, F32, 2, neg, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "(2, -4)");

    t = mk(NULL, F32, 2, shape, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "data is NULL");

    int64_t big[DLC_MAX_NDIM + 1];
    for (int i = 0; i <= DLC_MAX_NDIM; i++)
        big[i] = 1;
    t = mk(buf, F32, DLC_MAX_NDIM + 1, big, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_UNSUPPORTED, "ndim 33");
    t.ndim = DLC_MAX_NDIM; /* the limit itself is fine */
    d = describe_ok(&t);
    cr_assert_eq(d.numel, 1);
    cr_assert(d.contiguous);
}

Test(tensor, size_overflow_rejected)
{
    float buf[4];
    int64_t s1[2] = {INT64_C(1) << 62, 8}; /* numel overflows */
    DLTensor t = mk(buf, F32, 2, s1, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "too many elements");

    int64_t s2[1] = {INT64_C(1) << 62}; /* numel fits, bytes do not */
    t = mk(buf, F32, 1, s2, NULL, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "too large");

    int64_t s3[1] = {2}, st3[1] = {INT64_C(1) << 62}; /* strides reach too far */
    t = mk(buf, dt(kDLFloat, 64, 1), 1, s3, st3, 0);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "address space");

    int64_t s4[1] = {4}; /* byte_offset wraps the address */
    t = mk(buf, F32, 1, s4, NULL, UINT64_MAX - 4);
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "byte_offset");

    /* A zero dim makes the product 0 however large the others are. */
    int64_t s5[3] = {INT64_C(1) << 62, 0, INT64_C(1) << 62};
    t = mk(NULL, F32, 3, s5, NULL, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(d.numel, 0);
    cr_assert_eq(d.nbytes, 0);
}

Test(tensor, negative_strides_unsupported)
{
    float buf[8];
    int64_t shape[2] = {2, 4}, strides[2] = {4, -1};
    DLTensor t = mk(buf + 3, F32, 2, shape, strides, 0);
    describe_fails(&t, DLCOLL_ERR_UNSUPPORTED, "negative stride -1");

    /* A dim of extent 1 never moves the address: its stride does not matter. */
    int64_t shape1[3] = {2, 1, 4}, strides1[3] = {4, -7, 1};
    t = mk(buf, F32, 3, shape1, strides1, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert(d.contiguous);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 1);
}

Test(tensor, overlapping_layouts_rejected)
{
    float buf[64];
    struct {
        int ndim;
        int64_t shape[3], strides[3];
        const char *needle;
    } cases[] = {
        {1, {3}, {0}, "stride 0"},                 /* broadcast */
        {2, {4, 3}, {1, 0}, "stride 0"},
        {2, {2, 2}, {1, 1}, "overlapping"},        /* (0,1) and (1,0) collide */
        {2, {3, 3}, {2, 1}, "overlapping"},        /* rows overlap */
        {3, {2, 2, 2}, {4, 1, 3}, "overlapping"},  /* (0,0,1)=3 vs (0,1,1)... */
        {2, {2, 5}, {4, 1}, "overlapping"},        /* row 1 starts inside row 0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        DLTensor t = mk(buf, F32, cases[i].ndim, cases[i].shape, cases[i].strides, 0);
        describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, cases[i].needle);
    }
    /* Stride 0 is fine where the extent is 1 or there are no elements. */
    int64_t shape[2] = {1, 3}, strides[2] = {0, 1};
    DLTensor t = mk(buf, F32, 2, shape, strides, 0);
    describe_ok(&t);
    int64_t shape0[2] = {0, 3}, strides0[2] = {0, 0};
    t = mk(NULL, F32, 2, shape0, strides0, 0);
    describe_ok(&t);
}

/* ------------------------------------------------------------------ special tensors */

static int count_run(void *ctx, uint8_t *ptr, size_t n)
{
    (void)ptr;
    ((size_t *)ctx)[0]++;
    ((size_t *)ctx)[1] += n;
    return 0;
}

Test(tensor, byte_offset_honoured)
{
    float buf[16];
    for (int i = 0; i < 16; i++)
        buf[i] = (float)i;
    int64_t shape[1] = {4};
    DLTensor t = mk(buf, F32, 1, shape, NULL, 8);
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(d.base, (uint8_t *)buf + 8);
    float out[4];
    dlc_tensor_pack(&d, 0, sizeof out, out);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(out[i], (float)(i + 2));

    /* With strides too: every other element starting at element 1. */
    int64_t st[1] = {2};
    t = mk(buf, F32, 1, shape, st, 4);
    d = describe_ok(&t);
    cr_assert(!d.contiguous);
    dlc_tensor_pack(&d, 0, sizeof out, out);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(out[i], (float)(1 + 2 * i));
    check_tensor(&t, (uint8_t *)buf, sizeof buf);
}

Test(tensor, zero_element_tensors)
{
    int64_t shape[2] = {0, 3};
    DLTensor t = mk(NULL, F32, 2, shape, NULL, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(d.numel, 0);
    cr_assert_eq(d.nbytes, 0);
    cr_assert(d.contiguous);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, 0), 0);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, 100), 0);
    size_t cnt[2] = {0, 0};
    cr_assert_eq(dlc_tensor_for_runs(&d, 0, 100, count_run, cnt), 0);
    cr_assert_eq(cnt[0], 0);
    dlc_tensor_pack(&d, 0, 0, NULL);
    dlc_tensor_unpack(&d, 0, 0, NULL);

    /* Also with non-NULL data, explicit strides and a 1-dim shape (0). */
    float buf[1];
    int64_t shape1[1] = {0}, strides1[1] = {5};
    t = mk(buf, F32, 1, shape1, strides1, 0);
    d = describe_ok(&t);
    cr_assert_eq(d.nbytes, 0);
}

Test(tensor, zero_dim_tensor_is_one_element)
{
    double x = 2.5;
    DLTensor t = mk(&x, dt(kDLFloat, 64, 1), 0, NULL, NULL, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(d.ndim, 0);
    cr_assert_eq(d.numel, 1);
    cr_assert_eq(d.nbytes, 8);
    cr_assert(d.contiguous);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, 8), 1);
    double y = 0;
    dlc_tensor_pack(&d, 0, 8, &y);
    cr_assert_eq(y, 2.5);
    y = -1.0;
    dlc_tensor_unpack(&d, 0, 8, &y);
    cr_assert_eq(x, -1.0);

    t = mk(NULL, dt(kDLFloat, 64, 1), 0, NULL, NULL, 0); /* one element needs data */
    describe_fails(&t, DLCOLL_ERR_INVALID_ARGUMENT, "data is NULL");
}

Test(tensor, null_strides_equal_explicit_compact_strides)
{
    uint8_t buf[2 * 3 * 4 * 2];
    int64_t shape[3] = {2, 3, 4}, strides[3] = {12, 4, 1};
    DLTensor a = mk(buf, dt(kDLInt, 16, 1), 3, shape, NULL, 0);
    DLTensor b = mk(buf, dt(kDLInt, 16, 1), 3, shape, strides, 0);
    dlc_tensor da = describe_ok(&a), db = describe_ok(&b);
    cr_assert(da.contiguous && db.contiguous);
    cr_assert_eq(da.nbytes, 48);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(da.strides[i], strides[i]);
        cr_assert_eq(db.strides[i], strides[i]);
        cr_assert_eq(da.shape[i], shape[i]);
    }
    cr_assert(dlc_tensor_same_layout_shape(&da, &db));
    cr_assert_eq(dlc_tensor_run_count(&db, 0, db.nbytes), 1);

    /* Extent-1 dims with odd strides are still compact. */
    int64_t shape1[4] = {2, 1, 3, 4}, strides1[4] = {12, 1000, 4, 1};
    DLTensor c = mk(buf, dt(kDLInt, 16, 1), 4, shape1, strides1, 0);
    dlc_tensor dc = describe_ok(&c);
    cr_assert(dc.contiguous);
    cr_assert(!dlc_tensor_same_layout_shape(&da, &dc));
}

Test(tensor, same_layout_shape)
{
    uint8_t buf[64];
    int64_t s1[2] = {2, 3}, s2[2] = {3, 2}, st[2] = {1, 2};
    dlc_tensor a, b, c, e;
    DLTensor t = mk(buf, F32, 2, s1, NULL, 0);
    a = describe_ok(&t);
    t = mk(buf, F32, 2, s1, st, 0); /* strided, same shape */
    b = describe_ok(&t);
    t = mk(buf, F32, 2, s2, NULL, 0);
    c = describe_ok(&t);
    t = mk(buf, dt(kDLInt, 32, 1), 2, s1, NULL, 0);
    e = describe_ok(&t);
    cr_assert(dlc_tensor_same_layout_shape(&a, &b));
    cr_assert(!dlc_tensor_same_layout_shape(&a, &c));
    cr_assert(!dlc_tensor_same_layout_shape(&a, &e));
}

/* ------------------------------------------------------------------ typical views */

static void fill_index(float *p, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (float)i;
}

Test(tensor, transposed_view)
{
    float buf[12];
    fill_index(buf, 12);
    int64_t shape[2] = {4, 3}, strides[2] = {1, 4}; /* transpose of a (3, 4) array */
    DLTensor t = mk(buf, F32, 2, shape, strides, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert(!d.contiguous);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 12);
    float out[12];
    dlc_tensor_pack(&d, 0, sizeof out, out);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            cr_assert_eq(out[i * 3 + j], buf[j * 4 + i]);
    cr_assert_eq(check_tensor(&t, (uint8_t *)buf, sizeof buf), 12);
}

Test(tensor, column_slice)
{
    float buf[4 * 6];
    fill_index(buf, 24);
    /* Columns 1..2 of a (4, 6) array: 4 runs of 8 bytes. */
    int64_t shape[2] = {4, 2}, strides[2] = {6, 1};
    DLTensor t = mk(buf, F32, 2, shape, strides, 1 * sizeof(float));
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 4);
    size_t cnt[2] = {0, 0};
    dlc_tensor_for_runs(&d, 0, d.nbytes, count_run, cnt);
    cr_assert_eq(cnt[0], 4);
    cr_assert_eq(cnt[1], 32);
    /* Bytes [6, 26): from inside run 0 to inside run 3. */
    cr_assert_eq(dlc_tensor_run_count(&d, 6, 20), 4);
    cr_assert_eq(dlc_tensor_run_count(&d, 8, 8), 1);
    cr_assert_eq(dlc_tensor_run_count(&d, 7, 2), 2);
    uint8_t part[20];
    dlc_tensor_pack(&d, 6, 20, part);
    uint8_t full[32];
    dlc_tensor_pack(&d, 0, 32, full);
    cr_assert(memcmp(part, full + 6, 20) == 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            cr_assert_eq(((float *)full)[i * 2 + j], (float)(i * 6 + 1 + j));
    check_tensor(&t, (uint8_t *)buf, sizeof buf);
}

Test(tensor, every_other_row)
{
    float buf[6 * 5];
    fill_index(buf, 30);
    int64_t shape[2] = {3, 5}, strides[2] = {10, 1};
    DLTensor t = mk(buf, F32, 2, shape, strides, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 3);
    float out[15];
    dlc_tensor_pack(&d, 0, sizeof out, out);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            cr_assert_eq(out[i * 5 + j], (float)(i * 10 + j));
    /* Rows of a (2, 3, 5) view that skip whole (3, 5) blocks merge per block. */
    int64_t shape3[3] = {2, 3, 5}, strides3[3] = {30, 5, 1};
    float big[60];
    fill_index(big, 60);
    t = mk(big, F32, 3, shape3, strides3, 0);
    d = describe_ok(&t);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 2);
    check_tensor(&t, (uint8_t *)big, sizeof big);
}

Test(tensor, runs_that_meet_by_coincidence_are_joined)
{
    /* Shape (2, 2), strides (3, 2) elements: offsets 0, 2, 3, 5.  Elements
     * (0,1) and (1,0) are adjacent, so there are 3 maximal runs, not 4. */
    float buf[6];
    fill_index(buf, 6);
    int64_t shape[2] = {2, 2}, strides[2] = {3, 2};
    DLTensor t = mk(buf, F32, 2, shape, strides, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 3);
    cr_assert_eq(dlc_tensor_run_count(&d, 4, 8), 1);
    cr_assert_eq(check_tensor(&t, (uint8_t *)buf, sizeof buf), 3);
}

Test(tensor, large_contiguous_is_one_run_without_touching_memory)
{
    /* 1 TiB at a made-up address: describe, run_count and for_runs only do
     * arithmetic, so this is instant if and only if the walk is O(1). */
    int64_t shape[2] = {INT64_C(1) << 20, INT64_C(1) << 20};
    DLTensor t = mk((void *)(uintptr_t)0x10000, dt(kDLUInt, 8, 1), 2, shape, NULL, 0);
    dlc_tensor d = describe_ok(&t);
    cr_assert(d.contiguous);
    cr_assert_eq(d.nbytes, (size_t)1 << 40);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), 1);
    cr_assert_eq(dlc_tensor_run_count(&d, 12345, (size_t)1 << 39), 1);
    size_t cnt[2] = {0, 0};
    dlc_tensor_for_runs(&d, 5, d.nbytes, count_run, cnt); /* len clamped to the end */
    cr_assert_eq(cnt[0], 1);
    cr_assert_eq(cnt[1], d.nbytes - 5);

    /* Strided: 2^20 rows of 1 KiB out of 2 KiB; counting a range is O(ndim). */
    int64_t shape2[2] = {INT64_C(1) << 20, 1024}, strides2[2] = {2048, 1};
    t = mk((void *)(uintptr_t)0x10000, dt(kDLUInt, 8, 1), 2, shape2, strides2, 0);
    d = describe_ok(&t);
    cr_assert_eq(dlc_tensor_run_count(&d, 0, d.nbytes), (size_t)1 << 20);
    cr_assert_eq(dlc_tensor_run_count(&d, 100, 5000), 5);
    cr_assert_eq(dlc_tensor_run_count(&d, 1024, 1024), 1);
    cr_assert_eq(dlc_tensor_run_count(&d, 1023, 2), 2);
}

static int stop_after_two(void *ctx, uint8_t *ptr, size_t n)
{
    (void)ptr;
    (void)n;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

Test(tensor, for_runs_stops_when_fn_returns_nonzero)
{
    float buf[12];
    int64_t shape[2] = {4, 3}, strides[2] = {1, 4};
    DLTensor t = mk(buf, F32, 2, shape, strides, 0);
    dlc_tensor d = describe_ok(&t);
    int calls = 0;
    cr_assert_eq(dlc_tensor_for_runs(&d, 0, d.nbytes, stop_after_two, &calls), 42);
    cr_assert_eq(calls, 2);
}

/* ------------------------------------------------------------------ randomized */

/* A random view of a random compact parent: permuted dims, start offsets,
 * steps, and extra extent-1 dims with arbitrary strides -- what framework
 * slicing and transposition produce. */
Test(tensor, randomized_views_match_reference)
{
    rng_state = 0x243f6a8885a308d3ull;
    int cases = 0, strided = 0, multi_run_ranges = 0;
    for (int iter = 0; iter < 400; iter++) {
        DLDataType dtype = all_dtypes[rnd() % N_DTYPES];
        size_t esize = dlc_dtype_size(dtype);
        int pnd = rnd() % 8 == 0 ? 1 : (int)rnd_range(2, 4);
        int64_t pshape[4], pstride[4];
        size_t pnumel = 1;
        for (int i = 0; i < pnd; i++) {
            pshape[i] = rnd() % 8 == 0 ? 1 : rnd_range(2, 6);
            pnumel *= (size_t)pshape[i];
        }
        for (int i = pnd - 1, s = 1; i >= 0; i--) {
            pstride[i] = s;
            s *= (int)pshape[i];
        }
        size_t bufsize = (pnumel + 3) * esize; /* + up to 3 elements of front slack */
        uint8_t *buf = malloc(bufsize);
        fill_random(buf, bufsize);

        /* Permute, slice and step. */
        int perm[4] = {0, 1, 2, 3};
        for (int i = pnd - 1; i > 0; i--) {
            int j = (int)rnd_range(0, i), x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
        int64_t shape[8], strides[8];
        uint64_t slack = (uint64_t)rnd_range(0, 3) * esize, offset = slack;
        int nd = 0;
        for (int k = 0; k < pnd; k++) {
            int p = perm[k];
            int64_t start = rnd() % 2 ? 0 : rnd_range(0, pshape[p] - 1);
            int64_t step = rnd_range(1, 3);
            int64_t maxcount = (pshape[p] - start + step - 1) / step;
            int64_t count = rnd() % 2 ? maxcount : rnd_range(1, maxcount);
            if (rnd() % 24 == 0)
                count = 0;
            offset += (uint64_t)(start * pstride[p]) * esize;
            if (rnd() % 4 == 0) { /* an extent-1 dim with a junk stride */
                shape[nd] = 1;
                strides[nd] = rnd_range(-5, 50);
                nd++;
            }
            shape[nd] = count;
            strides[nd] = pstride[p] * step;
            nd++;
        }
        DLTensor t = mk(buf, dtype, nd, shape, rnd() % 8 == 0 ? NULL : strides, offset);
        if (!t.strides) /* compact: view numel <= parent numel, so it fits */
            t.byte_offset = slack;
        size_t runs = check_tensor(&t, buf, bufsize);
        cases++;
        strided += runs > 1;
        multi_run_ranges += runs > 2;
        free(buf);
    }
    cr_assert_eq(cases, 400);
    /* The generator must actually produce strided layouts. */
    cr_assert(strided > 150, "only %d strided cases", strided);
    cr_assert(multi_run_ranges > 100, "only %d cases with several runs", multi_run_ranges);
}

/* Arbitrary random strides: describe must reject every layout in which two
 * elements share a byte, and whatever it accepts must match the reference. */
Test(tensor, randomized_strides_match_reference)
{
    rng_state = 0x13198a2e03707344ull;
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 600; iter++) {
        DLDataType dtype = all_dtypes[rnd() % N_DTYPES];
        size_t esize = dlc_dtype_size(dtype);
        int nd = (int)rnd_range(1, 4);
        int64_t shape[4], strides[4];
        size_t span = 1;
        for (int i = 0; i < nd; i++) {
            shape[i] = rnd_range(1, 4);
            strides[i] = rnd_range(0, 14);
            span += (size_t)((shape[i] - 1) * strides[i]);
        }
        uint64_t offset = (uint64_t)rnd_range(0, 5);
        size_t bufsize = offset + span * esize;
        uint8_t *buf = malloc(bufsize);
        fill_random(buf, bufsize);
        DLTensor t = mk(buf, dtype, nd, shape, strides, offset);

        size_t nbytes;
        size_t *addr = naive_addresses(&t, esize, &nbytes);
        int overlaps = naive_overlaps(addr, nbytes, bufsize);
        free(addr);

        dlc_tensor d;
        dlc_err err;
        dlcoll_status_t st = dlc_tensor_describe(&t, "input", &d, &err);
        if (overlaps)
            cr_assert_eq(st, DLCOLL_ERR_INVALID_ARGUMENT, "overlapping layout accepted");
        if (st == DLCOLL_SUCCESS) {
            check_tensor(&t, buf, bufsize);
            accepted++;
        } else {
            cr_assert_eq(st, DLCOLL_ERR_INVALID_ARGUMENT, "%s", err.msg);
            cr_assert(strstr(err.msg, "overlapping"), "%s", err.msg);
            rejected++;
        }
        free(buf);
    }
    cr_assert(accepted > 150 && rejected > 100, "accepted %d rejected %d", accepted, rejected);
}

/* ------------------------------------------------------------------ allgather output */

static dlc_tensor desc_shape(void *data, DLDataType dtype, int ndim, int64_t *shape,
                             int64_t *strides)
{
    DLTensor t = mk(data, dtype, ndim, shape, strides, 0);
    return describe_ok(&t);
}

static void gather_fails(const dlc_tensor *in, const dlc_tensor *out, int n, const char *msg)
{
    dlc_err err;
    dlc_err_clear(&err);
    dlcoll_status_t st = dlc_tensor_check_gather_output(in, out, n, &err);
    cr_assert_eq(st, DLCOLL_ERR_INVALID_ARGUMENT, "status %d (%s)", st, err.msg);
    cr_assert_str_eq(err.msg, msg);
}

Test(tensor, gather_output_stacked_and_concatenated)
{
    static float in_buf[8], out_buf[64];
    int64_t in_shape[2] = {2, 4};
    dlc_tensor in = desc_shape(in_buf, F32, 2, in_shape, NULL);
    dlc_err err;

    int64_t cat[2] = {8, 4}, stk[3] = {4, 2, 4};
    dlc_tensor out = desc_shape(out_buf, F32, 2, cat, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, 4, &err), DLCOLL_SUCCESS, "%s", err.msg);
    out = desc_shape(out_buf, F32, 3, stk, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, 4, &err), DLCOLL_SUCCESS, "%s", err.msg);

    /* The input's own strides do not matter. */
    int64_t in_st[2] = {1, 2};
    dlc_tensor in_t = desc_shape(in_buf, F32, 2, in_shape, in_st);
    cr_assert_eq(dlc_tensor_check_gather_output(&in_t, &out, 4, &err), DLCOLL_SUCCESS);

    /* One rank: output shaped like the input. */
    out = desc_shape(out_buf, F32, 2, in_shape, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, 1, &err), DLCOLL_SUCCESS);

    /* 1-dim input. */
    int64_t s1[1] = {3}, c1[1] = {12}, k1[2] = {4, 3};
    dlc_tensor in1 = desc_shape(in_buf, F32, 1, s1, NULL);
    out = desc_shape(out_buf, F32, 1, c1, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in1, &out, 4, &err), DLCOLL_SUCCESS);
    out = desc_shape(out_buf, F32, 2, k1, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in1, &out, 4, &err), DLCOLL_SUCCESS);

    /* Empty input: empty output of either shape. */
    int64_t e_in[2] = {0, 4}, e_cat[2] = {0, 4}, e_stk[3] = {3, 0, 4};
    dlc_tensor in0 = desc_shape(NULL, F32, 2, e_in, NULL);
    out = desc_shape(NULL, F32, 2, e_cat, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in0, &out, 3, &err), DLCOLL_SUCCESS);
    out = desc_shape(NULL, F32, 3, e_stk, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in0, &out, 3, &err), DLCOLL_SUCCESS);
}

Test(tensor, gather_output_wrong_shape_or_n)
{
    static float in_buf[8], out_buf[64];
    int64_t in_shape[2] = {2, 4};
    dlc_tensor in = desc_shape(in_buf, F32, 2, in_shape, NULL);

    int64_t s34[2] = {3, 4};
    dlc_tensor out = desc_shape(out_buf, F32, 2, s34, NULL);
    gather_fails(&in, &out, 4, "output has shape (3, 4) but 4 ranks x input (2, 4) needs (8, 4) or (4, 2, 4)");

    /* Right for 4 ranks, wrong for 3. */
    int64_t cat[2] = {8, 4}, stk[3] = {4, 2, 4};
    out = desc_shape(out_buf, F32, 2, cat, NULL);
    gather_fails(&in, &out, 3, "output has shape (8, 4) but 3 ranks x input (2, 4) needs (6, 4) or (3, 2, 4)");
    out = desc_shape(out_buf, F32, 3, stk, NULL);
    gather_fails(&in, &out, 5, "output has shape (4, 2, 4) but 5 ranks x input (2, 4) needs (10, 4) or (5, 2, 4)");

    /* Same element count, other shapes. */
    int64_t flat[1] = {32}, t48[2] = {4, 8}, s424[3] = {2, 4, 4};
    out = desc_shape(out_buf, F32, 1, flat, NULL);
    gather_fails(&in, &out, 4, "output has shape (32) but 4 ranks x input (2, 4) needs (8, 4) or (4, 2, 4)");
    out = desc_shape(out_buf, F32, 2, t48, NULL);
    gather_fails(&in, &out, 4, "output has shape (4, 8) but 4 ranks x input (2, 4) needs (8, 4) or (4, 2, 4)");
    out = desc_shape(out_buf, F32, 3, s424, NULL);
    gather_fails(&in, &out, 4, "output has shape (2, 4, 4) but 4 ranks x input (2, 4) needs (8, 4) or (4, 2, 4)");

    dlc_err err;
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, 0, &err), DLCOLL_ERR_INVALID_ARGUMENT);
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, -2, &err), DLCOLL_ERR_INVALID_ARGUMENT);
}

Test(tensor, gather_output_wrong_dtype_or_not_contiguous)
{
    static double out_buf[64];
    static float in_buf[8];
    int64_t in_shape[2] = {2, 4}, cat[2] = {8, 4};
    dlc_tensor in = desc_shape(in_buf, F32, 2, in_shape, NULL);
    dlc_tensor out = desc_shape(out_buf, dt(kDLFloat, 64, 1), 2, cat, NULL);
    gather_fails(&in, &out, 4, "output dtype float64 differs from input dtype float32");
    out = desc_shape(out_buf, dt(kDLInt, 32, 1), 2, cat, NULL);
    gather_fails(&in, &out, 4, "output dtype int32 differs from input dtype float32");

    int64_t tr[2] = {1, 8}; /* (8, 4) stored transposed */
    out = desc_shape(out_buf, F32, 2, cat, tr);
    gather_fails(&in, &out, 4, "output must be contiguous");
    int64_t rows[2] = {8, 1}; /* every other row of a (16, 4) array */
    out = desc_shape(out_buf, F32, 2, cat, rows);
    gather_fails(&in, &out, 4, "output must be contiguous");
}

Test(tensor, gather_output_zero_dim_input)
{
    static float x, out_buf[16];
    dlc_tensor in = desc_shape(&x, F32, 0, NULL, NULL);
    dlc_err err;
    int64_t s4[1] = {4}, s41[2] = {4, 1}, s22[2] = {2, 2};
    dlc_tensor out = desc_shape(out_buf, F32, 1, s4, NULL);
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, 4, &err), DLCOLL_SUCCESS, "%s", err.msg);
    out = desc_shape(out_buf, F32, 2, s41, NULL);
    gather_fails(&in, &out, 4, "output has shape (4, 1) but 4 ranks x input () needs (4)");
    out = desc_shape(out_buf, F32, 2, s22, NULL);
    gather_fails(&in, &out, 4, "output has shape (2, 2) but 4 ranks x input () needs (4)");
    out = desc_shape(out_buf, F32, 1, s4, NULL);
    gather_fails(&in, &out, 3, "output has shape (4) but 3 ranks x input () needs (3)");
    /* A 0-dim output is one element: never (n) for n > 1. */
    out = desc_shape(out_buf, F32, 0, NULL, NULL);
    gather_fails(&in, &out, 2, "output has shape () but 2 ranks x input () needs (2)");
    cr_assert_eq(dlc_tensor_check_gather_output(&in, &out, 1, &err), DLCOLL_ERR_INVALID_ARGUMENT);
}
