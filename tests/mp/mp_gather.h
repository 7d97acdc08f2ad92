/*
 * mp_gather.h -- one checked allgather into a single output tensor.
 *
 * mp_ag_prepare() allocates a guarded input and output for the spec, fills the
 * input with this rank's pattern and the output with the "untouched" pattern;
 * the caller runs allgather (blocking or not) on a.tin / a.tout; mp_ag_verify()
 * checks every output byte (block j must hold the pattern of identity ids[j]),
 * the bytes before byte_offset, the guards, and that the input did not change.
 */
#ifndef MP_GATHER_H
#define MP_GATHER_H

#include "mp_harness.h"

#define MP_AG_MAXDIM 8

typedef struct mp_ag_spec {
    DLDataType dt;
    int ndim;                        /* of the input; 0 = scalar */
    int64_t shape[MP_AG_MAXDIM];
    int stacked;                     /* output (N, *in) instead of (N*in0, *in[1:]) */
    int inplace;                     /* input = this rank's block of the output */
    size_t in_off, out_off;          /* byte_offset of input / output */
    int null_data;                   /* zero elements: data pointers NULL */
    uint32_t seed;
} mp_ag_spec;

typedef struct mp_ag {
    mp_ag_spec s;
    int n, me;                       /* communicator size and this rank's index in it */
    int ids[MP_MAX_RANKS];           /* pattern identity of each index (world ranks) */
    int64_t in_shape[MP_AG_MAXDIM], out_shape[MP_AG_MAXDIM + 1];
    size_t block;                    /* bytes per rank */
    mp_buf in, out;
    DLTensor tin, tout;
    char label[200];
} mp_ag;

/* ids NULL: identity i for index i.  Returns 0, or 1 after mp_fail. */
int mp_ag_prepare(mp_ctx *ctx, mp_ag *a, const mp_ag_spec *s, int me, int n, const int *ids);
/* Returns 0 when everything is right, else 1 after mp_fail (one message per problem). */
int mp_ag_verify(mp_ctx *ctx, mp_ag *a);
void mp_ag_free(mp_ag *a);

/* prepare + blocking allgather on comm + verify + free.  0 on success, 1 when
 * the data were wrong, 2 when the call itself failed (the comm may be broken). */
int mp_check_allgather(mp_ctx *ctx, dlcoll_comm_t comm, const mp_ag_spec *s, int me, int n,
                       const int *ids);

/* A spec for dtype dt, shape[0..ndim) (ndim 0: a scalar, shape may be NULL). */
mp_ag_spec mp_spec(DLDataType dt, uint32_t seed, int ndim, const int64_t *shape);
/* MP_SPEC(dt, seed, d0, d1, ...): a spec with at least one dimension. */
#define MP_SPEC(dt, seed, ...)                                                 \
    mp_spec((dt), (seed), (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
            (int64_t[]){__VA_ARGS__})

const char *mp_dtype_name(DLDataType dt);

#endif
