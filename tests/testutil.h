/*
 * testutil.h - helpers shared by the Check test programs.
 */
#ifndef GS_TESTUTIL_H
#define GS_TESTUTIL_H

#include <stddef.h>

#include <check.h>

/* Joins the shared test-data folder (GSCAM_SHARED, default ../shared) and rel
 * into buf. Returns buf, or NULL when the folder does not exist. */
const char *tu_shared_path(const char *rel, char *buf, size_t size);

/* Joins the build folder (GSCAM_BUILD, default build) and rel into buf. */
const char *tu_build_path(const char *rel, char *buf, size_t size);

/* Reads a whole file; returns a malloc'd buffer (NUL-terminated) or NULL. */
unsigned char *tu_read_file(const char *path, size_t *size);

/* Runs a suite in fork mode and returns the process exit status: 0 when
 * every test passed, 1 otherwise. */
int tu_run(Suite *suite);

/* Marks the running test as skipped for a named reason: prints
 * "SKIPPED: <test>: <reason>" and returns from the test as a pass. A program
 * whose every test skipped exits 77 (tu_run checks the count). */
#define TU_SKIP(reason)                                                   \
    do {                                                                  \
        tu_note_skip(__func__, reason);                                   \
        return;                                                           \
    } while (0)
void tu_note_skip(const char *test, const char *reason);



/* Runs "$PYTHON <args>" (PYTHON defaults to /usr/bin/python3) through the
 * shell from the repository root; returns the exit status, -1 on failure. */
int tu_python(const char *args);

/* Reads a float32 little-endian .npy file; returns a malloc'd array and its
 * element count, or NULL. */
float *tu_read_npy(const char *path, size_t *count);

/* Writes size bytes to path; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t size);

/* Creates a fresh temporary folder and returns its path (static storage). */
const char *tu_temp_dir(void);

/* Path of a fixture archive made by `make fixtures`, or NULL if absent. */
const char *tu_fixture(const char *name, char *buf, size_t size);
#endif
