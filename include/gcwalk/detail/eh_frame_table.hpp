// Internal to gcwalk (the formats layer; include/gcwalk/detail/ is not API and may change):
// Exact frame rules from an image's .eh_frame, found through its .eh_frame_hdr search table: for
// a return address, how to reach the caller's SP and where each callee-saved register was saved
// (managed call sites at load time; native frames during a walk, through native_rule).
//
//   auto table = gcwalk::EhFrameTable::open(name, hdr_addr, hdr_size, seg_lo, seg_hi);
//   if (table) if (auto rule = table->rule_at(return_address)) use(*rule);
//
// This is gcwalk's only CFI-to-rule translation. The runtime opens it on a loaded image (the bytes
// are read in place: no file, no copy); gcwalk_object, and so gcwalk-dump, opens it with
// open_copy on a linked file's segment read from disk. Both therefore accept and refuse exactly
// the same rows. Our own evaluator, not LLVM's DWARFDebugFrame: the core links no LLVM, and only
// the CFA and six registers matter.
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_rule.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gcwalk {

class EhFrameTable {
  public:
    // `hdr_address`/`hdr_size`: the PT_GNU_EH_FRAME segment in memory. Every read, of the header,
    // its table, CIEs and FDEs, stays inside [readable_lo, readable_hi) (the PT_LOAD segment that
    // holds them), so corrupt CFI cannot make the evaluator read outside the image.
    static Expected<EhFrameTable> open(std::string name, uint64_t hdr_address, uint64_t hdr_size,
                                       uint64_t readable_lo, uint64_t readable_hi);

    // The same table over bytes that are not at their addresses: `segment` holds what would be in
    // memory at [segment_address, segment_address + segment->size()) (a linked file's PT_LOAD
    // segment read from disk, at link-time addresses, zero-filled past its file size as the loader
    // does). Addresses passed in and returned are those addresses; the table keeps `segment`
    // alive. The readable range is the whole segment, as for open on the loaded image.
    static Expected<EhFrameTable> open_copy(std::string name,
                                            std::shared_ptr<const std::vector<uint8_t>> segment,
                                            uint64_t segment_address, uint64_t hdr_address,
                                            uint64_t hdr_size);

    // The same table over a JIT-compiled object's `.eh_frame`, which has no `.eh_frame_hdr`:
    // `eh_frame` holds the section's bytes as they are in memory at `eh_frame_address` (after the
    // JIT's fixups). The bytes are copied (the table does not read the JIT's memory again) and a
    // search table is built over its FDEs, so rule_at and native_rule behave exactly as for a
    // loaded image. A zero length ends the section early. An error names the entry's offset.
    static Expected<EhFrameTable> open_eh_frame(std::string name, std::span<const uint8_t> eh_frame,
                                                uint64_t eh_frame_address);

    // The frame of a function stopped at a call whose return address is `ra`: the CFI row in force
    // at ra - 1 (the call instruction). The rule has kRuleFromCfi set. An error names the image,
    // the FDE offset and the reason (no FDE, a DWARF expression, an unsupported CFA register, ...).
    Expected<FrameRule> rule_at(uint64_t ra) const;

    // The same evaluation for the walker's native frames: noexcept, allocation-free, no message.
    // Outermost: the row is exact but the return address is undefined (the end of the stack);
    // Refused: anything rule_at would refuse (no FDE, an expression, a signal frame, ...).
    enum class Result : uint8_t { Rule, Outermost, Refused };
    Result native_rule(uint64_t ra, FrameRule* rule) const noexcept;

    // The address range [start, end) of the FDE covering `pc`; false when none does.
    bool fde_range(uint64_t pc, uint64_t* start, uint64_t* end) const noexcept;
    // The range of the i-th FDE of the search table (i < num_fdes(), in address order) and, when
    // `fde_address` is not null, the FDE's own address; false when that FDE cannot be read.
    bool fde_at(uint64_t i, uint64_t* start, uint64_t* end,
                uint64_t* fde_address = nullptr) const noexcept;

    const std::string& name() const noexcept { return name_; }
    uint64_t num_fdes() const noexcept { return count_; }

  private:
    static Expected<EhFrameTable> open_at(std::string name, uint64_t hdr_address, uint64_t hdr_size,
                                          uint64_t readable_lo, uint64_t readable_hi,
                                          uint64_t delta);
    // The FDE for `pc` (binary search over the sorted table), or 0.
    uint64_t find_fde(uint64_t pc) const noexcept;
    // The FDE address of table entry i (i < count_).
    uint64_t table_fde(uint64_t i) const noexcept;
    bool range_of(uint64_t fde, uint64_t* start, uint64_t* end) const noexcept;
    // rule_at and native_rule: the reason goes to `why` when it is not null.
    Result evaluate(uint64_t ra, FrameRule* rule, std::string* why) const;

    std::string name_;
    uint64_t hdr_ = 0;
    uint64_t lo_ = 0, hi_ = 0;
    uint64_t table_ = 0; // first (initial location, FDE address) pair: two sdata4, hdr-relative
    uint64_t count_ = 0;
    // Where the bytes of address a are: a + delta_ (mod 2^64). 0 for a loaded image; for a copy,
    // the copy's memory address minus segment_address.
    uint64_t delta_ = 0;
    std::shared_ptr<const std::vector<uint8_t>> copy_; // open_copy's segment (null for open)
};

} // namespace gcwalk
