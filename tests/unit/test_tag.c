/*
 * test_tag.c -- the libfabric tag and CQ data encodings (plugin/core/tag.h).
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "plugin/core/tag.h"

static const unsigned kinds[] = {DLC_TAG_DATA, DLC_TAG_NOTICE, DLC_TAG_CTRL};
static const uint32_t comms[] = {1, 2, 0x155555, DLC_COMM_ID_MAX - 1, DLC_COMM_ID_MAX};
static const uint32_t seqs[] = {0, 1, 0x123456, DLC_SEQ_MASK - 1, DLC_SEQ_MASK};
static const uint32_t steps[] = {0, 1, 0xabc, DLC_STEP_MAX - 1, DLC_STEP_MAX};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* libfabric matching: a posted receive (tag, ignore) matches an incoming tag t
 * when they agree on every bit not in ignore. */
static int fi_matches(uint64_t posted, uint64_t ignore, uint64_t incoming)
{
    return ((posted ^ incoming) & ~ignore) == 0;
}

Test(tag, field_widths)
{
    cr_assert_eq(DLC_COMM_ID_MAX, (1u << 22) - 1);
    cr_assert_eq(DLC_SEQ_MASK, (1u << 24) - 1);
    cr_assert_eq(DLC_STEP_MAX, (1u << 12) - 1);
    cr_assert_eq(DLC_BYTES_MAX, (UINT64_C(1) << 44) - 1);
}

Test(tag, round_trip_at_field_limits)
{
    for (size_t k = 0; k < N(kinds); k++)
        for (size_t c = 0; c < N(comms); c++)
            for (size_t s = 0; s < N(seqs); s++)
                for (size_t p = 0; p < N(steps); p++) {
                    uint64_t t = dlc_tag_make(kinds[k], comms[c], seqs[s], steps[p]);
                    cr_assert_eq(dlc_tag_kind(t), kinds[k]);
                    cr_assert_eq(dlc_tag_comm(t), comms[c]);
                    cr_assert_eq(dlc_tag_seq(t), seqs[s]);
                    cr_assert_eq(dlc_tag_step(t), steps[p]);
                    cr_assert_eq(t >> 60, 0, "top 4 bits must stay zero: %#llx",
                                 (unsigned long long)t);
                }
}

Test(tag, all_ones_fill_exactly_the_low_60_bits)
{
    uint64_t t = dlc_tag_make(3, DLC_COMM_ID_MAX, DLC_SEQ_MASK, DLC_STEP_MAX);
    cr_assert_eq(t, (UINT64_C(1) << 60) - 1, "%#llx", (unsigned long long)t);
    cr_assert_eq(dlc_tag_make(0, 0, 0, 0), 0);
}

Test(tag, fields_do_not_bleed_into_each_other)
{
    /* Each field set to all ones alone leaves the others zero. */
    uint64_t t = dlc_tag_make(DLC_TAG_CTRL, 0, 0, 0);
    cr_assert_eq(dlc_tag_comm(t), 0);
    cr_assert_eq(dlc_tag_seq(t), 0);
    cr_assert_eq(dlc_tag_step(t), 0);
    t = dlc_tag_make(0, DLC_COMM_ID_MAX, 0, 0);
    cr_assert_eq(dlc_tag_kind(t), 0);
    cr_assert_eq(dlc_tag_seq(t), 0);
    cr_assert_eq(dlc_tag_step(t), 0);
    t = dlc_tag_make(0, 0, DLC_SEQ_MASK, 0);
    cr_assert_eq(dlc_tag_kind(t), 0);
    cr_assert_eq(dlc_tag_comm(t), 0);
    cr_assert_eq(dlc_tag_step(t), 0);
    t = dlc_tag_make(0, 0, 0, DLC_STEP_MAX);
    cr_assert_eq(dlc_tag_kind(t), 0);
    cr_assert_eq(dlc_tag_comm(t), 0);
    cr_assert_eq(dlc_tag_seq(t), 0);

    /* Out-of-range values are masked to their field, never carried over. */
    t = dlc_tag_make(DLC_TAG_DATA, 7, 9, DLC_STEP_MAX + 1u);
    cr_assert_eq(dlc_tag_step(t), 0);
    cr_assert_eq(dlc_tag_seq(t), 9);
    t = dlc_tag_make(DLC_TAG_DATA, 7, DLC_SEQ_MASK + 2u, 5);
    cr_assert_eq(dlc_tag_seq(t), 1); /* sequence numbers wrap */
    cr_assert_eq(dlc_tag_comm(t), 7);
    t = dlc_tag_make(DLC_TAG_DATA, DLC_COMM_ID_MAX + 1u, 3, 5);
    cr_assert_eq(dlc_tag_comm(t), 0);
    cr_assert_eq(dlc_tag_kind(t), DLC_TAG_DATA);
    t = dlc_tag_make(4 + DLC_TAG_NOTICE, 1, 3, 5);
    cr_assert_eq(dlc_tag_kind(t), DLC_TAG_NOTICE);
    cr_assert_eq(t >> 60, 0);
}

Test(tag, kinds_are_distinct)
{
    for (size_t a = 0; a < N(kinds); a++)
        for (size_t b = 0; b < N(kinds); b++) {
            uint64_t ta = dlc_tag_make(kinds[a], 5, 6, 7), tb = dlc_tag_make(kinds[b], 5, 6, 7);
            cr_assert_eq(ta == tb, a == b);
            /* A receive for one kind (any comm / seq / step) never takes another kind. */
            cr_assert_eq(fi_matches(ta, DLC_TAG_IGNORE_ALL_BUT_KIND, tb), a == b);
        }
}

Test(tag, comm_ids_one_and_max_are_distinct)
{
    uint64_t a = dlc_tag_make(DLC_TAG_DATA, 1, 100, 2);
    uint64_t b = dlc_tag_make(DLC_TAG_DATA, DLC_COMM_ID_MAX, 100, 2);
    cr_assert_neq(a, b);
    cr_assert_eq(dlc_tag_comm(a), 1);
    cr_assert_eq(dlc_tag_comm(b), DLC_COMM_ID_MAX);
    /* An exact receive on one communicator does not match the other's message. */
    cr_assert(!fi_matches(a, 0, b));
    cr_assert(!fi_matches(b, 0, a));
    cr_assert(fi_matches(a, 0, a));
}

Test(tag, ignore_all_but_kind_matching)
{
    /* The mask covers exactly comm, seq and step. */
    cr_assert_eq(DLC_TAG_IGNORE_ALL_BUT_KIND,
                 dlc_tag_make(0, DLC_COMM_ID_MAX, DLC_SEQ_MASK, DLC_STEP_MAX));
    for (size_t k = 0; k < N(kinds); k++) {
        uint64_t posted = dlc_tag_make(kinds[k], 1, 0, 0);
        for (size_t c = 0; c < N(comms); c++)
            for (size_t s = 0; s < N(seqs); s++) {
                uint64_t in = dlc_tag_make(kinds[k], comms[c], seqs[s], steps[s]);
                /* Same kind, differing only in ignored bits: matches. */
                cr_assert(fi_matches(posted, DLC_TAG_IGNORE_ALL_BUT_KIND, in));
                cr_assert_eq((posted ^ in) & ~DLC_TAG_IGNORE_ALL_BUT_KIND, 0);
                /* ... but not without the mask unless equal. */
                cr_assert_eq(fi_matches(posted, 0, in), posted == in);
            }
    }
}

Test(tag, cqdata_round_trip)
{
    static const unsigned ops[] = {DLC_OP_ALLGATHER, DLC_OP_BARRIER, DLC_OP_SPLIT, 15};
    static const uint8_t codes[] = {0, 2, 6, 255};
    static const uint8_t bits[] = {0, 8, 64, 128, 255};
    static const uint64_t bytes[] = {0, 1, 4096, (UINT64_C(1) << 32) + 5, DLC_BYTES_MAX - 1,
                                     DLC_BYTES_MAX};
    for (size_t o = 0; o < N(ops); o++)
        for (size_t c = 0; c < N(codes); c++)
            for (size_t b = 0; b < N(bits); b++)
                for (size_t n = 0; n < N(bytes); n++) {
                    uint64_t d = dlc_cqdata_make(ops[o], codes[c], bits[b], bytes[n]);
                    cr_assert_eq(dlc_cqdata_op(d), ops[o]);
                    cr_assert_eq(dlc_cqdata_code(d), codes[c]);
                    cr_assert_eq(dlc_cqdata_bits(d), bits[b]);
                    cr_assert_eq(dlc_cqdata_bytes(d), bytes[n]);
                }
    /* All fields at their maximum fill the word; each alone leaves the others 0. */
    cr_assert_eq(dlc_cqdata_make(15, 255, 255, DLC_BYTES_MAX), UINT64_MAX);
    uint64_t d = dlc_cqdata_make(0, 0, 0, DLC_BYTES_MAX);
    cr_assert_eq(dlc_cqdata_op(d) | dlc_cqdata_code(d) | dlc_cqdata_bits(d), 0);
    d = dlc_cqdata_make(0, 0, 255, 0);
    cr_assert_eq(dlc_cqdata_bytes(d) | dlc_cqdata_code(d) | dlc_cqdata_op(d), 0);
    d = dlc_cqdata_make(0, 255, 0, 0);
    cr_assert_eq(dlc_cqdata_bytes(d) | dlc_cqdata_bits(d) | dlc_cqdata_op(d), 0);
    d = dlc_cqdata_make(15, 0, 0, 0);
    cr_assert_eq(dlc_cqdata_bytes(d) | dlc_cqdata_bits(d) | dlc_cqdata_code(d), 0);
    /* A byte count over the limit is masked, not allowed to reach the dtype. */
    d = dlc_cqdata_make(DLC_OP_ALLGATHER, 2, 32, DLC_BYTES_MAX + 1);
    cr_assert_eq(dlc_cqdata_bytes(d), 0);
    cr_assert_eq(dlc_cqdata_bits(d), 32);
    cr_assert_eq(dlc_cqdata_code(d), 2);
}
