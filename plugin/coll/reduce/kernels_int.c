/*
 * coll/reduce/kernels_int.c -- the signed and unsigned integers of 8 to 64
 * bits.  The accumulator is the dtype itself; SUM and PROD compute in the
 * unsigned type of the same width, so overflow wraps (modulo 2^bits) and is
 * never undefined; MIN and MAX compare in the dtype (signed or not); AVG
 * divides the wrapped sum once by N, truncating toward zero.
 */
#include "plugin/coll/reduce/int_family.h"

DLC_INT_FAMILY(, int_table)

const dlc_red_kernels *dlc_red_kernels_int(DLDataType dt)
{
    return int_table(dt);
}
