/*
 * gscorecam.h - gScoreCAM maps for CLIP models.
 *
 * Copyright (c) 2026 the libgscorecam developers. MIT licence (see LICENSE).
 *
 * Usage, from archive to map (error checks left out):
 *
 *     gscam_model *model;      gscam_model_load("RN50.pt", "cpu", NULL, &model);
 *     gscam_tokenizer *tok;    gscam_tokenizer_load("bpe_simple_vocab_16e6.txt.gz", &tok);
 *     gscam_image *img;        gscam_image_load("cat.jpg", NULL, &img);
 *     int32_t ids[77];         size_t n;
 *     gscam_tokenizer_encode(tok, "a cat", 5, 77, 0, ids, &n);
 *     gscam_cam *cam;          gscam_cam_create(model, &cam);
 *     gscam_cam_set(cam, GSCAM_OPT_TOPK, 300);
 *     float *map = malloc(sizeof(float) * gscam_image_width(img) * gscam_image_height(img));
 *     gscam_cam_compute(cam, img, ids, 77, map, gscam_image_width(img) * gscam_image_height(img));
 *     ... map[y * width + x] is in [0, 1] ...
 *     gscam_cam_free(cam); gscam_image_free(img); gscam_tokenizer_free(tok); gscam_model_free(model);
 *
 * Conventions:
 * - Every function that can fail returns a gscam_status. On failure it also
 *   stores a one-line message: gscam_last_error() returns it for the calling
 *   thread, and handles keep their own copy (gscam_cam_message() and friends).
 * - Handles are opaque. Every *_free function accepts NULL. Passing a freed or
 *   foreign handle is detected where possible and returns GSCAM_ERR_MISUSE.
 * - Output buffers are owned by the caller; the library never keeps a pointer
 *   to them after the call returns.
 * - Threads: a model is read-only once loaded and may be shared by many CAM
 *   contexts on many threads. A tokenizer is read-only too. A CAM context must
 *   be used by one thread at a time. The thread-count option is process-wide.
 * - The library never prints, exits or aborts. It is silent unless a log
 *   callback is installed.
 */
#ifndef GSCORECAM_H
#define GSCORECAM_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(GSCAM_BUILDING)
#define GSCAM_API __declspec(dllexport)
#elif defined(_WIN32)
#define GSCAM_API __declspec(dllimport)
#elif defined(__GNUC__)
#define GSCAM_API __attribute__((visibility("default")))
#else
#define GSCAM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Version                                                                  */
/* ======================================================================== */

#define GSCAM_VERSION_MAJOR 0
#define GSCAM_VERSION_MINOR 1
#define GSCAM_VERSION_PATCH 0
#define GSCAM_VERSION_NUMBER \
    (GSCAM_VERSION_MAJOR * 10000 + GSCAM_VERSION_MINOR * 100 + GSCAM_VERSION_PATCH)

/* The version of the library loaded at run time, as GSCAM_VERSION_NUMBER. */
GSCAM_API uint32_t gscam_version_number(void);
/* The same as "MAJOR.MINOR.PATCH"; a static string. */
GSCAM_API const char *gscam_version_string(void);

/* ======================================================================== */
/* Status codes. Numbers never change; new codes are only appended.         */
/* ======================================================================== */

typedef int32_t gscam_status;

#define GSCAM_OK 0
/* Not a failure: the map was written, but the weighted activations were all
 * zero after ReLU, so every value of the map is 0. */
#define GSCAM_FLAT_MAP 1
#define GSCAM_ERR_INVALID_ARGUMENT 2 /* a parameter is out of range or NULL */
#define GSCAM_ERR_OUT_OF_MEMORY 3    /* an allocation failed */
#define GSCAM_ERR_IO 4               /* a file could not be opened, read or written */
#define GSCAM_ERR_IMAGE 5            /* image file corrupt, truncated or unsupported */
#define GSCAM_ERR_MODEL 6            /* archive is not a usable CLIP model */
#define GSCAM_ERR_TEXT 7             /* prompt invalid (bad UTF-8) or too long */
#define GSCAM_ERR_LIMIT 8            /* input exceeds a configured limit */
#define GSCAM_ERR_DEVICE 9           /* device unknown or not available */
#define GSCAM_ERR_BACKEND 10         /* the tensor library failed */
#define GSCAM_ERR_UNSUPPORTED 11     /* method not available for this model */
#define GSCAM_ERR_MISUSE 12          /* freed or foreign handle, wrong call order */
#define GSCAM_ERR_CANCELLED 13       /* the progress callback asked to stop */
#define GSCAM_ERR_VOCAB 14           /* vocabulary file corrupt */

/* Non-zero when status is a failure (GSCAM_OK and GSCAM_FLAT_MAP are not). */
GSCAM_API int gscam_is_error(gscam_status status);
/* The status's symbolic name, such as "GSCAM_ERR_IO"; a static string. */
GSCAM_API const char *gscam_status_name(gscam_status status);
/* A short description of the status; a static string. */
GSCAM_API const char *gscam_status_string(gscam_status status);
/* The message of the calling thread's last failure, "" if none. Valid until
 * the thread's next call into the library. */
GSCAM_API const char *gscam_last_error(void);

/* Log callback: receives one line (no newline) per event. The library is
 * silent by default; passing NULL restores that. Process-wide. */
typedef void (*gscam_log_fn)(void *user, const char *line);
GSCAM_API void gscam_set_log_callback(gscam_log_fn fn, void *user);

/* ======================================================================== */
/* Options lists                                                            */
/* ======================================================================== */

/* Load functions take an optional list of (id, value) pairs ended by a 0 id,
 * for example { GSCAM_LOAD_MAX_TENSORS, 4096, 0 }. NULL means all defaults.
 * An unknown id is GSCAM_ERR_INVALID_ARGUMENT. */
typedef int64_t gscam_option_list;

/* Model loading. */
#define GSCAM_LOAD_MAX_TENSORS 0x101    /* default 100000 */
#define GSCAM_LOAD_MAX_BYTES 0x102      /* default 16 GiB of tensor data */
#define GSCAM_LOAD_FOLD_BATCH_NORM 0x103 /* 1 (default): fold batch norm into convolutions */

/* Image decoding. */
#define GSCAM_IMAGE_EXIF 0x201        /* 1 (default): apply EXIF orientation */
#define GSCAM_IMAGE_MAX_PIXELS 0x202  /* default 100,000,000 */
#define GSCAM_IMAGE_MAX_SIDE 0x203    /* default 65,535 */
#define GSCAM_IMAGE_MAX_SCANS 0x204   /* progressive JPEG scans, default 1,000 */

/* ======================================================================== */
/* Model                                                                    */
/* ======================================================================== */

typedef struct gscam_model gscam_model;

/* Loads a CLIP archive: an OpenAI TorchScript release (.pt) or a file written
 * by torch.save holding the state dict. fp16 tensors are converted to fp32.
 * device is "cpu" (or NULL), "cuda" or "cuda:N". */
GSCAM_API gscam_status gscam_model_load(const char *path, const char *device,
                                        const gscam_option_list *options, gscam_model **out);
GSCAM_API void gscam_model_free(gscam_model *model);

/* Integer facts about a loaded model. */
#define GSCAM_INFO_INPUT_RESOLUTION 1 /* R: the model's square input side */
#define GSCAM_INFO_EMBED_DIM 2
#define GSCAM_INFO_CONTEXT_LENGTH 3
#define GSCAM_INFO_VOCAB_SIZE 4
#define GSCAM_INFO_TARGET_CHANNELS 5  /* C of the target layer */
#define GSCAM_INFO_GRID 6             /* h = w of the target layer */
#define GSCAM_INFO_IS_VIT 7           /* 1 for a ViT, 0 for a ResNet */
#define GSCAM_INFO_VISION_WIDTH 8
#define GSCAM_INFO_VISION_LAYERS 9    /* ViT blocks; ResNet: total Bottlenecks */
#define GSCAM_INFO_TEXT_WIDTH 10
#define GSCAM_INFO_TEXT_LAYERS 11
GSCAM_API gscam_status gscam_model_info(const gscam_model *model, int32_t key, int64_t *value);
/* The architecture's name: "RN50", "ViT-B/32", ... for release layouts, or
 * "ResNet" / "ViT" for other sizes; a string owned by the model. */
GSCAM_API const char *gscam_model_architecture(const gscam_model *model);
/* The name of the target layer, such as "visual.layer4"; owned by the model. */
GSCAM_API const char *gscam_model_target_layer(const gscam_model *model);
/* The message of the last failure on this model, "" if none. */
GSCAM_API const char *gscam_model_message(const gscam_model *model);

/* ======================================================================== */
/* Tokenizer                                                                */
/* ======================================================================== */

typedef struct gscam_tokenizer gscam_tokenizer;

#define GSCAM_TOKEN_START 49406 /* <|startoftext|> in OpenAI's vocabulary */
#define GSCAM_TOKEN_END 49407   /* <|endoftext|> */

/* Loads a CLIP BPE merges file, gzip-compressed or plain. */
GSCAM_API gscam_status gscam_tokenizer_load(const char *path, gscam_tokenizer **out);
GSCAM_API void gscam_tokenizer_free(gscam_tokenizer *tok);

/* Flags for gscam_tokenizer_encode. */
#define GSCAM_TOKENIZE_TRUNCATE 1u /* keep the first context-1 ids, end token last */

/* Encodes text (text_len bytes of UTF-8; a NUL byte does not end it, and the
 * clean-up removes it as a control character) into ids[0..context), padded
 * with 0: start token, BPE ids, end token. *n_ids gets the count before
 * padding. A prompt that does not fit is GSCAM_ERR_TEXT unless
 * GSCAM_TOKENIZE_TRUNCATE is set; text over 1,000,000 bytes is
 * GSCAM_ERR_LIMIT. */
GSCAM_API gscam_status gscam_tokenizer_encode(const gscam_tokenizer *tok, const char *text,
                                              size_t text_len, size_t context, uint32_t flags,
                                              int32_t *ids, size_t *n_ids);
/* The id of the start and end tokens of this vocabulary. */
GSCAM_API int32_t gscam_tokenizer_start_id(const gscam_tokenizer *tok);
GSCAM_API int32_t gscam_tokenizer_end_id(const gscam_tokenizer *tok);
/* Vocabulary size: 256 * 2 + merges + 2. */
GSCAM_API int32_t gscam_tokenizer_vocab_size(const gscam_tokenizer *tok);

/* ======================================================================== */
/* Image                                                                    */
/* ======================================================================== */

typedef struct gscam_image gscam_image;

/* Decodes a PNG or JPEG file (format chosen by its magic bytes) to RGB8. */
GSCAM_API gscam_status gscam_image_load(const char *path, const gscam_option_list *options,
                                        gscam_image **out);
/* The same from memory. */
GSCAM_API gscam_status gscam_image_decode(const void *data, size_t size,
                                          const gscam_option_list *options, gscam_image **out);
/* Copies width x height RGB8 pixels, rows stride bytes apart. */
GSCAM_API gscam_status gscam_image_from_rgb8(const uint8_t *pixels, uint32_t width, uint32_t height,
                                             size_t stride, gscam_image **out);
GSCAM_API void gscam_image_free(gscam_image *img);
GSCAM_API uint32_t gscam_image_width(const gscam_image *img);
GSCAM_API uint32_t gscam_image_height(const gscam_image *img);
/* Tightly packed RGB8 rows (width * 3 bytes each), owned by the image. */
GSCAM_API const uint8_t *gscam_image_pixels(const gscam_image *img);
/* Writes the image as an 8-bit RGB PNG. */
GSCAM_API gscam_status gscam_image_save_png(const gscam_image *img, const char *path);

/* How an image is fitted to the model's square input. */
#define GSCAM_FIT_SQUASH 0 /* resize the whole image to R x R */
#define GSCAM_FIT_CROP 1   /* resize the shorter side to R, then centre-crop */

/* Writes the R x R x 3 RGB8 input the model normalises (Pillow-compatible
 * bicubic resize) into out (size * size * 3 bytes). */
GSCAM_API gscam_status gscam_image_preprocess(const gscam_image *img, uint32_t size, int32_t fit,
                                              uint8_t *out, size_t out_len);

/* Blends a map (width * height values in [0, 1]) over the image in a
 * perceptual colour map; alpha is the map's weight in [0, 1]. */
GSCAM_API gscam_status gscam_image_overlay(const gscam_image *img, const float *map, size_t map_len,
                                           float alpha, gscam_image **out);

/* ======================================================================== */
/* CAM context                                                              */
/* ======================================================================== */

typedef struct gscam_cam gscam_cam;

/* Creates a CAM context on a model; the model must outlive it. */
GSCAM_API gscam_status gscam_cam_create(gscam_model *model, gscam_cam **out);
GSCAM_API void gscam_cam_free(gscam_cam *cam);

/* Methods, values of GSCAM_OPT_METHOD. */
#define GSCAM_METHOD_GSCORECAM 0 /* ScoreCAM on the k channels of largest mean gradient */
#define GSCAM_METHOD_SCORECAM 1  /* every channel (k = C) */
#define GSCAM_METHOD_GRADCAM 2
#define GSCAM_METHOD_GRADCAM_PP 3
#define GSCAM_METHOD_HILACAM 4   /* ViT models only */

/* Options of a CAM context. */
#define GSCAM_OPT_METHOD 1  /* a GSCAM_METHOD_*, default gScoreCAM */
#define GSCAM_OPT_TOPK 2    /* k >= 1, default 300, clamped to C */
#define GSCAM_OPT_BATCH 3   /* most masked images scored per pass; 0 (default) picks */
#define GSCAM_OPT_FIT 4     /* GSCAM_FIT_SQUASH (default) or GSCAM_FIT_CROP */
#define GSCAM_OPT_THREADS 5 /* tensor threads, 0 (default) = every core; process-wide */

GSCAM_API gscam_status gscam_cam_set(gscam_cam *cam, int32_t option, int64_t value);
GSCAM_API gscam_status gscam_cam_get(const gscam_cam *cam, int32_t option, int64_t *value);

/* Progress: called with the masked images scored so far and their total.
 * Return non-zero to cancel; the computation then fails with
 * GSCAM_ERR_CANCELLED. */
typedef int (*gscam_progress_fn)(void *user, int64_t done, int64_t total);
GSCAM_API gscam_status gscam_cam_set_progress(gscam_cam *cam, gscam_progress_fn fn, void *user);

/* Computes the map of an image for one prompt (ids from
 * gscam_tokenizer_encode, n_ids = the model's context length) into map, the
 * image's width * height values in [0, 1], row-major. Returns GSCAM_FLAT_MAP,
 * with map all 0, when the weighted activations vanish. */
GSCAM_API gscam_status gscam_cam_compute(gscam_cam *cam, const gscam_image *img, const int32_t *ids,
                                         size_t n_ids, float *map, size_t map_len);

/* The same on an already preprocessed R x R x 3 RGB8 input; the map is R x R. */
GSCAM_API gscam_status gscam_cam_compute_input(gscam_cam *cam, const uint8_t *input, size_t input_len,
                                               const int32_t *ids, size_t n_ids, float *map,
                                               size_t map_len);

/* CLIP logits exp(logit_scale) * cos(image, text) of one image against
 * n_prompts prompts, ids holding n_prompts rows of the context length. */
GSCAM_API gscam_status gscam_cam_score(gscam_cam *cam, const gscam_image *img, const int32_t *ids,
                                       size_t n_prompts, size_t context, float *logits);

/* After a compute: the logit of the unmasked image for the prompt. */
GSCAM_API gscam_status gscam_cam_last_logit(const gscam_cam *cam, double *logit);
/* After a compute: the selected channels, by descending importance (all C for
 * ScoreCAM, none for the gradient methods). Copies at most capacity. */
GSCAM_API gscam_status gscam_cam_last_channels(const gscam_cam *cam, int32_t *channels, size_t capacity,
                                               size_t *count);
/* The message of the last failure on this context, "" if none. */
GSCAM_API const char *gscam_cam_message(const gscam_cam *cam);

#ifdef __cplusplus
}
#endif

#endif
