/*
 * gsx_archive.cpp - gsx_load_archive: the named tensors of a TorchScript
 * archive or of a torch.save file holding a dict of tensors.
 *
 * Both formats are zip files. Before libtorch reads anything, this file
 * reads the zip central directory itself, because libtorch 1.13's
 * PyTorchStreamReader can only report a record's size by reading the record,
 * and the caller's limits must hold before any tensor data is read.
 */
#include <torch/script.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>
#include <zlib.h>

#include "gsx_impl.h"
#include "gsx_pickle.h"

namespace {

const char *const FN = "gsx_load_archive";

/* A central directory larger than this is rejected as damaged. Each entry
 * takes at least 46 bytes, so 1 GiB would be over 20 million records, where a
 * PyTorch archive contains one record per storage and a few more. */
constexpr uint64_t MAX_DIRECTORY_BYTES = uint64_t(1) << 30;

/* The end-of-central-directory record is 22 bytes plus a comment of at most
 * 65535 bytes, so it lies within this many bytes of the end. */
constexpr uint64_t EOCD_SEARCH_BYTES = 22 + 65535;

/* A failure with its gsx code, thrown inside this file only. */
struct ArchiveError {
    int code;
    std::string message;
};

struct ZipRecord {
    std::string name;
    uint64_t size;       // uncompressed bytes
    uint64_t compressed; // bytes in the file
    uint64_t offset;     // of the record's local header
    uint16_t method;     // 0 stored, 8 deflate
};

/* zlib's documentation gives 1032:1 as deflate's maximum compression ratio. */
constexpr uint64_t DEFLATE_MAX_RATIO = 1032;

struct NamedTensor {
    std::string name;
    at::Tensor tensor;
};

/* An open file descriptor, closed when it goes out of scope. */
class File {
public:
    explicit File(int fd) : fd_(fd) {}
    ~File()
    {
        if (fd_ >= 0)
            close(fd_);
    }
    File(const File &) = delete;
    File &operator=(const File &) = delete;
    int fd() const { return fd_; }

private:
    int fd_;
};

[[noreturn]] void fail(int code, const std::string &path, const std::string &why)
{
    throw ArchiveError{code, path + ": " + why};
}

uint16_t le16(const unsigned char *p)
{
    return static_cast<uint16_t>(p[0] | (p[1] << 8));
}

uint32_t le32(const unsigned char *p)
{
    return static_cast<uint32_t>(le16(p)) | (static_cast<uint32_t>(le16(p + 2)) << 16);
}

uint64_t le64(const unsigned char *p)
{
    return static_cast<uint64_t>(le32(p)) | (static_cast<uint64_t>(le32(p + 4)) << 32);
}

/* Reads exactly n bytes at offset, or fails as a damaged archive. */
void read_at(const File &file, const std::string &path, uint64_t offset, unsigned char *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        const ssize_t got = pread(file.fd(), buf + done, n - done, static_cast<off_t>(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            fail(GSX_ERR_IO, path, std::strerror(errno));
        if (got == 0)
            fail(GSX_ERR_FORMAT, path, "damaged zip archive (a record points past the end of the file)");
        done += static_cast<size_t>(got);
    }
}

/* Rejects files that are not zip archives, naming the likely cause. */
void check_signature(const File &file, const std::string &path, uint64_t file_size)
{
    unsigned char head[4] = {0, 0, 0, 0};
    if (file_size >= 4)
        read_at(file, path, 0, head, 4);

    if (std::memcmp(head, "PK\x03\x04", 4) == 0)
        return;
    // Pickle protocol 2, which torch.save wrote before PyTorch 1.6.
    if (head[0] == 0x80 && head[1] == 0x02)
        fail(GSX_ERR_FORMAT, path,
             "legacy torch.save file (written before PyTorch 1.6) is not supported; "
             "save it again with a current torch.save");
    if (file_size == 0)
        fail(GSX_ERR_FORMAT, path, "file is empty, expected a TorchScript archive or a torch.save zip file");
    fail(GSX_ERR_FORMAT, path, "not a zip file, expected a TorchScript archive or a torch.save zip file");
}

struct Directory {
    uint64_t entries;
    uint64_t size;
    uint64_t offset;
};

/* Finds the central directory through the end-of-central-directory record
 * and, when present, its zip64 counterpart. */
Directory find_directory(const File &file, const std::string &path, uint64_t file_size)
{
    const uint64_t tail_size = std::min(file_size, EOCD_SEARCH_BYTES);
    std::vector<unsigned char> tail(tail_size);
    read_at(file, path, file_size - tail_size, tail.data(), tail.size());

    int64_t at = -1;
    for (int64_t i = static_cast<int64_t>(tail_size) - 22; i >= 0; i--) {
        if (le32(&tail[static_cast<size_t>(i)]) == 0x06054b50) {
            at = i;
            break;
        }
    }
    if (at < 0)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (no end of central directory; the file may be truncated)");

    const unsigned char *eocd = &tail[static_cast<size_t>(at)];
    Directory dir{le16(eocd + 10), le32(eocd + 12), le32(eocd + 16)};

    // A zip64 locator, when present, sits just before the record found above.
    const uint64_t eocd_offset = file_size - tail_size + static_cast<uint64_t>(at);
    if (eocd_offset >= 20) {
        unsigned char locator[20];
        read_at(file, path, eocd_offset - 20, locator, sizeof locator);
        if (le32(locator) == 0x07064b50) {
            unsigned char record[56];
            const uint64_t record_offset = le64(locator + 8);
            if (record_offset > file_size || file_size - record_offset < sizeof record)
                fail(GSX_ERR_FORMAT, path, "damaged zip archive (zip64 directory record out of range)");
            read_at(file, path, record_offset, record, sizeof record);
            if (le32(record) != 0x06064b50)
                fail(GSX_ERR_FORMAT, path, "damaged zip archive (bad zip64 directory record)");
            dir = Directory{le64(record + 32), le64(record + 40), le64(record + 48)};
        }
    }

    if (dir.offset > file_size || dir.size > file_size - dir.offset)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (central directory out of range; the file may be truncated)");
    if (dir.size > MAX_DIRECTORY_BYTES)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (central directory of " + std::to_string(dir.size) +
                                       " bytes)");
    return dir;
}

/* Reads the zip64 extended-information field of a directory entry. It holds,
 * in this order, the uncompressed size, the compressed size and the local
 * header offset, but only those whose 32-bit fields in the entry are
 * 0xFFFFFFFF. */
void read_zip64(const unsigned char *entry, const unsigned char *extra, size_t length, ZipRecord &record,
                const std::string &path)
{
    const bool need_size = le32(entry + 24) == 0xFFFFFFFFu;
    const bool need_compressed = le32(entry + 20) == 0xFFFFFFFFu;
    const bool need_offset = le32(entry + 42) == 0xFFFFFFFFu;
    const size_t needed = 8 * (need_size + need_compressed + need_offset);
    size_t pos = 0;

    while (pos + 4 <= length) {
        const uint16_t id = le16(extra + pos);
        const uint16_t size = le16(extra + pos + 2);
        if (pos + 4 + size > length)
            break;
        if (id == 0x0001 && size >= needed) {
            const unsigned char *value = extra + pos + 4;
            if (need_size) {
                record.size = le64(value);
                value += 8;
            }
            if (need_compressed) {
                record.compressed = le64(value);
                value += 8;
            }
            if (need_offset)
                record.offset = le64(value);
            return;
        }
        pos += 4 + size;
    }
    fail(GSX_ERR_FORMAT, path, "damaged zip archive (record '" + record.name + "' lacks its zip64 field)");
}

/* Rejects a record whose declared size the file cannot hold, because
 * libtorch allocates a record's declared size before reading it. PyTorch
 * stores tensor data and data.pkl, and deflates code and debug records. */
void check_record_size(const ZipRecord &record, const std::string &path, uint64_t file_size)
{
    if (record.method != 0 && record.method != 8)
        fail(GSX_ERR_FORMAT, path, "record '" + record.name + "' uses zip compression method " +
                                       std::to_string(record.method) + "; only stored (0) and deflate (8) are supported");
    const uint64_t max_size = record.method == 0 ? record.compressed : record.compressed > UINT64_MAX / DEFLATE_MAX_RATIO
                                                                            ? UINT64_MAX
                                                                            : record.compressed * DEFLATE_MAX_RATIO;
    if (record.compressed > file_size || record.size > max_size)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (record '" + record.name + "' declares " +
                                       std::to_string(record.size) + " bytes, more than a " +
                                       std::to_string(file_size) + "-byte file can hold)");
}

/* Lists every record of the archive with its uncompressed size. */
std::vector<ZipRecord> list_records(const File &file, const std::string &path, uint64_t file_size)
{
    const Directory dir = find_directory(file, path, file_size);
    std::vector<unsigned char> buf(static_cast<size_t>(dir.size));
    if (!buf.empty())
        read_at(file, path, dir.offset, buf.data(), buf.size());

    std::vector<ZipRecord> records;
    size_t pos = 0;
    for (uint64_t i = 0; i < dir.entries; i++) {
        if (buf.size() - pos < 46 || le32(&buf[pos]) != 0x02014b50)
            fail(GSX_ERR_FORMAT, path, "damaged zip archive (central directory entry " + std::to_string(i) +
                                           " is invalid)");
        const unsigned char *entry = &buf[pos];
        const size_t name_length = le16(entry + 28);
        const size_t extra_length = le16(entry + 30);
        const size_t comment_length = le16(entry + 32);
        if (buf.size() - pos - 46 < name_length + extra_length + comment_length)
            fail(GSX_ERR_FORMAT, path, "damaged zip archive (central directory entry " + std::to_string(i) +
                                           " runs past the directory)");

        ZipRecord record{std::string(reinterpret_cast<const char *>(entry + 46), name_length), le32(entry + 24),
                         le32(entry + 20), le32(entry + 42), le16(entry + 10)};
        if (record.size == 0xFFFFFFFFu || record.offset == 0xFFFFFFFFu || record.compressed == 0xFFFFFFFFu)
            read_zip64(entry, entry + 46 + name_length, extra_length, record, path);
        check_record_size(record, path, file_size);
        records.push_back(std::move(record));
        pos += 46 + name_length + extra_length + comment_length;
    }
    return records;
}

/* Inflates a deflated record into exactly record.size bytes. */
std::vector<unsigned char> inflate_record(const std::vector<unsigned char> &raw, const ZipRecord &record,
                                          const std::string &path)
{
    std::vector<unsigned char> out(static_cast<size_t>(record.size) + 1);
    z_stream stream{};
    if (inflateInit2(&stream, -MAX_WBITS) != Z_OK)
        fail(GSX_ERR_NOMEM, path, "cannot start zlib");
    stream.next_in = const_cast<unsigned char *>(raw.data());
    stream.avail_in = static_cast<uInt>(raw.size());
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&stream, Z_FINISH);
    const uint64_t produced = stream.total_out;
    inflateEnd(&stream);
    if (rc != Z_STREAM_END || produced != record.size)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (record '" + record.name + "' does not inflate to its " +
                                       std::to_string(record.size) + " bytes)");
    out.resize(static_cast<size_t>(record.size));
    return out;
}

/* Reads a record's bytes, which follow its local header, the header's name
 * and its extra field, and inflates them when deflated. */
std::vector<unsigned char> read_record(const File &file, const std::string &path, const ZipRecord &record,
                                       uint64_t file_size)
{
    unsigned char header[30];
    if (record.offset > file_size || file_size - record.offset < sizeof header)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (record '" + record.name + "' starts past the end)");
    read_at(file, path, record.offset, header, sizeof header);
    if (le32(header) != 0x04034b50)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (record '" + record.name + "' has no local header)");

    const uint64_t start = record.offset + sizeof header + le16(header + 26) + le16(header + 28);
    if (start > file_size || file_size - start < record.compressed)
        fail(GSX_ERR_FORMAT, path, "damaged zip archive (record '" + record.name + "' runs past the end)");
    std::vector<unsigned char> raw(static_cast<size_t>(record.compressed));
    if (!raw.empty())
        read_at(file, path, start, raw.data(), raw.size());
    if (record.method == 8)
        return inflate_record(raw, record, path);
    return raw;
}

bool ends_with(const std::string &s, const char *suffix)
{
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

/* Checks the length fields of every pickle record (data.pkl, constants.pkl,
 * code/ *.debug_pkl) before libtorch's unpickler reads them. */
void check_pickles(const File &file, const std::string &path, const std::vector<ZipRecord> &records,
                   uint64_t file_size)
{
    for (const ZipRecord &record : records) {
        if (!ends_with(record.name, "pkl"))
            continue;
        const std::vector<unsigned char> data = read_record(file, path, record, file_size);
        std::string why;
        if (!gsx::pickle_check(data.data(), data.size(), why))
            fail(GSX_ERR_FORMAT, path, "invalid pickle in record '" + record.name + "': " + why);
    }
}

/* Returns the record name without the archive's top-level folder, which
 * PyTorch names after the file ("model/data/0" becomes "data/0"). */
std::string relative_name(const std::string &name)
{
    if (name.compare(0, 5, "data/") == 0 || name.compare(0, 10, "constants/") == 0)
        return name;
    const size_t slash = name.find('/');
    return slash == std::string::npos ? name : name.substr(slash + 1);
}

bool starts_with(const std::string &s, const char *prefix)
{
    return s.compare(0, std::strlen(prefix), prefix) == 0;
}

/* Enforces the caller's limits on tensor storages and their bytes. Tensor
 * data lives in records under data/ (parameters, buffers, dict values) and
 * constants/ (TorchScript constants, also read by torch::jit::load). */
void check_limits(const std::vector<ZipRecord> &records, const std::string &path, size_t max_tensors,
                  uint64_t max_bytes)
{
    uint64_t count = 0;
    uint64_t bytes = 0;
    for (const ZipRecord &record : records) {
        const std::string name = relative_name(record.name);
        const bool data = starts_with(name, "data/");
        if (!data && !starts_with(name, "constants/"))
            continue;
        if (data)
            count++;
        bytes = record.size > UINT64_MAX - bytes ? UINT64_MAX : bytes + record.size;
    }

    // The option names are the public ones that set these limits.
    if (max_tensors != 0 && count > max_tensors)
        fail(GSX_ERR_LIMIT, path, "archive contains " + std::to_string(count) + " tensor storages, above the limit of " +
                                      std::to_string(max_tensors) + " (GSCAM_LOAD_MAX_TENSORS)");
    if (max_bytes != 0 && bytes > max_bytes)
        fail(GSX_ERR_LIMIT, path, "archive contains " + std::to_string(bytes) +
                                      " bytes of tensor data, above the limit of " + std::to_string(max_bytes) +
                                      " bytes (GSCAM_LOAD_MAX_BYTES)");
}

/* Returns true for a TorchScript archive, false for a torch.save file. */
bool is_torchscript(const std::vector<ZipRecord> &records, const std::string &path)
{
    bool has_data_pickle = false;
    for (const ZipRecord &record : records) {
        const std::string name = relative_name(record.name);
        if (name == "constants.pkl" || starts_with(name, "code/"))
            return true;
        if (name == "data.pkl")
            has_data_pickle = true;
    }
    if (!has_data_pickle)
        fail(GSX_ERR_FORMAT, path, "zip file has no data.pkl record, so it is neither a TorchScript archive "
                                   "nor a torch.save file");
    return false;
}

/* Appends the parameters, then the buffers, then the children's tensors of
 * module, the order of a Python state dict. */
void collect_module(const torch::jit::Module &module, const std::string &prefix, std::vector<NamedTensor> &out)
{
    for (const auto &item : module.named_parameters(/*recurse=*/false))
        out.push_back({prefix + item.name, item.value});
    for (const auto &item : module.named_buffers(/*recurse=*/false))
        out.push_back({prefix + item.name, item.value});
    for (const auto &child : module.named_children())
        collect_module(child.value, prefix + child.name + ".", out);
}

std::vector<NamedTensor> load_torchscript(const std::string &path)
{
    std::vector<NamedTensor> out;
    try {
        const torch::jit::Module module = torch::jit::load(path, at::Device(at::kCPU));
        collect_module(module, "", out);
    } catch (const c10::Error &e) {
        fail(GSX_ERR_FORMAT, path, std::string("cannot load TorchScript archive: ") + e.what_without_backtrace());
    }
    return out;
}

std::vector<NamedTensor> load_pickle(const std::string &path)
{
    c10::IValue value;
    try {
        caffe2::serialize::PyTorchStreamReader reader(path);
        value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"data/",
                                                  c10::nullopt, c10::nullopt, at::Device(at::kCPU), reader);
    } catch (const c10::Error &e) {
        const std::string why = e.what_without_backtrace();
        // NOTE: libtorch 1.13's unpickler cannot rebuild nn.Parameter, which
        // torch.save(dict(model.named_parameters())) writes. Nor can it read
        // OrderedDict, which torch.save(model.state_dict()) writes, because
        // it turns the dict into None and then fails on it.
        if (why.find("_rebuild_parameter") != std::string::npos)
            fail(GSX_ERR_FORMAT, path, "torch.save file contains nn.Parameter objects, which libtorch cannot read; "
                                       "save model.state_dict() or detached tensors instead");
        if (why.find("Expected GenericDict but got None") != std::string::npos)
            fail(GSX_ERR_FORMAT, path, "torch.save file contains an OrderedDict, which libtorch cannot read; "
                                       "save dict(model.state_dict()) instead");
        fail(GSX_ERR_FORMAT, path, "cannot read torch.save file: " + why);
    }

    if (!value.isGenericDict())
        fail(GSX_ERR_FORMAT, path, "torch.save file contains a " + value.tagKind() + ", expected a dict of tensors");

    std::vector<NamedTensor> out;
    for (const auto &item : value.toGenericDict()) {
        if (!item.key().isString())
            fail(GSX_ERR_FORMAT, path, "dict key of type " + item.key().tagKind() + ", expected a string");
        const std::string name = item.key().toStringRef();
        if (!item.value().isTensor())
            fail(GSX_ERR_FORMAT, path, "entry '" + name + "' is a " + item.value().tagKind() + ", expected a tensor");
        out.push_back({name, item.value().toTensor()});
    }
    return out;
}

/* Opens path, checks it and the caller's limits, and reads its tensors. */
std::vector<NamedTensor> read_archive(const std::string &path, size_t max_tensors, uint64_t max_bytes)
{
    File file(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)); // a FIFO must not block
    if (file.fd() < 0)
        fail(GSX_ERR_IO, path, std::strerror(errno));

    struct stat st;
    if (fstat(file.fd(), &st) != 0)
        fail(GSX_ERR_IO, path, std::strerror(errno));
    if (S_ISDIR(st.st_mode))
        fail(GSX_ERR_IO, path, "is a directory");
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);

    check_signature(file, path, file_size);
    const std::vector<ZipRecord> records = list_records(file, path, file_size);
    check_limits(records, path, max_tensors, max_bytes);
    check_pickles(file, path, records, file_size);

    std::vector<NamedTensor> tensors = is_torchscript(records, path) ? load_torchscript(path) : load_pickle(path);

    // Several names may share one storage, so the named count is checked too.
    if (max_tensors != 0 && tensors.size() > max_tensors)
        fail(GSX_ERR_LIMIT, path, "archive contains " + std::to_string(tensors.size()) +
                                      " named tensors, above the limit of " + std::to_string(max_tensors) +
                                      " (GSCAM_LOAD_MAX_TENSORS)");

    for (NamedTensor &item : tensors)
        item.tensor = item.tensor.detach().to(at::kCPU).contiguous();
    return tensors;
}

} // namespace

extern "C" int gsx_load_archive(gsx_ctx *ctx, const char *path, size_t max_tensors, uint64_t max_bytes,
                                gsx_named_fn fn, void *user)
{
    if (!gsx::ready(ctx, FN, {}))
        return ctx ? ctx->code : GSX_ERR_ARGUMENT;
    if (!path || !fn) {
        gsx::record(ctx, GSX_ERR_ARGUMENT, FN, !path ? "path is NULL" : "callback is NULL");
        return ctx->code;
    }

    c10::Warning::WarningHandlerGuard quiet(gsx::silent_warnings());
    try {
        const std::vector<NamedTensor> tensors = read_archive(path, max_tensors, max_bytes);
        for (const NamedTensor &item : tensors) {
            gsx_tensor *handle = gsx::adopt(ctx, item.tensor);
            if (fn(user, item.name.c_str(), handle) != 0) {
                const std::string why = "loading stopped by the callback at tensor '" + item.name + "'";
                gsx::record(ctx, GSX_ERR_ARGUMENT, FN, why.c_str());
                return ctx->code;
            }
        }
        return GSX_OK;
    } catch (const ArchiveError &e) {
        gsx::record(ctx, e.code, FN, e.message.c_str());
        return ctx->code;
    } catch (...) {
        gsx::record_current_exception(ctx, FN);
        return ctx->code;
    }
}
