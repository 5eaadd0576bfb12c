/*
 * options.c - option lists: (id, value) pairs ended by a 0 id.
 */
#include "core/common.h"

/* Longest list read; guards against a list whose terminator is missing. */
#define MAX_OPTION_PAIRS 64

int gs_option_find(const gscam_option_list *options, int64_t id, int64_t *value)
{
    if (!options)
        return 0;
    for (size_t i = 0; i < MAX_OPTION_PAIRS && options[2 * i] != 0; i++) {
        if (options[2 * i] == id) {
            *value = options[2 * i + 1];
            return 1;
        }
    }
    return 0;
}

gscam_status gs_option_check(const gscam_option_list *options, const int64_t *allowed, size_t n)
{
    size_t i;

    if (!options)
        return GSCAM_OK;
    for (i = 0; i < MAX_OPTION_PAIRS && options[2 * i] != 0; i++) {
        size_t j = 0;
        while (j < n && allowed[j] != options[2 * i])
            j++;
        if (j == n)
            return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT, "option list: unknown option id %lld",
                           (long long)options[2 * i]);
    }
    if (i == MAX_OPTION_PAIRS)
        return gs_fail(NULL, GSCAM_ERR_INVALID_ARGUMENT,
                       "option list: no 0 terminator within %d pairs", MAX_OPTION_PAIRS);
    return GSCAM_OK;
}
