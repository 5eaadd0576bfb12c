/*
 * args.c - option parsing and error output of the command-line program.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *what, const char *why)
{
    fprintf(stderr, "gscorecam: %s: %s\n", what, why);
    return EXIT_FAILED;
}

int cli_fail_status(const char *what, gscam_status st)
{
    const char *why = gscam_last_error();

    return cli_fail(what, *why ? why : gscam_status_string(st));
}

int cli_usage_error(const char *message)
{
    fprintf(stderr, "gscorecam: %s\n", message);
    cli_print_usage();
    return EXIT_USAGE;
}

static int parse_int(const char *name, const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;
    char msg[160];

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        snprintf(msg, sizeof msg, "%s: '%s' is not an integer from %lld to %lld", name, text, (long long)lo,
                 (long long)hi);
        return cli_usage_error(msg);
    }
    *out = v;
    return 0;
}

static int parse_method(const char *text, int32_t *out)
{
    static const char *const names[] = {"gscorecam", "scorecam", "gradcam", "gradcam++", "hilacam"};
    char msg[160];

    for (int32_t i = 0; i < (int32_t)(sizeof names / sizeof names[0]); i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    snprintf(msg, sizeof msg, "--method: '%s' is unknown (gscorecam, scorecam, gradcam, gradcam++, hilacam)", text);
    return cli_usage_error(msg);
}

static int parse_fit(const char *text, int32_t *out)
{
    char msg[160];

    if (strcmp(text, "squash") == 0)
        *out = GSCAM_FIT_SQUASH;
    else if (strcmp(text, "crop") == 0)
        *out = GSCAM_FIT_CROP;
    else {
        snprintf(msg, sizeof msg, "--fit: '%s' is unknown (squash or crop)", text);
        return cli_usage_error(msg);
    }
    return 0;
}

/* Options that take a value, and where each goes. */
static int take_value(const char *name, const char *value, struct cli_options *o)
{
    if (strcmp(name, "--model") == 0) o->model = value;
    else if (strcmp(name, "--vocab") == 0) o->vocab = value;
    else if (strcmp(name, "--image") == 0) o->image = value;
    else if (strcmp(name, "--out") == 0) o->out = value;
    else if (strcmp(name, "--npy") == 0) o->npy = value;
    else if (strcmp(name, "--device") == 0) o->device = value;
    else if (strcmp(name, "--method") == 0) return parse_method(value, &o->method);
    else if (strcmp(name, "--fit") == 0) return parse_fit(value, &o->fit);
    /* --topk 0 passes here and is rejected by the library with its reason. */
    else if (strcmp(name, "--topk") == 0) return parse_int(name, value, INT64_MIN, INT64_MAX, &o->topk);
    else if (strcmp(name, "--batch") == 0) return parse_int(name, value, 0, 65536, &o->batch);
    else if (strcmp(name, "--threads") == 0) return parse_int(name, value, 0, 4096, &o->threads);
    else if (strcmp(name, "--context") == 0) return parse_int(name, value, 2, 1 << 20, &o->context);
    /* 10000 x 10000 is the default pixel limit of decoded images. */
    else if (strcmp(name, "--size") == 0) return parse_int(name, value, 1, 10000, &o->size);
    else if (strcmp(name, "--text") == 0) {
        if (o->n_texts == MAX_PROMPTS)
            return cli_usage_error("--text: at most 256 prompts");
        o->texts[o->n_texts++] = value;
    } else
        return -1;
    return 0;
}

int cli_parse(int argc, char **argv, int first, const char *command, struct cli_options *o)
{
    char msg[200];

    memset(o, 0, sizeof *o);
    o->topk = 300;
    o->context = 77;
    o->exif = 1;
    o->method = GSCAM_METHOD_GSCORECAM;
    o->fit = GSCAM_FIT_SQUASH;

    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        int rc;

        if (strcmp(arg, "--no-exif") == 0) { o->exif = 0; continue; }
        if (strcmp(arg, "--truncate") == 0) { o->truncate = 1; continue; }
        if (strcmp(arg, "--quiet") == 0) { o->quiet = 1; continue; }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            cli_print_usage();
            return EXIT_HELP;
        }
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0) {
            if (strcmp(arg, "--") == 0 && i + 1 < argc)
                arg = argv[++i];
            if (strcmp(command, "tokenize") != 0 || o->positional) {
                snprintf(msg, sizeof msg, "%s: unexpected argument '%s'", command, arg);
                return cli_usage_error(msg);
            }
            o->positional = arg;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(msg, sizeof msg, "%s: option %s needs a value", command, arg);
            return cli_usage_error(msg);
        }
        rc = take_value(arg, argv[i + 1], o);
        if (rc < 0) {
            snprintf(msg, sizeof msg, "%s: unknown option %s", command, arg);
            return cli_usage_error(msg);
        }
        if (rc != 0)
            return rc;
        i++;
    }
    return 0;
}
