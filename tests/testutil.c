/*
 * testutil.c - helpers shared by the Check test programs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "testutil.h"

const char *tu_shared_path(const char *rel, char *buf, size_t size)
{
    const char *dir = getenv("GSCAM_SHARED");
    struct stat st;

    if (!dir || !*dir)
        dir = "../shared";
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    snprintf(buf, size, "%s/%s", dir, rel);
    return buf;
}

const char *tu_build_path(const char *rel, char *buf, size_t size)
{
    const char *dir = getenv("GSCAM_BUILD");

    if (!dir || !*dir)
        dir = "build";
    snprintf(buf, size, "%s/%s", dir, rel);
    return buf;
}

unsigned char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
            free(buf);
            buf = NULL;
        }
        if (buf) {
            buf[len] = 0;
            *size = (size_t)len;
        }
    }
    fclose(f);
    return buf;
}

void tu_note_skip(const char *test, const char *reason)
{
    printf("SKIPPED: %s: %s\n", test, reason);
    fflush(stdout);
}

int tu_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    int failed;

    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
