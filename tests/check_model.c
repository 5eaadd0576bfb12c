/*
 * check_model.c - loading archives: architecture inference, release names,
 * logits against the Python reference, and the errors of bad archives,
 * devices and options.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gscorecam.h"
#include "testutil.h"

#define LOGIT_TOLERANCE 1e-4

static int64_t info(const gscam_model *m, int32_t key)
{
    int64_t v = -1;

    ck_assert_int_eq(gscam_model_info(m, key, &v), GSCAM_OK);
    return v;
}

START_TEST(small_resnet_layout_is_inferred)
{
    char path[512];
    gscam_model *m = NULL;

    if (!tu_fixture("small-rn.pt", path, sizeof path))
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_OK);
    ck_assert_str_eq(gscam_model_architecture(m), "ResNet");
    ck_assert_str_eq(gscam_model_target_layer(m), "visual.layer4");
    ck_assert_int_eq(info(m, GSCAM_INFO_IS_VIT), 0);
    ck_assert_int_eq(info(m, GSCAM_INFO_INPUT_RESOLUTION), 128);
    ck_assert_int_eq(info(m, GSCAM_INFO_VISION_WIDTH), 16);
    ck_assert_int_eq(info(m, GSCAM_INFO_TARGET_CHANNELS), 32 * 16);
    ck_assert_int_eq(info(m, GSCAM_INFO_GRID), 128 / 32);
    ck_assert_int_eq(info(m, GSCAM_INFO_EMBED_DIM), 64);
    ck_assert_int_eq(info(m, GSCAM_INFO_CONTEXT_LENGTH), 77);
    ck_assert_int_eq(info(m, GSCAM_INFO_VOCAB_SIZE), 49408);
    ck_assert_int_eq(info(m, GSCAM_INFO_TEXT_WIDTH), 64);
    gscam_model_free(m);
}
END_TEST

START_TEST(small_vit_layout_is_inferred)
{
    char path[512];
    gscam_model *m = NULL;

    if (!tu_fixture("small-vit.pt", path, sizeof path))
        TU_SKIP("fixture small-vit.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, NULL, NULL, &m), GSCAM_OK);
    ck_assert_str_eq(gscam_model_architecture(m), "ViT");
    ck_assert_int_eq(info(m, GSCAM_INFO_IS_VIT), 1);
    ck_assert_int_eq(info(m, GSCAM_INFO_INPUT_RESOLUTION), 64);
    ck_assert_int_eq(info(m, GSCAM_INFO_GRID), 4);
    ck_assert_int_eq(info(m, GSCAM_INFO_TARGET_CHANNELS), 64);
    ck_assert_str_eq(gscam_model_target_layer(m), "visual.transformer.resblocks.1");
    gscam_model_free(m);
}
END_TEST

START_TEST(rn50_archive_is_named_rn50)
{
    char path[512];
    gscam_model *m = NULL;

    if (!tu_fixture("RN50.pt", path, sizeof path))
        TU_SKIP("fixture RN50.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_OK);
    ck_assert_str_eq(gscam_model_architecture(m), "RN50");
    ck_assert_int_eq(info(m, GSCAM_INFO_TARGET_CHANNELS), 2048);
    ck_assert_int_eq(info(m, GSCAM_INFO_GRID), 7);
    ck_assert_int_eq(info(m, GSCAM_INFO_EMBED_DIM), 1024);
    ck_assert_int_eq(info(m, GSCAM_INFO_VISION_LAYERS), 16);
    gscam_model_free(m);
}
END_TEST

/* A smooth synthetic R x R picture. */
static uint8_t *synthetic(int r)
{
    uint8_t *rgb = malloc((size_t)r * r * 3);

    for (int i = 0; i < r * r * 3; i++)
        rgb[i] = (uint8_t)((i / 3 % r) * 200 / r + (i % 3) * 20);
    return rgb;
}

START_TEST(logits_match_reference)
{
    static const int32_t prompts[2][7] = {{49406, 320, 2368, 49407}, {49406, 320, 1929, 49407}};
    char path[512], args[1024], in_path[128], line[256];
    const char *dir = tu_temp_dir();
    int32_t ids[2 * 77] = {0};
    float logits[2];
    gscam_model *m = NULL;
    gscam_image *img = NULL;
    gscam_cam *cam = NULL;
    uint8_t *rgb;
    FILE *out;

    if (!tu_fixture("small-rn.pt", path, sizeof path))
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_ptr_nonnull(dir);
    memcpy(ids, prompts[0], sizeof prompts[0]);
    memcpy(ids + 77, prompts[1], sizeof prompts[1]);
    rgb = synthetic(128);
    snprintf(in_path, sizeof in_path, "%s/input.rgb", dir);
    ck_assert_int_eq(tu_write_file(in_path, rgb, 128 * 128 * 3), 0);

    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_OK);
    ck_assert_int_eq(gscam_image_from_rgb8(rgb, 128, 128, 128 * 3, &img), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_create(m, &cam), GSCAM_OK);
    ck_assert_int_eq(gscam_cam_score(cam, img, ids, 2, 77, logits), GSCAM_OK);

    snprintf(args, sizeof args,
             "tests/python/reference.py score --model %s --input %s --ids '49406 320 2368 49407' "
             "--ids '49406 320 1929 49407' > %s/score.txt",
             path, in_path, dir);
    ck_assert_int_eq(tu_python(args), 0);
    snprintf(line, sizeof line, "%s/score.txt", dir);
    out = fopen(line, "r");
    ck_assert_ptr_nonnull(out);
    for (int i = 0; i < 2; i++) {
        double ref = 0.0;

        ck_assert_ptr_nonnull(fgets(line, sizeof line, out));
        ck_assert_int_eq(sscanf(line, "%lf", &ref), 1);
        ck_assert_msg(fabs(logits[i] - ref) <= LOGIT_TOLERANCE * fabs(ref), "prompt %d: library %g, reference %g", i,
                      (double)logits[i], ref);
    }
    fclose(out);
    gscam_cam_free(cam);
    gscam_image_free(img);
    gscam_model_free(m);
    free(rgb);
}
END_TEST

START_TEST(missing_file_is_io_error)
{
    gscam_model *m = (gscam_model *)1;

    ck_assert_int_eq(gscam_model_load("/nonexistent/model.pt", "cpu", NULL, &m), GSCAM_ERR_IO);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "/nonexistent/model.pt"));
}
END_TEST

START_TEST(text_file_is_not_a_model)
{
    const char *dir = tu_temp_dir();
    char path[128];
    gscam_model *m = NULL;
    static const char text[] = "this is a text file, not a CLIP archive\n";

    snprintf(path, sizeof path, "%s/notes.pt", dir);
    ck_assert_int_eq(tu_write_file(path, text, sizeof text - 1), 0);
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_ERR_MODEL);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "notes.pt"));
    ck_assert_ptr_null(strchr(gscam_last_error(), '\n'));
}
END_TEST

/* Writes small-rn with one tensor changed by a Python expression. */
static int write_variant(const char *dir, const char *name, const char *change, char *out, size_t size)
{
    char fixture[512], args[2048];

    if (!tu_fixture("small-rn.pt", fixture, sizeof fixture))
        return -1;
    snprintf(out, size, "%s/%s.pt", dir, name);
    snprintf(args, sizeof args,
             "-c \"import sys, torch; sys.path.insert(0, 'tests/python'); import clip_archive as ca; "
             "sd = torch.jit.load('%s').state_dict(); sd = dict(sd); %s; ca.save_archive(sd, '%s')\"",
             fixture, change, out);
    return tu_python(args);
}

START_TEST(wrong_shape_names_the_tensor)
{
    const char *dir = tu_temp_dir();
    char path[256];
    gscam_model *m = NULL;

    if (write_variant(dir, "wrong_shape", "sd['visual.layer2.0.conv2.weight'] = torch.zeros(32, 32, 5, 5).half()", path,
                      sizeof path) != 0)
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_ERR_MODEL);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "visual.layer2.0.conv2.weight"));
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "32x32x5x5"));
}
END_TEST

START_TEST(missing_tensor_is_named)
{
    const char *dir = tu_temp_dir();
    char path[256];
    gscam_model *m = NULL;

    if (write_variant(dir, "missing", "del sd['visual.attnpool.k_proj.bias']", path, sizeof path) != 0)
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_ERR_MODEL);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "visual.attnpool.k_proj.bias is missing"));
}
END_TEST

START_TEST(nan_weight_is_reported_at_load)
{
    const char *dir = tu_temp_dir();
    char path[256];
    gscam_model *m = NULL;

    if (write_variant(dir, "nan", "sd['ln_final.weight'][3] = float('nan')", path, sizeof path) != 0)
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_ERR_MODEL);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "ln_final.weight holds NaN"));
}
END_TEST

START_TEST(metadata_disagreeing_with_shapes_is_rejected)
{
    const char *dir = tu_temp_dir();
    char path[256];
    gscam_model *m = NULL;

    if (write_variant(dir, "metadata", "sd['input_resolution'] = torch.tensor(224)", path, sizeof path) != 0)
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", NULL, &m), GSCAM_ERR_MODEL);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "input_resolution is 224"));
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "128"));
}
END_TEST

START_TEST(cuda_device_fails_clearly_without_cuda)
{
    char path[512];
    gscam_model *m = NULL;
    gscam_status st;

    if (!tu_fixture("small-rn.pt", path, sizeof path))
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    st = gscam_model_load(path, "cuda", NULL, &m);
    if (st == GSCAM_OK)
        TU_SKIP("this libtorch has CUDA");
    ck_assert_int_eq(st, GSCAM_ERR_DEVICE);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "CUDA"));
    ck_assert_int_eq(gscam_model_load(path, "cuda:1", NULL, &m), GSCAM_ERR_DEVICE);
    ck_assert_int_eq(gscam_model_load(path, "tpu", NULL, &m), GSCAM_ERR_DEVICE);
    ck_assert_ptr_nonnull(strstr(gscam_last_error(), "tpu"));
}
END_TEST

START_TEST(tensor_count_limit_is_enforced)
{
    const gscam_option_list few[] = {GSCAM_LOAD_MAX_TENSORS, 10, 0};
    char path[512];
    gscam_model *m = NULL;

    if (!tu_fixture("small-rn.pt", path, sizeof path))
        TU_SKIP("fixture small-rn.pt not built (make fixtures)");
    ck_assert_int_eq(gscam_model_load(path, "cpu", few, &m), GSCAM_ERR_LIMIT);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(bad_options_and_arguments_are_rejected)
{
    const gscam_option_list unknown[] = {0x999, 1, 0};
    const gscam_option_list negative[] = {GSCAM_LOAD_MAX_BYTES, -1, 0};
    gscam_model *m = NULL;
    int64_t v;
    uint32_t junk[16] = {7};

    ck_assert_int_eq(gscam_model_load("x.pt", "cpu", unknown, &m), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_model_load("x.pt", "cpu", negative, &m), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_model_load(NULL, "cpu", NULL, &m), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_model_load("x.pt", "cpu", NULL, NULL), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_model_info(NULL, GSCAM_INFO_GRID, &v), GSCAM_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(gscam_model_info((gscam_model *)junk, GSCAM_INFO_GRID, &v), GSCAM_ERR_MISUSE);
    ck_assert_str_eq(gscam_model_architecture(NULL), "");
    gscam_model_free(NULL);
}
END_TEST

START_TEST(status_names_cover_every_code)
{
    ck_assert_str_eq(gscam_status_name(GSCAM_OK), "GSCAM_OK");
    ck_assert_str_eq(gscam_status_name(GSCAM_FLAT_MAP), "GSCAM_FLAT_MAP");
    ck_assert_str_eq(gscam_status_name(GSCAM_ERR_VOCAB), "GSCAM_ERR_VOCAB");
    ck_assert_str_eq(gscam_status_name(999), "GSCAM_UNKNOWN_STATUS");
    ck_assert(!gscam_is_error(GSCAM_FLAT_MAP));
    ck_assert(gscam_is_error(GSCAM_ERR_IO));
    ck_assert_uint_eq(gscam_version_number(), GSCAM_VERSION_NUMBER);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *load = tcase_create("load");
    TCase *errors = tcase_create("errors");

    tcase_set_timeout(load, 120);
    tcase_add_test(load, small_resnet_layout_is_inferred);
    tcase_add_test(load, small_vit_layout_is_inferred);
    tcase_add_test(load, rn50_archive_is_named_rn50);
    tcase_add_test(load, logits_match_reference);
    suite_add_tcase(s, load);

    tcase_set_timeout(errors, 120);
    tcase_add_test(errors, missing_file_is_io_error);
    tcase_add_test(errors, text_file_is_not_a_model);
    tcase_add_test(errors, wrong_shape_names_the_tensor);
    tcase_add_test(errors, missing_tensor_is_named);
    tcase_add_test(errors, nan_weight_is_reported_at_load);
    tcase_add_test(errors, metadata_disagreeing_with_shapes_is_rejected);
    tcase_add_test(errors, cuda_device_fails_clearly_without_cuda);
    tcase_add_test(errors, tensor_count_limit_is_enforced);
    tcase_add_test(errors, bad_options_and_arguments_are_rejected);
    tcase_add_test(errors, status_names_cover_every_code);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    return tu_run(model_suite());
}
