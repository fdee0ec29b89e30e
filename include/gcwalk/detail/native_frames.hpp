// Internal to gcwalk (the index layer; include/gcwalk/detail/ is not API and may change):
// Frame rules for native code (C/C++ host code, libc): the fast walker steps a native frame with
// the rule its image's .eh_frame gives at the return address, found during the walk through the
// image's .eh_frame_hdr and kept in a fixed-size table that walking threads fill with atomic CAS
// (no libunwind, no syscall, no lock, no allocation).
//
//   auto native = gcwalk::NativeFrames::build(images);   // with each published FrameIndex
//   gcwalk::FrameRule rule;
//   switch (native->lookup(ra, index, &rule)) { ... }     // any thread, during a walk
#pragma once

#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/frame_index.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace gcwalk {

class NativeFrames {
  public:
    struct Image {
        EhFrameTable table;                              // its .eh_frame_hdr, opened
        std::vector<std::pair<uint64_t, uint64_t>> text; // its executable segments [lo, hi)
    };
    // Allocates the rule table here (zeroed and touched, so that no walk pays its page faults).
    explicit NativeFrames(std::vector<Image> images);
    NativeFrames(const NativeFrames&) = delete;
    NativeFrames& operator=(const NativeFrames&) = delete;

    enum class Kind : uint8_t {
        Rule,      // step with *rule (CFA = reg + offset, RA at CFA - 8, saves at CFA + saved[i])
        Outermost, // the frame's return address is undefined in its CFI: the end of the stack
        Libunwind, // no exact rule (no image or FDE, an expression, a signal frame, ...), or ra is
                   // inside a managed function of `index`: the frame is libunwind's
    };
    // The rule of the native frame whose return address is `ra`. `index` is the FrameIndex this
    // table was built with (a managed function's return address is never native). The first
    // lookup of an address evaluates its CFI (a binary search and a CFA program run) and keeps the
    // answer; later ones cost a hash probe. Lock-free, noexcept, no allocation.
    Kind lookup(uint64_t ra, const FrameIndex& index, FrameRule* rule) const noexcept;

    // Return addresses kept so far (a full table still answers, by evaluating each time).
    uint64_t cached() const noexcept;
    static constexpr uint32_t kSlots = 4096; // 32 bytes each: 128 KiB per published index
    static constexpr uint32_t kProbes = 8;   // slots tried per address before evaluating uncached

  private:
    Kind evaluate(uint64_t ra, const FrameIndex& index, FrameRule* rule) const noexcept;

    // key: 0 empty, ra | kFilling while its first finder writes rule and kind, then ra (release:
    // rule and kind are complete for whoever reads ra with acquire). Slots are never reused.
    struct alignas(32) Slot {
        std::atomic<uint64_t> key;
        FrameRule rule;
        Kind kind;
    };
    static constexpr uint64_t kFilling = uint64_t{1} << 63;
    struct Range {
        uint64_t lo, hi;
        uint32_t image;
    };
    std::vector<Image> images_;
    std::vector<Range> ranges_; // every image's text, sorted by lo
    std::unique_ptr<Slot[]> slots_;
};

} // namespace gcwalk
