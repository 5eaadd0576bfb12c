/*
 * evaluate.c - localisation benchmark on the shapes scenes.
 *
 * For each scene written by scenes.py (two or three objects with known
 * masks and boxes), one object is named by its caption ("a red circle") and
 * every method computes a map. Reported per method:
 * - pointing game: the map's maximum lies on the named object or within
 *   POINTING_TOLERANCE pixels of it;
 * - nearest: the maximum is nearer to the named object than to any other;
 * - box accuracy: the box around the largest 8-connected region of the map
 *   above half its maximum has IoU >= 0.5 with the object's box;
 * - mean time per map.
 *
 *   evaluate --model M.pt --vocab V.txt.gz --scenes DIR [--first I] [--limit N]
 *            [--methods gscorecam,scorecam,gradcam,gradcam++] [--topk K]
 *            [--threads N] [--grid grid.png] [--min-pointing P]
 *
 * With --min-pointing the program exits 1 when gScoreCAM's pointing accuracy
 * is below P; --grid writes a picture: per row a scene, then one overlay per
 * method, for the first GRID_ROWS scenes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gscorecam.h"

/* The usual pointing-game tolerance, in pixels. */
#define POINTING_TOLERANCE 15.0
#define MAX_OBJECTS 8
#define MAX_METHODS 4
#define GRID_ROWS 6
/* Maximum context length accepted; CLIP's is 77. */
#define MAX_CONTEXT 256

struct object {
    char caption[64];
    double box[4]; /* x0, y0, x1 (exclusive), y1 (exclusive) */
};

struct scene {
    char file[128];
    int n_objects;
    struct object objects[MAX_OBJECTS];
};

struct tally {
    int hits, nearest, boxes, maps;
    double seconds;
};

struct settings {
    const char *model, *vocab, *dir, *grid;
    int limit, first;
    int64_t topk, threads;
    double min_pointing;
    int methods[MAX_METHODS];
    int n_methods;
};

static const char *const METHOD_NAMES[] = {"gscorecam", "scorecam", "gradcam", "gradcam++"};

/* Reads DIR/scenes.tsv: a header line, then one line per object. */
static struct scene *read_scenes(const char *dir, int *count)
{
    char path[1024], line[512];
    struct scene *scenes = NULL;
    int n = 0, cap = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/scenes.tsv", dir);
    f = fopen(path, "r");
    if (!f)
        return NULL;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return NULL;
    }
    while (fgets(line, sizeof line, f)) {
        char file[128], caption[64];
        int index;
        double cx, cy, r, box[4];
        struct scene *s;

        if (sscanf(line, "%127[^\t]\t%d\t%63[^\t]\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf\t%lf", file, &index, caption, &cx, &cy,
                   &r, &box[0], &box[1], &box[2], &box[3]) != 10)
            continue;
        if (n == 0 || strcmp(scenes[n - 1].file, file) != 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                scenes = realloc(scenes, (size_t)cap * sizeof *scenes);
            }
            s = &scenes[n++];
            memset(s, 0, sizeof *s);
            snprintf(s->file, sizeof s->file, "%s", file);
        }
        s = &scenes[n - 1];
        if (index != s->n_objects || index >= MAX_OBJECTS)
            continue;
        snprintf(s->objects[index].caption, sizeof s->objects[index].caption, "%s", caption);
        memcpy(s->objects[index].box, box, sizeof box);
        s->n_objects++;
    }
    fclose(f);
    *count = n;
    return scenes;
}

/* Distance from (x, y) to the nearest pixel centre labelled value. */
static double distance_to_label(const uint8_t *labels, uint32_t w, uint32_t h, double x, double y, int value)
{
    double best = INFINITY;

    for (uint32_t j = 0; j < h; j++)
        for (uint32_t i = 0; i < w; i++)
            if (labels[3 * ((size_t)j * w + i)] == value) {
                double d = hypot(i + 0.5 - x, j + 0.5 - y);
                best = d < best ? d : best;
            }
    return best;
}

static size_t argmax(const float *map, size_t n)
{
    size_t best = 0;

    for (size_t i = 1; i < n; i++)
        if (map[i] > map[best])
            best = i;
    return best;
}

/* Bounding box (x0, y0, x1, y1 exclusive) of the largest 8-connected region
 * of the map above half its maximum. */
static void largest_region_box(const float *map, uint32_t w, uint32_t h, double box[4])
{
    const size_t n = (size_t)w * h;
    float half = map[argmax(map, n)] * 0.5f;
    int *label = calloc(n, sizeof *label);
    size_t *stack = malloc(n * sizeof *stack);
    size_t best_size = 0;
    int next = 0;

    box[0] = box[1] = box[2] = box[3] = 0.0;
    for (size_t start = 0; start < n; start++) {
        size_t top = 0, size = 0;
        uint32_t x0 = w, y0 = h, x1 = 0, y1 = 0;

        if (map[start] <= half || label[start])
            continue;
        label[start] = ++next;
        stack[top++] = start;
        while (top > 0) {
            size_t p = stack[--top];
            uint32_t px = (uint32_t)(p % w), py = (uint32_t)(p / w);

            size++;
            x0 = px < x0 ? px : x0;
            y0 = py < y0 ? py : y0;
            x1 = px + 1 > x1 ? px + 1 : x1;
            y1 = py + 1 > y1 ? py + 1 : y1;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    long nx = (long)px + dx, ny = (long)py + dy;
                    size_t q;

                    if (nx < 0 || ny < 0 || nx >= (long)w || ny >= (long)h)
                        continue;
                    q = (size_t)ny * w + (size_t)nx;
                    if (map[q] > half && !label[q]) {
                        label[q] = next;
                        stack[top++] = q;
                    }
                }
        }
        if (size > best_size) {
            best_size = size;
            box[0] = x0;
            box[1] = y0;
            box[2] = x1;
            box[3] = y1;
        }
    }
    free(label);
    free(stack);
}

static double iou(const double a[4], const double b[4])
{
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double inter, uni;

    if (iw <= 0 || ih <= 0)
        return 0.0;
    inter = iw * ih;
    uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return inter / uni;
}

/* Scores one map against the scene's objects. */
static void score_map(const float *map, const uint8_t *labels, uint32_t w, uint32_t h, const struct scene *s,
                      int target, struct tally *t)
{
    size_t peak = argmax(map, (size_t)w * h);
    double x = (double)(peak % w) + 0.5, y = (double)(peak / w) + 0.5;
    double d_target = distance_to_label(labels, w, h, x, y, target + 1);
    double box[4];
    int nearest = 1;

    for (int o = 0; o < s->n_objects; o++)
        if (o != target && distance_to_label(labels, w, h, x, y, o + 1) <= d_target)
            nearest = 0;
    largest_region_box(map, w, h, box);

    t->hits += d_target <= POINTING_TOLERANCE;
    t->nearest += nearest;
    t->boxes += iou(box, s->objects[target].box) >= 0.5;
    t->maps++;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "evaluate: %s: %s\n", what, why);
    return 1;
}

static int parse_methods(const char *list, struct settings *set)
{
    char buf[128], *tok, *save = NULL;

    snprintf(buf, sizeof buf, "%s", list);
    set->n_methods = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int m = 0;

        while (m < MAX_METHODS && strcmp(METHOD_NAMES[m], tok) != 0)
            m++;
        if (m == MAX_METHODS || set->n_methods == MAX_METHODS)
            return -1;
        set->methods[set->n_methods++] = m;
    }
    return set->n_methods > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct settings *set)
{
    memset(set, 0, sizeof *set);
    set->limit = 500;
    set->topk = 0;
    set->min_pointing = -1.0;
    parse_methods("gscorecam,scorecam,gradcam,gradcam++", set);
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--model") == 0) set->model = v;
        else if (strcmp(k, "--vocab") == 0) set->vocab = v;
        else if (strcmp(k, "--scenes") == 0) set->dir = v;
        else if (strcmp(k, "--grid") == 0) set->grid = v;
        else if (strcmp(k, "--limit") == 0) set->limit = atoi(v);
        else if (strcmp(k, "--first") == 0) set->first = atoi(v);
        else if (strcmp(k, "--topk") == 0) set->topk = atoll(v);
        else if (strcmp(k, "--threads") == 0) set->threads = atoll(v);
        else if (strcmp(k, "--min-pointing") == 0) set->min_pointing = atof(v);
        else if (strcmp(k, "--methods") == 0) {
            if (parse_methods(v, set) != 0)
                return -1;
        } else
            return -1;
    }
    return set->model && set->vocab && set->dir && set->limit > 0 && set->first >= 0 ? 0 : -1;
}

/* Copies a w x h RGB image into cell (row, col) of the grid picture. */
static void paste(uint8_t *grid, uint32_t grid_w, const uint8_t *px, uint32_t w, uint32_t h, int row, int col)
{
    for (uint32_t y = 0; y < h; y++)
        memcpy(grid + (((size_t)row * h + y) * grid_w + (size_t)col * w) * 3, px + (size_t)y * w * 3, (size_t)w * 3);
}

struct run {
    struct settings set;
    gscam_model *model;
    gscam_tokenizer *tok;
    gscam_cam *cam;
    int64_t context;
    struct tally tallies[MAX_METHODS];
    uint8_t *grid;
    uint32_t cell;
};

static int evaluate_scene(struct run *r, const struct scene *s, int index)
{
    char path[1024], why[256];
    gscam_image *img = NULL, *labels = NULL;
    int target = index % s->n_objects;
    int32_t ids[MAX_CONTEXT];
    size_t n_ids;
    uint32_t w, h;
    float *map;
    int rc = 0;

    snprintf(path, sizeof path, "%s/%s", r->set.dir, s->file);
    if (gscam_image_load(path, NULL, &img) != GSCAM_OK)
        return fail(path, gscam_last_error());
    snprintf(path + strlen(path) - 4, sizeof path - strlen(path) + 4, "_labels.png");
    if (gscam_image_load(path, NULL, &labels) != GSCAM_OK) {
        gscam_image_free(img);
        return fail(path, gscam_last_error());
    }
    w = gscam_image_width(img);
    h = gscam_image_height(img);
    map = malloc((size_t)w * h * sizeof *map);
    if (gscam_tokenizer_encode(r->tok, s->objects[target].caption, strlen(s->objects[target].caption), (size_t)r->context, 0, ids,
                               &n_ids) != GSCAM_OK)
        rc = fail(s->objects[target].caption, gscam_last_error());

    for (int m = 0; rc == 0 && m < r->set.n_methods; m++) {
        double t0 = now();
        gscam_status st;

        gscam_cam_set(r->cam, GSCAM_OPT_METHOD, r->set.methods[m]);
        st = gscam_cam_compute(r->cam, img, ids, (size_t)r->context, map, (size_t)w * h);
        if (gscam_is_error(st)) {
            snprintf(why, sizeof why, "%s", gscam_cam_message(r->cam));
            rc = fail(s->file, why);
            break;
        }
        r->tallies[m].seconds += now() - t0;
        score_map(map, gscam_image_pixels(labels), w, h, s, target, &r->tallies[m]);
        if (r->grid && index < GRID_ROWS && w == r->cell && h == r->cell) {
            gscam_image *overlay = NULL;

            if (gscam_image_overlay(img, map, (size_t)w * h, 0.5f, &overlay) == GSCAM_OK)
                paste(r->grid, r->cell * (uint32_t)(1 + r->set.n_methods), gscam_image_pixels(overlay), w, h, index,
                      m + 1);
            gscam_image_free(overlay);
        }
    }
    if (r->grid && index < GRID_ROWS && w == r->cell && h == r->cell)
        paste(r->grid, r->cell * (uint32_t)(1 + r->set.n_methods), gscam_image_pixels(img), w, h, index, 0);
    free(map);
    gscam_image_free(labels);
    gscam_image_free(img);
    return rc;
}

static void print_table(const struct run *r, int64_t channels, int64_t k)
{
    printf("| method | maps | pointing game | nearest object | box IoU >= 0.5 | time per map (ms) |\n");
    printf("|---|---|---|---|---|---|\n");
    for (int m = 0; m < r->set.n_methods; m++) {
        const struct tally *t = &r->tallies[m];
        char name[64];

        if (r->set.methods[m] == GSCAM_METHOD_GSCORECAM)
            snprintf(name, sizeof name, "gscorecam (k = %lld of %lld)", (long long)k, (long long)channels);
        else
            snprintf(name, sizeof name, "%s", METHOD_NAMES[r->set.methods[m]]);
        printf("| %s | %d | %.3f | %.3f | %.3f | %.1f |\n", name, t->maps, (double)t->hits / t->maps,
               (double)t->nearest / t->maps, (double)t->boxes / t->maps, 1000.0 * t->seconds / t->maps);
    }
}

int main(int argc, char **argv)
{
    struct run r;
    struct scene *scenes;
    int n_scenes = 0, rc = 0;
    int64_t channels = 0;

    memset(&r, 0, sizeof r);
    if (parse_args(argc, argv, &r.set) != 0) {
        fputs("usage: evaluate --model M.pt --vocab V.txt.gz --scenes DIR [--first I] [--limit N] [--methods a,b]\n"
              "                [--topk K] [--threads N] [--grid grid.png] [--min-pointing P]\n",
              stderr);
        return 2;
    }
    scenes = read_scenes(r.set.dir, &n_scenes);
    if (!scenes || n_scenes == 0)
        return fail(r.set.dir, "no scenes.tsv with scenes in it");
    if (gscam_model_load(r.set.model, "cpu", NULL, &r.model) != GSCAM_OK ||
        gscam_tokenizer_load(r.set.vocab, &r.tok) != GSCAM_OK || gscam_cam_create(r.model, &r.cam) != GSCAM_OK) {
        rc = fail("setup", gscam_last_error());
        goto done;
    }
    /* k at a tenth of the channels, as gScoreCAM's authors use 300 of
     * RN50x16's 3,072 (Chen et al., ACCV 2022). */
    gscam_model_info(r.model, GSCAM_INFO_TARGET_CHANNELS, &channels);
    gscam_model_info(r.model, GSCAM_INFO_CONTEXT_LENGTH, &r.context);
    if (r.context > MAX_CONTEXT) {
        rc = fail(r.set.model, "context length above 256");
        goto done;
    }
    if (r.set.topk <= 0)
        r.set.topk = channels / 10 > 0 ? channels / 10 : 1;
    gscam_cam_set(r.cam, GSCAM_OPT_TOPK, r.set.topk);
    gscam_cam_set(r.cam, GSCAM_OPT_THREADS, r.set.threads);
    if (r.set.grid) {
        r.cell = 128;
        r.grid = calloc((size_t)r.cell * GRID_ROWS * r.cell * (size_t)(1 + r.set.n_methods) * 3, 1);
    }
    if (r.set.first >= n_scenes)
        r.set.first = n_scenes;
    if (r.set.limit > n_scenes - r.set.first)
        r.set.limit = n_scenes - r.set.first;
    for (int i = 0; rc == 0 && i < r.set.limit; i++) {
        rc = evaluate_scene(&r, &scenes[r.set.first + i], r.set.first + i);
        if ((i + 1) % 50 == 0)
            fprintf(stderr, "evaluate: %d/%d scenes\n", i + 1, r.set.limit);
    }
    if (rc == 0) {
        print_table(&r, channels, r.set.topk);
        if (r.grid) {
            gscam_image *picture = NULL;
            uint32_t gw = r.cell * (uint32_t)(1 + r.set.n_methods), gh = r.cell * GRID_ROWS;

            if (gscam_image_from_rgb8(r.grid, gw, gh, (size_t)gw * 3, &picture) != GSCAM_OK ||
                gscam_image_save_png(picture, r.set.grid) != GSCAM_OK)
                rc = fail(r.set.grid, gscam_last_error());
            gscam_image_free(picture);
        }
        for (int m = 0; rc == 0 && m < r.set.n_methods; m++)
            if (r.set.methods[m] == GSCAM_METHOD_GSCORECAM && r.set.min_pointing >= 0 &&
                (double)r.tallies[m].hits / r.tallies[m].maps < r.set.min_pointing) {
                fprintf(stderr, "evaluate: gscorecam pointing %.3f is below %.3f\n",
                        (double)r.tallies[m].hits / r.tallies[m].maps, r.set.min_pointing);
                rc = 1;
            }
    }
done:
    free(r.grid);
    free(scenes);
    gscam_cam_free(r.cam);
    gscam_tokenizer_free(r.tok);
    gscam_model_free(r.model);
    return rc;
}
