// pack_file: stack maps, rules and symbols of a linked file -> pack_frame_table ->
// write_frame_table
// -> zlib chunks -> rewrite_elf -> a temporary file beside the output, read back and compared with
// what was packed -> renamed over the output (the input's mode bits kept).
#include "pack_file.hpp"

#include "elf_rewrite.hpp"

#include <gcwalk/detail/format.hpp>
#include <gcwalk/frame_chunks.hpp>
#include <gcwalk/frame_table.hpp>
#include <gcwalk/object_file.hpp>
#include <gcwalk/stackmap.hpp>

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace gcwalk::pack {
namespace {

Error fail(std::string_view path, const std::string& what) {
    return Error{std::string(path) + ": " + what};
}

std::string errno_text() {
    return std::strerror(errno);
}

Expected<std::vector<uint8_t>> read_whole_file(const std::string& path, struct stat* st) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(path, "cannot open: " + errno_text());
    std::vector<uint8_t> bytes;
    if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        ::close(fd);
        return fail(path, "not a regular file");
    }
    bytes.resize(static_cast<size_t>(st->st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ::close(fd);
            return fail(path, n == 0 ? "the file shrank while it was read"
                                     : "cannot read: " + errno_text());
        }
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return bytes;
}

// A temporary file in the output's folder (so that rename() replaces the output atomically).
class TempFile {
  public:
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }

    Status create(const std::string& beside) {
        const size_t slash = beside.rfind('/');
        const std::string dir = slash == std::string::npos ? "" : beside.substr(0, slash + 1);
        const std::string name = slash == std::string::npos ? beside : beside.substr(slash + 1);
        std::string pattern = dir + "." + name + ".gcwalk-pack.XXXXXX";
        fd_ = ::mkstemp(pattern.data());
        if (fd_ < 0)
            return fail(beside, "cannot create a temporary file beside it: " + errno_text());
        path_ = pattern;
        return Status::ok();
    }

    Status write(std::span<const uint8_t> bytes, mode_t mode) {
        size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail(path_, "cannot write: " + errno_text());
            done += static_cast<size_t>(n);
        }
        if (::fchmod(fd_, mode) != 0) return fail(path_, "cannot set the mode: " + errno_text());
        if (::close(fd_) != 0) {
            fd_ = -1;
            return fail(path_, "cannot write: " + errno_text());
        }
        fd_ = -1;
        return Status::ok();
    }

    // Renames the file to `target`; from here on it is not removed.
    Status commit(const std::string& target) {
        if (::rename(path_.c_str(), target.c_str()) != 0)
            return fail(target, "cannot replace it with " + path_ + ": " + errno_text());
        path_.clear();
        return Status::ok();
    }

    const std::string& path() const { return path_; }

  private:
    int fd_ = -1;
    std::string path_;
};

// The written file, read back as the runtime's loader would see it: its `.gcwalk_frames`
// inflates to `payload` and parses to `table`, its code is the input's, and `.llvm_stackmaps`
// is gone (stripped) or unchanged.
Status check_written(const std::string& written, const std::string& output,
                     const ObjectStackMaps& input, std::span<const uint8_t> section,
                     std::span<const uint8_t> payload, const FrameTable& table, bool stripped) {
    const std::string what = "the rewritten file (" + written + ") does not check: ";
    auto back = read_stackmaps_from_file(written);
    if (!back) return fail(output, what + back.error().message);
    if (!back->has_frame_table) return fail(output, what + "it has no .gcwalk_frames");
    if (!std::equal(section.begin(), section.end(), back->frame_table_bytes.begin(),
                    back->frame_table_bytes.end()))
        return fail(output, what + "its .gcwalk_frames differs from the chunks written");
    auto inflated = read_frame_chunks(back->frame_table_bytes, written);
    if (!inflated) return fail(output, what + inflated.error().message);
    if (!std::equal(payload.begin(), payload.end(), inflated->begin(), inflated->end()))
        return fail(output, what + "its chunks inflate to other bytes than the table's");
    auto parsed = parse_frame_table(*inflated, written);
    if (!parsed) return fail(output, what + parsed.error().message);
    if (!(*parsed == table)) return fail(output, what + "its table parses to another table");
    if (!(back->identity == input.identity))
        return fail(output, what + "its code or build ID differs from the input's");
    if (stripped ? back->has_section : back->bytes != input.bytes)
        return fail(output, what + (stripped ? "it still has .llvm_stackmaps"
                                             : "its .llvm_stackmaps differs from the input's"));
    return Status::ok();
}

// Every function of the stack maps starts inside one of the file's code sections. With
// --gc-sections a linker resolves a non-allocated section's references to discarded functions to
// 0 plus their offset in a section that is gone (lld: 0x0, 0x40, ...): packed, such records would
// claim addresses in the loaded image's headers.
Status check_functions_in_code(const ObjectStackMaps& file) {
    const std::vector<uint8_t> bytes = file.resolved_bytes(); // the blobs view it
    auto blobs = parse_stackmap_section(bytes, file.path);
    if (!blobs) return Error{blobs.error().message};
    const auto& code = file.identity.code;
    for (const StackMapBlob& blob : *blobs)
        for (uint32_t f = 0; f < blob.num_functions(); ++f) {
            const uint64_t a = blob.function(f).address;
            if (std::none_of(code.begin(), code.end(), [a](const auto& c) {
                    return a >= c.address && a - c.address < c.size;
                }))
                return fail(file.path,
                            format("blob %u function %u: address 0x%" PRIx64,
                                   blob.index_in_section(), f, a) +
                                " of .llvm_stackmaps lies outside every code section: the linker "
                                "discarded the function (--gc-sections?) and left its record "
                                "behind; link without --gc-sections (docs/INTEGRATION.md)");
        }
    return Status::ok();
}

} // namespace

Expected<std::vector<uint8_t>> compress_frame_chunks(std::span<const uint8_t> payload,
                                                     size_t chunk_payload, uint64_t cut,
                                                     uint64_t* chunks) {
    std::vector<uint8_t> section;
    std::vector<uint8_t> stream;
    uint64_t count = 0;
    for (size_t at = 0; at < payload.size();) {
        size_t n = std::min(chunk_payload, payload.size() - at);
        if (at < cut && cut < at + n) n = static_cast<size_t>(cut - at); // end a chunk at `cut`
        uLongf size = compressBound(static_cast<uLong>(n));
        stream.resize(size);
        const int rc = compress2(stream.data(), &size, payload.data() + at, static_cast<uLong>(n),
                                 Z_BEST_COMPRESSION);
        if (rc != Z_OK) return Error{"zlib compress2 failed (" + std::to_string(rc) + ")"};
        append_frame_chunk(section, n, std::span<const uint8_t>(stream.data(), size));
        at += n;
        ++count;
    }
    if (chunks) *chunks = count;
    return section;
}

Expected<PackSummary> pack_file(const PackOptions& options) {
    const std::string& in = options.input;
    // In place through a symbolic link: the file it names is replaced, not the link.
    std::string out = options.output;
    if (out.empty()) {
        char* real = ::realpath(in.c_str(), nullptr);
        out = real ? real : in;
        std::free(real);
    }

    auto file = read_stackmaps_from_file(in);
    if (!file) return std::move(file).error();
    if (file->relocatable)
        return fail(in, "a relocatable object (.o): gcwalk-pack packs linked executables and "
                        "shared objects");
    if (!file->has_section)
        return fail(in, file->has_frame_table
                            ? "no .llvm_stackmaps to pack: the file has a .gcwalk_frames "
                              "already, packed with --strip-stackmaps"
                            : "no .llvm_stackmaps: nothing to pack");
    if (options.strip_stackmaps && file->section_allocated)
        return fail(in, "--strip-stackmaps: .llvm_stackmaps is allocated (SHF_ALLOC), inside a "
                        "loaded segment, and cannot be removed; relink with the managed objects' "
                        ".llvm_stackmaps made non-allocated (gcwalk_unallocated_stackmaps(), "
                        "docs/INTEGRATION.md), or pack without --strip-stackmaps");
    if (!file->rules_problem.empty())
        return fail(in, "no frame rules for the table: " + file->rules_problem);

    if (auto st = check_functions_in_code(*file); !st) return Error{st.message()};
    auto table = pack_frame_table(file->to_image(0), file->identity);
    if (!table) return fail(in, "packing the frame table: " + table.error().message);
    auto payload = write_frame_table(*table);
    if (!payload) return fail(in, "writing the frame table: " + payload.error().message);
    uint64_t chunks = 0;
    auto section =
        compress_frame_chunks(*payload, kChunkPayload, frame_table_cold_offset(*payload), &chunks);
    if (!section) return fail(in, section.error().message);

    struct stat st {};
    auto bytes = read_whole_file(in, &st);
    if (!bytes) return std::move(bytes).error();
    auto rewritten = rewrite_elf(*bytes, in, {*section, options.strip_stackmaps});
    if (!rewritten) return std::move(rewritten).error();

    TempFile tmp;
    if (auto s = tmp.create(out); !s) return Error{s.message()};
    if (auto s = tmp.write(*rewritten, st.st_mode & 07777); !s) return Error{s.message()};
    if (auto s = check_written(tmp.path(), out, *file, *section, *payload, *table,
                               options.strip_stackmaps);
        !s)
        return Error{s.message()};
    if (auto s = tmp.commit(out); !s) return Error{s.message()};

    PackSummary summary;
    summary.output = out;
    summary.call_sites = table->sites.size();
    summary.functions = table->functions.size();
    summary.stackmap_bytes = file->bytes.size();
    summary.payload_bytes = payload->size();
    summary.compressed_bytes = section->size();
    summary.chunks = chunks;
    summary.stripped = options.strip_stackmaps;
    return summary;
}

} // namespace gcwalk::pack
