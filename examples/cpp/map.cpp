// map.cpp - libgscorecam from C++: every handle is a std::unique_ptr that
// calls the library's free function, and every failure becomes an exception.
//
//     c++ -std=c++17 map.cpp $(pkg-config --cflags --libs gscorecam) -o map
//     ./map RN50.pt bpe_simple_vocab_16e6.txt.gz cat.jpg "a cat"
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gscorecam.h>

namespace gscam {

template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};

using Model = std::unique_ptr<gscam_model, Deleter<gscam_model, gscam_model_free>>;
using Tokenizer = std::unique_ptr<gscam_tokenizer, Deleter<gscam_tokenizer, gscam_tokenizer_free>>;
using Image = std::unique_ptr<gscam_image, Deleter<gscam_image, gscam_image_free>>;
using Cam = std::unique_ptr<gscam_cam, Deleter<gscam_cam, gscam_cam_free>>;

// A failed call: the status's name and the library's one-line message.
struct Error : std::runtime_error {
    gscam_status status;
    Error(const std::string &what, gscam_status st)
        : std::runtime_error(what + ": " + gscam_last_error() + " (" + gscam_status_name(st) + ")"),
          status(st)
    {
    }
};

// Throws on a failure; returns GSCAM_OK or GSCAM_FLAT_MAP.
inline gscam_status check(gscam_status st, const std::string &what)
{
    if (gscam_is_error(st))
        throw Error(what, st);
    return st;
}

inline Model load_model(const std::string &path, const char *device = "cpu")
{
    gscam_model *m = nullptr;
    check(gscam_model_load(path.c_str(), device, nullptr, &m), path);
    return Model(m);
}

inline Tokenizer load_tokenizer(const std::string &path)
{
    gscam_tokenizer *t = nullptr;
    check(gscam_tokenizer_load(path.c_str(), &t), path);
    return Tokenizer(t);
}

inline Image load_image(const std::string &path)
{
    gscam_image *img = nullptr;
    check(gscam_image_load(path.c_str(), nullptr, &img), path);
    return Image(img);
}

inline std::vector<int32_t> encode(const gscam_tokenizer *tok, const std::string &text, size_t context)
{
    std::vector<int32_t> ids(context);
    size_t n = 0;
    check(gscam_tokenizer_encode(tok, text.data(), text.size(), context, 0, ids.data(), &n), "text");
    return ids;
}

} // namespace gscam

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::cerr << "usage: map MODEL.pt VOCAB.txt.gz IMAGE TEXT\n";
        return 2;
    }
    try {
        gscam::Model model = gscam::load_model(argv[1]);
        gscam::Tokenizer tok = gscam::load_tokenizer(argv[2]);
        gscam::Image img = gscam::load_image(argv[3]);

        int64_t context = 0;
        gscam::check(gscam_model_info(model.get(), GSCAM_INFO_CONTEXT_LENGTH, &context), "model info");
        std::vector<int32_t> ids = gscam::encode(tok.get(), argv[4], static_cast<size_t>(context));

        gscam_cam *raw = nullptr;
        gscam::check(gscam_cam_create(model.get(), &raw), "CAM context");
        gscam::Cam cam(raw);
        gscam::check(gscam_cam_set(cam.get(), GSCAM_OPT_TOPK, 300), "top-k");

        const uint32_t width = gscam_image_width(img.get());
        const uint32_t height = gscam_image_height(img.get());
        std::vector<float> map(static_cast<size_t>(width) * height);
        gscam::check(gscam_cam_compute(cam.get(), img.get(), ids.data(), ids.size(), map.data(), map.size()),
                     "map");

        const size_t peak = static_cast<size_t>(std::max_element(map.begin(), map.end()) - map.begin());
        std::cout << "map " << width << " x " << height << ", peak " << map[peak] << " at x " << peak % width
                  << " y " << peak / width << "\n";
    } catch (const gscam::Error &e) {
        std::cerr << "map: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
