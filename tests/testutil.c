/*
 * testutil.c - helpers shared by the Check test programs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Tests run in forked children, so skips are counted through a file that
 * each child appends one line to. */
static char skip_log[64];

void tu_note_skip(const char *test, const char *reason)
{
    FILE *f = skip_log[0] ? fopen(skip_log, "a") : NULL;

    /* Check's START_TEST names the function <test>_fn. */
    int len = (int)strlen(test);

    if (len > 3 && strcmp(test + len - 3, "_fn") == 0)
        len -= 3;
    printf("SKIPPED: %.*s: %s\n", len, test, reason);
    fflush(stdout);
    if (f) {
        fprintf(f, "%s\n", test);
        fclose(f);
    }
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;

    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

int tu_run(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    int failed, run, skipped;
    int fd;

    snprintf(skip_log, sizeof skip_log, "/tmp/gscam-skips-XXXXXX");
    fd = mkstemp(skip_log);
    if (fd >= 0)
        close(fd);
    else
        skip_log[0] = '\0';

    srunner_set_fork_status(runner, CK_FORK);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    run = srunner_ntests_run(runner);
    srunner_free(runner);
    skipped = skip_log[0] ? count_lines(skip_log) : 0;
    if (skip_log[0])
        unlink(skip_log);

    if (failed != 0)
        return 1;
    if (skipped > 0)
        printf("%d of %d tests skipped\n", skipped, run);
    return skipped > 0 && skipped == run ? 77 : 0;
}

int tu_python(const char *args)
{
    const char *python = getenv("PYTHON");
    char *cmd;
    size_t len;
    int rc;

    if (!python || !*python)
        python = "/usr/bin/python3";
    len = strlen(python) + strlen(args) + 2;
    cmd = malloc(len);
    if (!cmd)
        return -1;
    snprintf(cmd, len, "%s %s", python, args);
    rc = system(cmd);
    free(cmd);
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

float *tu_read_npy(const char *path, size_t *count)
{
    size_t size = 0, header;
    unsigned char *raw = tu_read_file(path, &size);
    float *out;

    if (!raw || size < 10 || memcmp(raw, "\x93NUMPY", 6) != 0) {
        free(raw);
        return NULL;
    }
    header = 10 + (size_t)raw[8] + 256 * (size_t)raw[9];
    if (header > size || !strstr((const char *)raw + 10, "'<f4'")) {
        free(raw);
        return NULL;
    }
    *count = (size - header) / sizeof(float);
    out = malloc(*count * sizeof(float) + 1);
    if (out)
        memcpy(out, raw + header, *count * sizeof(float));
    free(raw);
    return out;
}

int tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return -1;
    ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

const char *tu_temp_dir(void)
{
    static char dir[64];

    snprintf(dir, sizeof dir, "/tmp/gscam-test-XXXXXX");
    return mkdtemp(dir);
}

const char *tu_fixture(const char *name, char *buf, size_t size)
{
    char rel[256];
    struct stat st;

    snprintf(rel, sizeof rel, "fixtures/%s", name);
    tu_build_path(rel, buf, size);
    return stat(buf, &st) == 0 ? buf : NULL;
}
