"""ctypes binding of libgscorecam: every function of gscorecam.h, and a map() helper.

    import gscorecam
    m = gscorecam.map("RN50.pt", "bpe_simple_vocab_16e6.txt.gz", "cat.jpg", "a cat")
    # m is a (height, width) float32 numpy array with values in [0, 1]

The shared library is found through the GSCAM_LIBRARY environment variable (a
path), then the system's search path (libgscorecam.so.0). Every failing call
raises GscamError, which carries the status code, its name and the library's
one-line message. Handles are freed by close(), by a with-block, or when
garbage-collected.
"""

import ctypes
import ctypes.util
import os

import numpy as np

__all__ = [
    "GscamError", "Model", "Tokenizer", "Image", "Cam", "map", "lib",
    "version_number", "version_string", "set_log_callback",
]

# ---- the library and its functions -----------------------------------------

def _load_library():
    path = os.environ.get("GSCAM_LIBRARY") or ctypes.util.find_library("gscorecam") or "libgscorecam.so.0"
    return ctypes.CDLL(path)


lib = _load_library()

_status = ctypes.c_int32
_c_char_p = ctypes.c_char_p
_size_t = ctypes.c_size_t
_size_p = ctypes.POINTER(ctypes.c_size_t)
_i32_p = ctypes.POINTER(ctypes.c_int32)
_i64_p = ctypes.POINTER(ctypes.c_int64)
_u8_p = ctypes.POINTER(ctypes.c_uint8)
_float_p = ctypes.POINTER(ctypes.c_float)
_option_list_p = ctypes.POINTER(ctypes.c_int64)
_handle = ctypes.c_void_p
_handle_p = ctypes.POINTER(ctypes.c_void_p)

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)

# name: (restype, argtypes), in the order of gscorecam.h.
FUNCTIONS = {
    "gscam_version_number": (ctypes.c_uint32, []),
    "gscam_version_string": (_c_char_p, []),

    "gscam_is_error": (ctypes.c_int, [_status]),
    "gscam_status_name": (_c_char_p, [_status]),
    "gscam_status_string": (_c_char_p, [_status]),
    "gscam_last_error": (_c_char_p, []),
    "gscam_set_log_callback": (None, [LOG_FN, ctypes.c_void_p]),

    "gscam_model_load": (_status, [_c_char_p, _c_char_p, _option_list_p, _handle_p]),
    "gscam_model_free": (None, [_handle]),
    "gscam_model_info": (_status, [_handle, ctypes.c_int32, _i64_p]),
    "gscam_model_architecture": (_c_char_p, [_handle]),
    "gscam_model_target_layer": (_c_char_p, [_handle]),
    "gscam_model_message": (_c_char_p, [_handle]),

    "gscam_tokenizer_load": (_status, [_c_char_p, _handle_p]),
    "gscam_tokenizer_free": (None, [_handle]),
    "gscam_tokenizer_encode": (_status, [_handle, _c_char_p, _size_t, _size_t, ctypes.c_uint32, _i32_p, _size_p]),
    "gscam_tokenizer_start_id": (ctypes.c_int32, [_handle]),
    "gscam_tokenizer_end_id": (ctypes.c_int32, [_handle]),
    "gscam_tokenizer_vocab_size": (ctypes.c_int32, [_handle]),

    "gscam_image_load": (_status, [_c_char_p, _option_list_p, _handle_p]),
    "gscam_image_decode": (_status, [ctypes.c_void_p, _size_t, _option_list_p, _handle_p]),
    "gscam_image_from_rgb8": (_status, [_u8_p, ctypes.c_uint32, ctypes.c_uint32, _size_t, _handle_p]),
    "gscam_image_free": (None, [_handle]),
    "gscam_image_width": (ctypes.c_uint32, [_handle]),
    "gscam_image_height": (ctypes.c_uint32, [_handle]),
    "gscam_image_pixels": (_u8_p, [_handle]),
    "gscam_image_save_png": (_status, [_handle, _c_char_p]),
    "gscam_image_preprocess": (_status, [_handle, ctypes.c_uint32, ctypes.c_int32, _u8_p, _size_t]),
    "gscam_image_overlay": (_status, [_handle, _float_p, _size_t, ctypes.c_float, _handle_p]),

    "gscam_cam_create": (_status, [_handle, _handle_p]),
    "gscam_cam_free": (None, [_handle]),
    "gscam_cam_set": (_status, [_handle, ctypes.c_int32, ctypes.c_int64]),
    "gscam_cam_get": (_status, [_handle, ctypes.c_int32, _i64_p]),
    "gscam_cam_set_progress": (_status, [_handle, PROGRESS_FN, ctypes.c_void_p]),
    "gscam_cam_compute": (_status, [_handle, _handle, _i32_p, _size_t, _float_p, _size_t]),
    "gscam_cam_compute_input": (_status, [_handle, _u8_p, _size_t, _i32_p, _size_t, _float_p, _size_t]),
    "gscam_cam_score": (_status, [_handle, _handle, _i32_p, _size_t, _size_t, _float_p]),
    "gscam_cam_last_logit": (_status, [_handle, ctypes.POINTER(ctypes.c_double)]),
    "gscam_cam_last_channels": (_status, [_handle, _i32_p, _size_t, _size_p]),
    "gscam_cam_message": (_c_char_p, [_handle]),
}

for _name, (_restype, _argtypes) in FUNCTIONS.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes

# ---- constants (the values of gscorecam.h, which never change) ---------------

OK = 0
FLAT_MAP = 1

LOAD_MAX_TENSORS = 0x101
LOAD_MAX_BYTES = 0x102
LOAD_FOLD_BATCH_NORM = 0x103
IMAGE_EXIF = 0x201
IMAGE_MAX_PIXELS = 0x202
IMAGE_MAX_SIDE = 0x203
IMAGE_MAX_SCANS = 0x204

INFO = {
    "input_resolution": 1, "embed_dim": 2, "context_length": 3, "vocab_size": 4,
    "target_channels": 5, "grid": 6, "is_vit": 7, "vision_width": 8, "vision_layers": 9,
    "text_width": 10, "text_layers": 11,
}

TOKENIZE_TRUNCATE = 1

FIT_SQUASH = 0
FIT_CROP = 1
FITS = {"squash": FIT_SQUASH, "crop": FIT_CROP}

METHODS = {"gscorecam": 0, "scorecam": 1, "gradcam": 2, "gradcam++": 3, "hilacam": 4}

OPT_METHOD = 1
OPT_TOPK = 2
OPT_BATCH = 3
OPT_FIT = 4
OPT_THREADS = 5

# ---- errors ----------------------------------------------------------------


class GscamError(Exception):
    """A failed call: status (the code), name ("GSCAM_ERR_IO", ...) and message."""

    def __init__(self, status, message):
        self.status = status
        self.name = lib.gscam_status_name(status).decode()
        self.message = message
        super().__init__(f"{self.name}: {message}")


def _check(status):
    """Raise GscamError for a failure; return GSCAM_OK or GSCAM_FLAT_MAP."""
    if lib.gscam_is_error(status):
        message = lib.gscam_last_error().decode(errors="replace")
        raise GscamError(status, message or lib.gscam_status_string(status).decode())
    return status


def _options(pairs):
    """Encode {id: value} as the library's option list ended by a 0 id, or None."""
    if not pairs:
        return None
    flat = [v for item in pairs.items() for v in item] + [0]
    return (ctypes.c_int64 * len(flat))(*flat)


def _path(path):
    return os.fsencode(path)


def version_number():
    return lib.gscam_version_number()


def version_string():
    return lib.gscam_version_string().decode()


_log_callback = None


def set_log_callback(fn):
    """Send the library's log lines to fn(line: str); None silences it again."""
    global _log_callback
    if fn is None:
        _log_callback = None
        lib.gscam_set_log_callback(LOG_FN(), None)
        return
    # The ctypes thunk must stay alive as long as the library may call it.
    _log_callback = LOG_FN(lambda user, line: fn(line.decode(errors="replace")))
    lib.gscam_set_log_callback(_log_callback, None)

# ---- handles ---------------------------------------------------------------


class _Handle:
    _free = None
    # Set before any call can fail, so __del__ of a half-built handle is safe.
    _as_parameter_ = None

    def __init__(self, pointer):
        self._as_parameter_ = pointer

    def close(self):
        if self._as_parameter_:
            type(self)._free(self._as_parameter_)
            self._as_parameter_ = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Model(_Handle):
    """A loaded CLIP model; read-only, shareable between CAM contexts."""

    _free = lib.gscam_model_free

    def __init__(self, path, device="cpu", options=None):
        out = ctypes.c_void_p()
        _check(lib.gscam_model_load(_path(path), device.encode() if device else None, _options(options),
                                    ctypes.byref(out)))
        super().__init__(out.value)

    def info(self, key):
        """Return one integer fact; key is a key of INFO ("input_resolution", ...) or its number."""
        value = ctypes.c_int64()
        _check(lib.gscam_model_info(self, INFO.get(key, key), ctypes.byref(value)))
        return value.value

    @property
    def architecture(self):
        return lib.gscam_model_architecture(self).decode()

    @property
    def target_layer(self):
        return lib.gscam_model_target_layer(self).decode()

    @property
    def message(self):
        return lib.gscam_model_message(self).decode(errors="replace")


class Tokenizer(_Handle):
    """CLIP's BPE tokenizer over a merges file."""

    _free = lib.gscam_tokenizer_free

    def __init__(self, path):
        out = ctypes.c_void_p()
        _check(lib.gscam_tokenizer_load(_path(path), ctypes.byref(out)))
        super().__init__(out.value)

    def encode(self, text, context=77, truncate=False):
        """Return the padded ids (int32 array of length context) and the count before padding."""
        data = text.encode() if isinstance(text, str) else bytes(text)
        ids = np.zeros(context, dtype=np.int32)
        count = ctypes.c_size_t()
        _check(lib.gscam_tokenizer_encode(self, data, len(data), context, TOKENIZE_TRUNCATE if truncate else 0,
                                          ids.ctypes.data_as(_i32_p), ctypes.byref(count)))
        return ids, count.value

    @property
    def start_id(self):
        return lib.gscam_tokenizer_start_id(self)

    @property
    def end_id(self):
        return lib.gscam_tokenizer_end_id(self)

    @property
    def vocab_size(self):
        return lib.gscam_tokenizer_vocab_size(self)


class Image(_Handle):
    """Decoded RGB8 pixels. Build one with Image.load, Image.decode or Image.from_rgb8."""

    _free = lib.gscam_image_free

    @classmethod
    def load(cls, path, exif=True, options=None):
        out = ctypes.c_void_p()
        _check(lib.gscam_image_load(_path(path), _options({IMAGE_EXIF: int(exif), **(options or {})}),
                                    ctypes.byref(out)))
        return cls(out.value)

    @classmethod
    def decode(cls, data, exif=True, options=None):
        out = ctypes.c_void_p()
        data = bytes(data)
        _check(lib.gscam_image_decode(data, len(data), _options({IMAGE_EXIF: int(exif), **(options or {})}),
                                      ctypes.byref(out)))
        return cls(out.value)

    @classmethod
    def from_rgb8(cls, pixels):
        """Copy a (height, width, 3) uint8 array."""
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"pixels must have shape (height, width, 3), not {pixels.shape}")
        out = ctypes.c_void_p()
        height, width = pixels.shape[:2]
        _check(lib.gscam_image_from_rgb8(pixels.ctypes.data_as(_u8_p), width, height, width * 3,
                                         ctypes.byref(out)))
        return cls(out.value)

    @property
    def width(self):
        return lib.gscam_image_width(self)

    @property
    def height(self):
        return lib.gscam_image_height(self)

    def pixels(self):
        """Return a copy of the pixels as a (height, width, 3) uint8 array."""
        size = self.height * self.width * 3
        buffer = ctypes.cast(lib.gscam_image_pixels(self), ctypes.POINTER(ctypes.c_uint8 * size)).contents
        return np.frombuffer(buffer, dtype=np.uint8).reshape(self.height, self.width, 3).copy()

    def save_png(self, path):
        _check(lib.gscam_image_save_png(self, _path(path)))

    def preprocess(self, size, fit="squash"):
        """Return the (size, size, 3) uint8 input the model normalises."""
        out = np.zeros((size, size, 3), dtype=np.uint8)
        _check(lib.gscam_image_preprocess(self, size, FITS[fit], out.ctypes.data_as(_u8_p), out.size))
        return out

    def overlay(self, map_, alpha=0.5):
        """Return a new Image with the (height, width) map blended over this one."""
        map_ = np.ascontiguousarray(map_, dtype=np.float32)
        out = ctypes.c_void_p()
        _check(lib.gscam_image_overlay(self, map_.ctypes.data_as(_float_p), map_.size, alpha, ctypes.byref(out)))
        return Image(out.value)


class Cam(_Handle):
    """A CAM context on a model; use it from one thread at a time."""

    _free = lib.gscam_cam_free

    def __init__(self, model):
        out = ctypes.c_void_p()
        _check(lib.gscam_cam_create(model, ctypes.byref(out)))
        super().__init__(out.value)
        # The model must outlive the context.
        self._model = model
        self._progress = None

    def set(self, option, value):
        _check(lib.gscam_cam_set(self, option, value))

    def get(self, option):
        value = ctypes.c_int64()
        _check(lib.gscam_cam_get(self, option, ctypes.byref(value)))
        return value.value

    def set_progress(self, fn):
        """Call fn(done, total) while masked images are scored; a true return cancels."""
        self._progress = PROGRESS_FN(lambda user, done, total: int(bool(fn(done, total)))) if fn else None
        _check(lib.gscam_cam_set_progress(self, self._progress or PROGRESS_FN(), None))

    def compute(self, image, ids):
        """Return the (height, width) float32 map of image for one prompt's ids."""
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        out = np.zeros((image.height, image.width), dtype=np.float32)
        _check(lib.gscam_cam_compute(self, image, ids.ctypes.data_as(_i32_p), ids.size,
                                     out.ctypes.data_as(_float_p), out.size))
        return out

    def compute_input(self, input_rgb8, ids):
        """Return the (R, R) map of an already preprocessed (R, R, 3) uint8 input."""
        input_rgb8 = np.ascontiguousarray(input_rgb8, dtype=np.uint8)
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        side = input_rgb8.shape[0]
        out = np.zeros((side, side), dtype=np.float32)
        _check(lib.gscam_cam_compute_input(self, input_rgb8.ctypes.data_as(_u8_p), input_rgb8.size,
                                           ids.ctypes.data_as(_i32_p), ids.size,
                                           out.ctypes.data_as(_float_p), out.size))
        return out

    def score(self, image, ids):
        """Return the logits of image against each row of a (prompts, context) id array."""
        ids = np.ascontiguousarray(np.atleast_2d(ids), dtype=np.int32)
        logits = np.zeros(ids.shape[0], dtype=np.float32)
        _check(lib.gscam_cam_score(self, image, ids.ctypes.data_as(_i32_p), ids.shape[0], ids.shape[1],
                                   logits.ctypes.data_as(_float_p)))
        return logits

    def last_logit(self):
        logit = ctypes.c_double()
        _check(lib.gscam_cam_last_logit(self, ctypes.byref(logit)))
        return logit.value

    def last_channels(self):
        """Return the channels the last compute selected, by descending importance."""
        count = ctypes.c_size_t()
        _check(lib.gscam_cam_last_channels(self, None, 0, ctypes.byref(count)))
        channels = np.zeros(count.value, dtype=np.int32)
        _check(lib.gscam_cam_last_channels(self, channels.ctypes.data_as(_i32_p), channels.size,
                                           ctypes.byref(count)))
        return channels[:count.value]

    @property
    def message(self):
        return lib.gscam_cam_message(self).decode(errors="replace")

# ---- the one-call helper ---------------------------------------------------


def map(model, tokenizer, image_path, text, method="gscorecam", topk=300, fit="squash", exif=True,
        batch=0, threads=0, truncate=False):
    """Return the (height, width) float32 map of an image for a prompt.

    model and tokenizer are a Model and a Tokenizer, or paths to load them
    from. method is a key of METHODS and fit a key of FITS. A map whose
    weighted activations vanish comes back all zero, as the library returns it.
    """
    owned = []
    try:
        if not isinstance(model, Model):
            model = Model(model)
            owned.append(model)
        if not isinstance(tokenizer, Tokenizer):
            tokenizer = Tokenizer(tokenizer)
            owned.append(tokenizer)
        image = Image.load(image_path, exif=exif)
        owned.append(image)
        ids, _ = tokenizer.encode(text, context=model.info("context_length"), truncate=truncate)

        cam = Cam(model)
        owned.insert(0, cam)
        cam.set(OPT_METHOD, METHODS[method])
        cam.set(OPT_TOPK, topk)
        cam.set(OPT_BATCH, batch)
        cam.set(OPT_FIT, FITS[fit])
        cam.set(OPT_THREADS, threads)
        return cam.compute(image, ids)
    finally:
        for handle in owned:
            handle.close()
