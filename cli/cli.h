/*
 * cli.h - shared pieces of the gscorecam command-line program.
 */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "gscorecam.h"

/* Exit statuses: 1 for a failure, 2 for bad usage. */
#define EXIT_FAILED 1
#define EXIT_USAGE 2
/* Returned by cli_parse after printing help: the program exits 0. */
#define EXIT_HELP (-1)

/* Most --text options that score accepts. */
#define MAX_PROMPTS 256

/* Options of every subcommand; each reads the ones it needs. */
struct cli_options {
    const char *model, *vocab, *image, *out, *npy, *device;
    const char *texts[MAX_PROMPTS];
    int n_texts;
    const char *positional; /* tokenize's TEXT */
    int32_t method;
    int64_t topk, batch, threads, context, size;
    int32_t fit;
    int exif;
    int truncate;
    int quiet;
};

/* Parses argv[first..argc) into opts; prints the reason and returns
 * EXIT_USAGE on bad usage, 0 otherwise. */
int cli_parse(int argc, char **argv, int first, const char *command, struct cli_options *opts);

/* Prints "gscorecam: <what>: <why>" to stderr and returns EXIT_FAILED. */
int cli_fail(const char *what, const char *why);
/* The same with the library's last error as the reason. */
int cli_fail_status(const char *what, gscam_status st);
/* Prints "gscorecam: <message>" and the usage line, returns EXIT_USAGE. */
int cli_usage_error(const char *message);
void cli_print_usage(void);

/* Writes data to path through a temporary file renamed at the end, so an
 * interrupted run never leaves a half-written file under path. */
int cli_write_file(const char *path, const void *data, size_t size, char *why, size_t why_size);
/* Checks before long work that path is not empty and that its folder exists
 * and is writable; fills why and returns -1 otherwise. */
int cli_check_output(const char *option, const char *path, char *why, size_t why_size);
/* Writes a float32 .npy array of shape (height, width). */
int cli_write_npy(const char *path, const float *map, uint32_t width, uint32_t height, char *why,
                  size_t why_size);

/* The inputs of map and score. */
struct cli_inputs {
    gscam_model *model;
    gscam_tokenizer *tok;
    gscam_image *img;
    int64_t context; /* the model's context length */
};

/* Loads --model, --vocab and --image; prints the failure and returns
 * EXIT_FAILED, or returns 0. Free with cli_free_inputs() either way. */
int cli_load_inputs(const struct cli_options *opts, struct cli_inputs *in);
void cli_free_inputs(struct cli_inputs *in);

/* Loads an image with the --no-exif choice. */
gscam_status cli_load_image(const struct cli_options *opts, gscam_image **out);
/* Tokenizes text into ids[context] for a model. */
gscam_status cli_tokenize(const gscam_tokenizer *tok, const char *text, size_t context, int truncate,
                          int32_t *ids);

int cmd_map(const struct cli_options *opts);
int cmd_tokenize(const struct cli_options *opts);
int cmd_preprocess(const struct cli_options *opts);
int cmd_decode(const struct cli_options *opts);
int cmd_info(const struct cli_options *opts);
int cmd_score(const struct cli_options *opts);

#endif
