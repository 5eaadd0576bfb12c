/*
 * error.c - status names, the per-thread last-error message and logging.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/common.h"

static _Thread_local char last_error[GS_MSG_SIZE];

static gscam_log_fn log_fn;
static void *log_user;

struct status_entry {
    const char *name;
    const char *text;
};

/* Indexed by status number; numbers never move. */
static const struct status_entry status_table[] = {
    {"GSCAM_OK", "success"},
    {"GSCAM_FLAT_MAP", "map is all zero"},
    {"GSCAM_ERR_INVALID_ARGUMENT", "invalid argument"},
    {"GSCAM_ERR_OUT_OF_MEMORY", "out of memory"},
    {"GSCAM_ERR_IO", "input or output failed"},
    {"GSCAM_ERR_IMAGE", "image corrupt or unsupported"},
    {"GSCAM_ERR_MODEL", "model archive unusable"},
    {"GSCAM_ERR_TEXT", "prompt invalid"},
    {"GSCAM_ERR_LIMIT", "input exceeds a limit"},
    {"GSCAM_ERR_DEVICE", "device not available"},
    {"GSCAM_ERR_BACKEND", "tensor library failed"},
    {"GSCAM_ERR_UNSUPPORTED", "not supported for this model"},
    {"GSCAM_ERR_MISUSE", "invalid handle or call order"},
    {"GSCAM_ERR_CANCELLED", "cancelled"},
    {"GSCAM_ERR_VOCAB", "vocabulary file corrupt"},
};

#define STATUS_COUNT ((gscam_status)(sizeof status_table / sizeof status_table[0]))

int gscam_is_error(gscam_status status)
{
    return status != GSCAM_OK && status != GSCAM_FLAT_MAP;
}

const char *gscam_status_name(gscam_status status)
{
    if (status < 0 || status >= STATUS_COUNT)
        return "GSCAM_UNKNOWN_STATUS";
    return status_table[status].name;
}

const char *gscam_status_string(gscam_status status)
{
    if (status < 0 || status >= STATUS_COUNT)
        return "unknown status";
    return status_table[status].text;
}

const char *gscam_last_error(void)
{
    return last_error;
}

void gs_clear_last_error(void)
{
    last_error[0] = '\0';
}

/* Replaces line breaks so every message stays on one line. */
static void flatten(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

gscam_status gs_fail(char *handle_msg, gscam_status st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    flatten(last_error);

    if (handle_msg && handle_msg != last_error)
        memcpy(handle_msg, last_error, sizeof last_error);
    gs_log("error: %s", last_error);
    return st;
}

gscam_status gs_fail_again(char *handle_msg, gscam_status st)
{
    if (handle_msg && handle_msg != last_error)
        memcpy(handle_msg, last_error, sizeof last_error);
    return st;
}

void gscam_set_log_callback(gscam_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void gs_log(const char *fmt, ...)
{
    char line[GS_MSG_SIZE];
    va_list ap;
    gscam_log_fn fn = log_fn;

    if (!fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    flatten(line);
    fn(log_user, line);
}
