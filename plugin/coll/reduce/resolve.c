/*
 * coll/reduce/resolve.c -- which reduction applies to which dtype, and the
 * kernels that compute it (dlc_red_resolve).
 */
#include <stdio.h>

#include "plugin/coll/reduce/reduce.h"
#include "plugin/util/tensor.h"

static const char *const op_names[] = {"sum",        "prod", "min", "max", "avg",
                                       "premul_sum", "band", "bor", "bxor"};
#define N_OPS ((int)(sizeof op_names / sizeof op_names[0]))

const char *dlc_red_op_name(int op, char *buf, size_t cap)
{
    if (op >= 0 && op < N_OPS)
        return op_names[op];
    snprintf(buf, cap, "op(%d)", op);
    return buf;
}

static int is_bitwise(dlcoll_red_op_t op)
{
    return op == DLCOLL_RED_BAND || op == DLCOLL_RED_BOR || op == DLCOLL_RED_BXOR;
}

dlcoll_status_t dlc_red_resolve(const dlcoll_reduction_t *red, DLDataType dt, int nranks,
                                dlc_red *out, dlc_err *err)
{
    char dn[64], on[32];
    if (red->size < sizeof(dlcoll_reduction_t))
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "reduction: size %zu is smaller than the %zu bytes of dlcoll_reduction_t "
                        "(start from dlcoll_reduction())",
                        red->size, sizeof(dlcoll_reduction_t));
    int op = (int)red->op;
    if (op < 0 || op >= N_OPS)
        return dlc_fail(err, DLCOLL_ERR_INVALID_ARGUMENT,
                        "reduction: unknown op %d (known: 0 sum .. 8 bxor)", op);
    dlc_dtype_name(dt, dn, sizeof dn);
    const char *opn = dlc_red_op_name(op, on, sizeof on);
    out->op = red->op;
    out->factor = red->factor;
    out->nranks = nranks;
    out->dtype = dt;
    out->elem_size = dlc_dtype_size(dt);
    out->acc_size = out->elem_size;
    out->k = NULL;
    int is_float = dt.code == kDLFloat || dt.code == kDLBfloat;
    if (dt.code == kDLComplex)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "reduction %s of %s: complex dtypes are not reduced by this plugin "
                        "(broadcast moves them)",
                        opn, dn);
    if (dt.code == DLCOLL_DL_BOOL_CODE && dt.bits == 8 && dt.lanes == 1) {
        if (op == DLCOLL_RED_AVG || op == DLCOLL_RED_PREMUL_SUM)
            return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                            "reduction %s of bool: only sum, prod, min, max, band, bor and bxor "
                            "(logical or / and / xor) are defined for bool",
                            opn);
        out->k = dlc_red_kernels_bool();
        return DLCOLL_SUCCESS;
    }
    if (is_float && is_bitwise(red->op))
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "reduction %s of %s: bitwise reductions are for integers and bool", opn,
                        dn);
    if (!is_float && op == DLCOLL_RED_PREMUL_SUM)
        return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED,
                        "reduction premul_sum of %s: premul_sum is for floating-point dtypes", dn);
    if (op == DLCOLL_RED_AVG && nranks < 1)
        return dlc_fail(err, DLCOLL_ERR_INTERNAL, "reduction avg over %d ranks", nranks);
    const dlc_red_kernels *vec = dlc_red_cpu_has_avx2() ? dlc_red_kernels_avx2(dt) : NULL;
    if ((out->k = dlc_red_kernels_float(dt)) != NULL) {
        out->k = vec ? vec : out->k;
        return DLCOLL_SUCCESS;
    }
    if ((out->k = dlc_red_kernels_half(dt)) != NULL) {
        out->k = vec ? vec : out->k;
        out->acc_size = sizeof(float);
        return DLCOLL_SUCCESS;
    }
    if ((out->k = dlc_red_kernels_int(dt)) != NULL) {
        out->k = vec ? vec : out->k;
        return DLCOLL_SUCCESS;
    }
    return dlc_fail(err, DLCOLL_ERR_UNSUPPORTED, "reduction %s of %s: dtype not supported", opn,
                    dn);
}
