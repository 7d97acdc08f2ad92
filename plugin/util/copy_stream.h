/*
 * copy_stream.h -- copying into memory that will not be read again soon.
 *
 * An allgather's output of many MiB is written once and read by the
 * application only later: ordinary stores first read every destination cache
 * line into the cache (read-for-ownership) and then evict lines the next
 * copy needs.  Streaming (non-temporal) stores write the lines straight to
 * memory: on the development machine (AMD EPYC, 32 MiB L3) copying a 64 KiB
 * shared-memory chunk into a 32 MiB output ran at 27.6 GB/s streamed against
 * 16.9 GB/s with memcpy; for an output that fits the cache memcpy is faster
 * (46 vs 27.5 GB/s at 4 MiB), so callers stream only when the outputs that
 * the ranks of this host write in one operation together are large against
 * the last-level cache (dlc_stream_min_bytes).
 */
#ifndef DLC_COPY_STREAM_H
#define DLC_COPY_STREAM_H

#include <stddef.h>

/* memcpy(dst, src, n) with streaming stores where the CPU has them (x86-64:
 * SSE2, always present), else memcpy.  The stores are fenced before it
 * returns, so a release store that follows publishes them like memcpy's. */
void dlc_copy_stream(void *dst, const void *src, size_t n);

/* Bytes written to their outputs by all ranks of this host in one operation
 * from which the copies into the outputs stream: `configured` when >= 0
 * (DLCOLL_STREAM_MIN_BYTES, parsed at init; 0 = never stream: SIZE_MAX), else
 * half this host's last-level cache (sysconf, read once; 16 MiB when
 * unknown): measured with 2 and 4 ranks on the development machine,
 * streaming pays from there on (docs/benchmarks.md). */
size_t dlc_stream_min_bytes(long long configured);

#endif
