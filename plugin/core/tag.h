/*
 * tag.h -- the 64-bit libfabric tag and the 64-bit remote CQ data word.
 *
 * Tag layout (bits; the top 4 are left zero for providers that reserve them):
 *   59..58  kind      DLC_TAG_DATA, DLC_TAG_NOTICE (error / abort notices), DLC_TAG_CTRL
 *   57..36  comm id   22 bits, unique per communicator in the job (world = 1)
 *   35..12  op seq    24 bits, per-communicator collective sequence number (wraps)
 *   11..0   step      12 bits, algorithm step / chunk index
 * Two communicators never share a comm id, so their messages never match each other.
 *
 * CQ data (sent with every data message, checked by the receiver):
 *   63..60  op kind   DLC_OP_ALLGATHER, DLC_OP_BARRIER, ...
 *   59..52  dtype code
 *   51..44  dtype bits
 *   43..0   per-rank byte count of the operation (16 TiB max)
 */
#ifndef DLC_TAG_H
#define DLC_TAG_H

#include <stdint.h>

enum { DLC_TAG_DATA = 0, DLC_TAG_NOTICE = 1, DLC_TAG_CTRL = 2 };
enum {
    DLC_OP_ALLGATHER = 1,
    DLC_OP_BARRIER = 2,
    DLC_OP_SPLIT = 3,
    DLC_OP_ALLREDUCE = 4,
    DLC_OP_REDUCE_SCATTER = 5,
    DLC_OP_BROADCAST = 6,
    DLC_OP_AGREE = 7 /* the agreement phase of the three above (coll/agree.c) */
};

#define DLC_COMM_ID_BITS 22
#define DLC_SEQ_BITS 24
#define DLC_STEP_BITS 12
#define DLC_COMM_ID_MAX ((1u << DLC_COMM_ID_BITS) - 1u)
#define DLC_SEQ_MASK ((1u << DLC_SEQ_BITS) - 1u)
#define DLC_STEP_MAX ((1u << DLC_STEP_BITS) - 1u)
#define DLC_BYTES_MAX ((UINT64_C(1) << 44) - 1u)

static inline uint64_t dlc_tag_make(unsigned kind, uint32_t comm_id, uint32_t seq, uint32_t step)
{
    return ((uint64_t)(kind & 3u) << 58) | ((uint64_t)(comm_id & DLC_COMM_ID_MAX) << 36) |
           ((uint64_t)(seq & DLC_SEQ_MASK) << 12) | (uint64_t)(step & DLC_STEP_MAX);
}
static inline unsigned dlc_tag_kind(uint64_t t)
{
    return (unsigned)((t >> 58) & 3u);
}
static inline uint32_t dlc_tag_comm(uint64_t t)
{
    return (uint32_t)((t >> 36) & DLC_COMM_ID_MAX);
}
static inline uint32_t dlc_tag_seq(uint64_t t)
{
    return (uint32_t)((t >> 12) & DLC_SEQ_MASK);
}
static inline uint32_t dlc_tag_step(uint64_t t)
{
    return (uint32_t)(t & DLC_STEP_MAX);
}

/* Ignore mask selecting "any comm, any seq, any step" of one kind. */
#define DLC_TAG_IGNORE_ALL_BUT_KIND ((UINT64_C(1) << 58) - 1u)

static inline uint64_t dlc_cqdata_make(unsigned op, uint8_t dt_code, uint8_t dt_bits,
                                       uint64_t bytes)
{
    return ((uint64_t)(op & 15u) << 60) | ((uint64_t)dt_code << 52) | ((uint64_t)dt_bits << 44) |
           (bytes & DLC_BYTES_MAX);
}
static inline unsigned dlc_cqdata_op(uint64_t d)
{
    return (unsigned)(d >> 60);
}
static inline uint8_t dlc_cqdata_code(uint64_t d)
{
    return (uint8_t)(d >> 52);
}
static inline uint8_t dlc_cqdata_bits(uint64_t d)
{
    return (uint8_t)(d >> 44);
}
static inline uint64_t dlc_cqdata_bytes(uint64_t d)
{
    return d & DLC_BYTES_MAX;
}

#endif
