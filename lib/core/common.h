/*
 * common.h - internal helpers shared by every module: failure reporting,
 * handle validation and option lists.
 */
#ifndef GS_COMMON_H
#define GS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "gscorecam.h"

/* Size of every message buffer, the terminating NUL included. */
#define GS_MSG_SIZE 512

/* Handle magic numbers, to catch freed and foreign handles. */
#define GS_MAGIC_MODEL 0x4d4f444cu     /* "MODL" */
#define GS_MAGIC_TOKENIZER 0x544f4b4eu /* "TOKN" */
#define GS_MAGIC_IMAGE 0x494d4147u     /* "IMAG" */
#define GS_MAGIC_CAM 0x43414d43u       /* "CAMC" */
#define GS_MAGIC_DEAD 0xdeadbeefu      /* written by every *_free */

#if defined(__GNUC__)
#define GS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GS_PRINTF(f, a)
#endif

/* Formats a one-line message into the calling thread's last-error buffer and,
 * when handle_msg is not NULL, into that GS_MSG_SIZE buffer too. Returns st,
 * so a caller can write `return gs_fail(...)`. */
gscam_status gs_fail(char *handle_msg, gscam_status st, const char *fmt, ...) GS_PRINTF(3, 4);

/* Copies the calling thread's last-error message into a handle's buffer,
 * for failures reported by another module. Returns st. */
gscam_status gs_fail_again(char *handle_msg, gscam_status st);

/* Clears the calling thread's last-error message (called on success paths
 * that follow an earlier failure is not required; messages persist). */
void gs_clear_last_error(void);

/* Sends one formatted line to the log callback, if one is installed. */
void gs_log(const char *fmt, ...) GS_PRINTF(1, 2);

/* Looks up id in an option list (pairs ended by a 0 id). Stores the value in
 * *value and returns 1 when present, 0 when absent. */
int gs_option_find(const gscam_option_list *options, int64_t id, int64_t *value);

/* Checks that every id of an option list is one of the n ids in allowed.
 * Returns GSCAM_OK or fails with GSCAM_ERR_INVALID_ARGUMENT. */
gscam_status gs_option_check(const gscam_option_list *options, const int64_t *allowed, size_t n);

#endif
