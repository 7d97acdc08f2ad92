/*
 * mp_capture.h -- capture a child program's output in the parent test.
 *
 * Used by the tests that run built programs (dlcoll-run, dlcoll-bench) as
 * subprocesses: their stdout/stderr go to unlinked temporary files, read back
 * whole once the program has exited.
 */
#ifndef MP_CAPTURE_H
#define MP_CAPTURE_H

/* An unlinked temporary file open for reading and writing ("/tmp/dlcoll-<tag>-XXXXXX"). */
int mp_capture_tmpfile(const char *tag);

/* Everything in fd from offset 0, NUL-terminated, malloc'ed (the caller frees). */
char *mp_capture_read(int fd);

#endif
