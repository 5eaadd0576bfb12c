/*
 * main.c - the gscorecam command-line program: subcommand dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(const struct cli_options *opts);
};

static const struct command commands[] = {
    {"map", cmd_map},       {"tokenize", cmd_tokenize}, {"preprocess", cmd_preprocess},
    {"decode", cmd_decode}, {"info", cmd_info},         {"score", cmd_score},
};

void cli_print_usage(void)
{
    fputs("usage:\n"
          "  gscorecam map --model M.pt --vocab V.txt.gz --image I --text \"a cat\"\n"
          "                [--method gscorecam|scorecam|gradcam|gradcam++|hilacam] [--topk 300]\n"
          "                [--batch N] [--fit squash|crop] [--no-exif] [--threads N]\n"
          "                [--device cpu|cuda|cuda:N] [--out overlay.png] [--npy map.npy] [--quiet]\n"
          "  gscorecam tokenize --vocab V.txt.gz [--context 77] [--truncate] [TEXT]\n"
          "  gscorecam preprocess --image I --size R [--fit squash|crop] [--no-exif] --out crop.rgb\n"
          "  gscorecam decode --image I [--no-exif] --out pixels.rgb\n"
          "  gscorecam info --model M.pt\n"
          "  gscorecam score --model M.pt --vocab V.txt.gz --image I --text T1 [--text T2 ...]\n"
          "  gscorecam --version | --help\n",
          stderr);
}

int main(int argc, char **argv)
{
    struct cli_options opts;
    int rc;

    if (argc < 2)
        return cli_usage_error("no subcommand given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        cli_print_usage();
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gscorecam %s\n", gscam_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        rc = cli_parse(argc, argv, 2, commands[i].name, &opts);
        if (rc == EXIT_HELP)
            return 0;
        return rc != 0 ? rc : commands[i].run(&opts);
    }
    fprintf(stderr, "gscorecam: unknown subcommand '%s'\n", argv[1]);
    cli_print_usage();
    return EXIT_USAGE;
}
