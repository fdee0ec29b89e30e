// Every stack map in the process: loaded images (found with dl_iterate_phdr, the section located
// through the image file's section headers and read from memory, where the dynamic loader applied
// the relocations, or from the file when it is not allocated: then the linker resolved its
// addresses and the load bias is added) and blobs handed over by a JIT. Changes publish a new
// immutable FrameIndex; readers take the current one without a lock.
//
//   gcwalk::ImageRegistry registry;
//   if (auto st = registry.rescan(); !st) log(st.message());   // at start, and after
//   dlopen/dlclose const gcwalk::FrameIndex& index = registry.index();        // any thread, no
//   lock
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_index.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace gcwalk {

// Reads the `.llvm_stackmaps` section of the image loaded at `load_bias` from file `path`: the
// section headers come from the file, the bytes from memory. Returns an empty span when the image
// has no such section. `functions` receives the ranges of the image's function symbols (absolute).
// `section_found` (may be null) is set when the file has a non-empty section, also when the
// result is an error because it cannot be used (not allocated, compressed): stack maps exist.
// A section that is not allocated is not in memory: with `file_bytes` (may be null: then it is an
// error), its bytes are read from the file into `*file_bytes` and the span points there; its
// function addresses are then link-time values, to which `load_bias` must be added. Otherwise
// `*file_bytes` is left empty.
Expected<std::span<const uint8_t>>
find_loaded_stackmaps(const std::string& path, uint64_t load_bias,
                      std::vector<FunctionRange>* functions, bool* section_found = nullptr,
                      std::vector<uint8_t>* file_bytes = nullptr);

class ImageRegistry {
  public:
    ImageRegistry();
    ~ImageRegistry();
    ImageRegistry(const ImageRegistry&) = delete;
    ImageRegistry& operator=(const ImageRegistry&) = delete;

    // Adds the images loaded since the last scan (the first scan: all of them) and drops those
    // unloaded since; publishes a new index when anything changed. An image that cannot be used
    // (a malformed section, unrelocated addresses as lld leaves them) is skipped and named in
    // diagnostics(); the returned Status is an error only when the scan itself failed.
    Status rescan();

    // Stack maps of JIT-emitted code at final addresses. `bytes` is copied. `functions` gives the
    // functions' sizes (may be empty: then each range ends at its last call site). `rules` gives
    // the exact frame rule per absolute return address (what the code's CFI says at that call);
    // the fast walker steps those frames with them, and hands call sites without one to libunwind
    // (which needs the JIT's CFI registered: gcwalk::JitUnwindRegistration). add_jit_object
    // below computes all of it from the object's .eh_frame instead.
    using JitHandle = uint64_t;
    Expected<JitHandle> add_jit(std::string name, std::span<const uint8_t> bytes,
                                std::vector<FunctionRange> functions = {},
                                std::vector<std::pair<uint64_t, FrameRule>> rules = {});
    Status remove_jit(JitHandle handle);

    // A JIT-compiled object at its final addresses (after the JIT's fixups), as a JIT linker or
    // a C caller hands it over: the registry computes what add_jit is given.
    struct JitObject {
        std::span<const uint8_t> stackmaps; // its .llvm_stackmaps bytes (empty: no managed code)
        std::span<const uint8_t> eh_frame;  // its .eh_frame bytes, as in memory at eh_frame_address
        uint64_t eh_frame_address = 0;
        std::vector<FunctionRange> functions; // symbol sizes, optional (FDEs give the rest)
    };
    // Adds a JIT object: function ranges from `functions` and its FDEs, the exact frame rule of
    // every call site from its .eh_frame (the evaluator and the code the loaded images use), and
    // its FDEs as native frames, so that the fast walker also steps its functions that have no
    // stack maps. Both byte ranges are copied. Bad bytes give an error naming the object and the
    // offset, and publish nothing. Removed with remove_jit.
    Expected<JitHandle> add_jit_object(std::string name, const JitObject& object);

    // The current index. Lock-free; the reference stays valid until reclaim() runs after a
    // later change replaced it. The rule for JITs that add and remove objects while other
    // threads walk: a walk reads index() once and uses only that index; add_jit*, remove_jit
    // and rescan only publish (the replaced index and a removed object's bytes are retired, not
    // freed), so a walk never sees a half-registered object; reclaim() frees what was retired
    // and must run only when no walk that started before the last change can still be running
    // (for a collector: while the world is stopped, before its walks begin).
    const FrameIndex& index() const noexcept { return *current_.load(std::memory_order_acquire); }

    // Frees indexes replaced by later changes. Call only when no thread is still using a reference
    // obtained before the last change (for a collector: while the world is stopped).
    void reclaim();

    // One line per image that was skipped, and why (file, offset, reason), and notes (call sites
    // whose CFI the fast walker cannot use).
    std::vector<std::string> diagnostics() const;

    // The loaded images that have stack maps which could not be indexed (a malformed section,
    // unrelocated addresses, a non-allocated section whose file cannot be read or does not match
    // the loaded code): a precise collector cannot find their roots, and should refuse to run.
    struct SkippedImage {
        std::string path;
        std::string reason;
    };
    std::vector<SkippedImage> skipped() const;

    struct Image;

  private:
    Status publish_locked();
    Expected<JitHandle> add_jit_locked(std::unique_ptr<Image> img);
    mutable std::mutex mutex_; // serialises writers only; readers never take it
    std::vector<std::unique_ptr<Image>> images_;
    std::vector<std::unique_ptr<FrameIndex>> retired_;
    std::vector<std::unique_ptr<Image>>
        retired_images_; // JIT bytes that retired indexes point into
    std::unique_ptr<FrameIndex> owned_current_;
    std::atomic<const FrameIndex*> current_;
    std::vector<std::string> diagnostics_;
    JitHandle next_jit_ = 1;
};

} // namespace gcwalk
