/*
 * version.c - run-time twins of the version macros.
 */
#include "core/common.h"

#define STR2(x) #x
#define STR(x) STR2(x)

uint32_t gscam_version_number(void)
{
    return GSCAM_VERSION_NUMBER;
}

const char *gscam_version_string(void)
{
    return STR(GSCAM_VERSION_MAJOR) "." STR(GSCAM_VERSION_MINOR) "." STR(GSCAM_VERSION_PATCH);
}
