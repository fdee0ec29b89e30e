// The FrameRecord index: every function with stack map records, and a table from absolute return
// address to call site, built once from parsed blobs and then read-only (any number of threads
// may look up at once without locks).
//
//   const gcwalk::CallSite* cs = index.find(return_address);      // expected O(1), noexcept
//   if (cs) for (RootPair p : index.roots(*cs)) ...                 // compact slots to resolve
//   else if (const FrameRecord* f = index.function_containing(ra))  // managed, but no record: a
//   bug
//
// A record is a statepoint when it decodes as one (decode_statepoint); its roots are the
// (base, derived) pairs and gc allocas. Other records (stackmap, patchpoint) have no roots here
// and stay available whole through record().
#pragma once

#include <gcwalk/expected.hpp>
#include <gcwalk/frame_rule.hpp>
#include <gcwalk/stackmap.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gcwalk {

class NativeFrames; // <gcwalk/detail/native_frames.hpp>: native frames' CFI rules (internal)
struct FrameTable;  // <gcwalk/frame_table.hpp>: a packed frame table (gcwalk-pack)

// A function's address range, from an ELF symbol, an FDE, or a JIT.
struct FunctionRange {
    uint64_t address; // absolute (load bias applied)
    uint64_t size;    // bytes
};

// Frame flags (FrameRecord::flags).
enum FrameFlags : uint32_t {
    kFrameDynamic = 1u << 0, // stack size is UINT64_MAX (dynamic alloca or realignment)
    kFrameSizeUnknown =
        1u << 1,             // no symbol or FDE gave the size; the range ends at the last call site
    kFrameHasRule = 1u << 2, // the call sites carry exact CFI-derived frame rules
};

// One managed function (the v2 proposal's FrameRecord, absolute addresses).
struct FrameRecord {
    uint64_t function_address; // absolute
    uint64_t function_size;    // bytes
    uint64_t stack_size;       // bytes, as in the stack map (kDynamicStackSize for dynamic frames)
    uint32_t flags;            // FrameFlags
    uint32_t image;            // index into FrameIndex::images()
    uint32_t blob;             // index of the blob within the image's section
    uint32_t function;         // index of the function entry within the blob
    uint32_t first_record;     // index of its first record within the blob
    uint32_t num_records;
};

// Where a GC root lives, relative to the frame, in 4 bytes (the hot-path encoding):
//   bits 0-1  kind: 0 = no slot (a constant: null or a non-pointer), 1 = register save slot,
//             2 = memory slot at reg + offset (Indirect, or a gc alloca's Direct)
//   bits 2-6  DWARF register number
//   bits 7-31 signed byte offset
// Locations of N x 8 bytes are expanded into N slots at build time.
struct RootLoc {
    uint32_t bits;
    enum Kind : uint32_t { kNone = 0, kRegister = 1, kMemory = 2 };
    uint32_t kind() const noexcept { return bits & 3u; }
    uint32_t dwarf_reg() const noexcept { return (bits >> 2) & 31u; }
    int32_t offset() const noexcept { return static_cast<int32_t>(bits) >> 7; }
    // A memory slot at [RSP + offset]: every GC location LLVM 14 emits by default (the hot case).
    bool is_sp_slot() const noexcept { return (bits & 0x7fu) == (kMemory | (7u << 2)); }
    static constexpr int32_t kMinOffset = -(1 << 24), kMaxOffset = (1 << 24) - 1;
    static constexpr RootLoc make(Kind k, uint32_t reg, int32_t off) noexcept {
        return RootLoc{static_cast<uint32_t>(k) | (reg << 2) | (static_cast<uint32_t>(off) << 7)};
    }
};

// A derived slot and the slot of its base. A plain base root has base == derived.
// gc allocas are base roots too.
struct RootPair {
    RootLoc base;
    RootLoc derived;
};

// The most (base, derived) pairs a frame's roots may have for relocation and visiting (they are
// resolved into fixed-size arrays): more is an error at walk time (gcwalk/roots.hpp).
inline constexpr uint32_t kMaxRootPairsPerFrame = 512;

// One safepoint, as stored inline in the return-address hash table: 16 bytes.
// x86-64 user-space addresses fit in 48 bits; the index refuses any that do not.
struct CallSite {
    uint64_t key; // bits 0-47: return address (absolute); bits 48-63: number of RootPairs
    // bits 0-30: index of the first RootPair in the pool; bit 31: kPlainRoots
    uint32_t first_root;
    uint16_t rule; // index into the FrameRule table
    // The rule's step to the caller in 16 bits, read by the walk's inline step without loading
    // the rule (kStep* below; decided at index build time from the rule).
    uint16_t step;
    // Every pair is a plain root (base == derived) in an [RSP + offset] slot with an offset of 16
    // bits, no two share a slot, and there are at most kMaxRootPairsPerFrame: relocating the frame
    // is moving each slot's object in place, in any order (decided at index build time, where the
    // roots are sorted and duplicates removed).
    static constexpr uint32_t kPlainRoots = 1u << 31;
    // step, bits 0-1: kStepSlow (anything else: the rule is not from CFI, or does not fit below),
    // kStepRsp (CFA = RSP + 8 * bits 2-15; RBP not saved), kStepFp (the frame-pointer frame:
    // CFA = RBP + 16, the caller's RBP saved at CFA - 16; bits 2-6 hold 2) or kStepRspRbp
    // (CFA = RSP + 8 * bits 7-15; RBP saved at CFA - 8 * bits 2-6). The other callee-saved
    // registers' saves are in the rule. A table holds at most 65536 distinct rules: a call site
    // whose rule would be past that gets the last entry, which has no exact rule (the fast walker
    // hands it to libunwind).
    static constexpr uint16_t kStepSlow = 0, kStepRsp = 1, kStepFp = 2, kStepRspRbp = 3;
    static constexpr uint32_t kMaxRules = 1u << 16;
    // The step of `rule` (what the index builder stores).
    static constexpr uint16_t step_of(const FrameRule& rule) noexcept {
        if (!(rule.flags & kRuleFromCfi)) return kStepSlow;
        const int16_t rbp = rule.saved[kSavedRbp];
        if (rule.cfa_reg == kDwarfRbp)
            return rule.cfa_offset == 16 && rbp == -16 ? kStepFp | 2u << 2 : kStepSlow;
        if (rule.cfa_reg != kDwarfRsp || rule.cfa_offset <= 0 || rule.cfa_offset % 8 != 0)
            return kStepSlow;
        const uint32_t n = static_cast<uint32_t>(rule.cfa_offset) / 8;
        if (rbp == 0) return n < (1u << 14) ? static_cast<uint16_t>(kStepRsp | n << 2) : kStepSlow;
        if (rbp > -16 || rbp % 8 != 0 || rbp < -8 * 31 || n >= (1u << 9)) return kStepSlow;
        return static_cast<uint16_t>(kStepRspRbp | static_cast<uint32_t>(-rbp / 8) << 2 | n << 7);
    }
    uint64_t return_address() const noexcept { return key & ((uint64_t{1} << 48) - 1); }
    uint32_t num_roots() const noexcept { return static_cast<uint32_t>(key >> 48); }
    uint32_t root_index() const noexcept { return first_root & ~kPlainRoots; }
    bool plain_roots() const noexcept { return (first_root & kPlainRoots) != 0; }
};

// Where a call site's full stack map record lives (cold: found by search, not stored per site).
struct RecordRef {
    uint32_t image = 0;
    uint32_t blob = 0;
    uint32_t record = 0;   // index of the record within its blob
    uint32_t function = 0; // index of the function entry within its blob
    RecordView view;
    bool is_statepoint = false;
};

// One image's stack maps, as handed to the index builder.
struct ImageStackMaps {
    std::string name;                  // path, soname or JIT name (used in messages)
    int64_t load_bias = 0;             // added to every stored function address
    std::span<const uint8_t> section;  // the whole .llvm_stackmaps contents
    std::shared_ptr<const void> owner; // keeps `section` alive (null when the image owns it)
    // The blobs of `section`, already parsed (parse_stackmap_section(section, name)), or null.
    // When set, build() indexes them as they are instead of parsing the section again, and the
    // index shares them: a caller that indexes the same section more than once (the registry, at
    // every change) parses it once. They must be the parse of this `section`.
    std::shared_ptr<const std::vector<StackMapBlob>> blobs;
    std::vector<FunctionRange> functions;              // known ranges (absolute); may be empty
    std::vector<std::pair<uint64_t, FrameRule>> rules; // per absolute return address, optional
    // A packed frame table (gcwalk-pack's .gcwalk_frames) instead of a section: when set,
    // `section` and `blobs` are empty and `functions` and `rules` are ignored; build() takes the
    // functions, call sites, rules and roots from it as they are (addresses + load_bias), without
    // parsing v3 or evaluating CFI. record() and blob() answer for its call sites too (their v3
    // view is made from the table's records on first use).
    std::shared_ptr<const FrameTable> table;
};

enum class Lookup : uint8_t {
    Safepoint,       // a record exists for this return address
    ManagedNoRecord, // inside a managed function, but no record: a caller bug in precise mode
    NotManaged,      // outside every managed function
};

class FrameIndex {
  public:
    // Parses and validates every image's section, then indexes it; a packed image's table is
    // indexed as it is (no parse, no per-record work beyond its load bias and the hash insert).
    // An error names the image, the blob and the offset. Images whose section is empty (and
    // that have no table) contribute nothing.
    static Expected<FrameIndex> build(std::vector<ImageStackMaps> images);

    FrameIndex(FrameIndex&&) noexcept;
    FrameIndex& operator=(FrameIndex&&) noexcept;
    ~FrameIndex();

    // The call site whose return address is `ra`, or nullptr. Expected O(1), no allocation.
    // Inline: it is the walk's per-frame lookup.
    const CallSite* find(uint64_t ra) const noexcept { return hot().find(ra); }
    // The table's slot for `ra` (multiply-shift hashing onto any table size).
    static uint64_t slot_of(uint64_t ra, uint64_t nslots) noexcept {
        uint64_t h = ra * 0x9E3779B97F4A7C15ull; // every bit of ra reaches the high bits used
        __extension__ using u128 = unsigned __int128;
        return static_cast<uint64_t>((static_cast<u128>(h) * nslots) >> 64);
    }
    // The hot tables by value, for a walk loop to keep in registers (find, roots and rule as below;
    // valid while the index lives and is not moved from).
    struct Hot {
        const CallSite* table;
        uint64_t nslots; // home slots (the table runs on past them; its last slot is empty)
        const RootPair* root_pool;
        // root_offsets[i] = root_pool[i].base.offset(): a CallSite::kPlainRoots frame's slots
        // are at SP + root_offsets[root_index() + k], k < num_roots() (a plain root's offset
        // fits 16 bits).
        const int16_t* root_offsets;
        const FrameRule* rules;
        bool register_roots; // FrameIndex::register_roots()
        const CallSite* find(uint64_t ra) const noexcept {
            constexpr uint64_t mask = (uint64_t{1} << 48) - 1;
            if (ra - 1 >= mask) return nullptr; // 0, or not a user-space address
            return find_any(ra);
        }
        // find() for the walk's step: an address past 48 bits finds nothing, but 0 may find an
        // empty slot (a CallSite of zeros: no roots, kStepSlow), which the step refuses.
        const CallSite* find_any(uint64_t ra) const noexcept {
            constexpr uint64_t mask = (uint64_t{1} << 48) - 1;
            // From the home slot on, never wrapping: the table's last slot is empty.
            for (const CallSite* cs = table + slot_of(ra, nslots);; ++cs) {
                if ((cs->key & mask) == ra) [[likely]]
                    return cs;
                if (cs->key == 0) return nullptr;
            }
        }
        std::span<const RootPair> roots(const CallSite& cs) const noexcept {
            return {root_pool + cs.root_index(), cs.num_roots()};
        }
        const FrameRule& rule(const CallSite& cs) const noexcept { return rules[cs.rule]; }
    };
    Hot hot() const noexcept {
        return {table_, nslots_, roots_, root_offsets_, rules_, register_roots_};
    }
    // Some root is in a register (a Register location: LLVM emits them only when told to keep GC
    // pointers in callee-saved registers) or in memory at a register other than RSP and RBP plus
    // an offset. Without them, the root walks of gcwalk/roots.hpp track where RBP is saved but
    // not the other registers.
    bool register_roots() const noexcept { return register_roots_; }
    // Classifies `ra`; `out` receives the call site for Safepoint, the function for
    // ManagedNoRecord.
    Lookup classify(uint64_t ra, const CallSite** site,
                    const FrameRecord** function) const noexcept;
    // The managed function whose range holds `address`, or nullptr (binary search).
    const FrameRecord* function_containing(uint64_t address) const noexcept;

    // Hot: the call site's roots (duplicates removed, constants dropped) and its frame rule.
    std::span<const RootPair> roots(const CallSite& cs) const noexcept { return hot().roots(cs); }
    const FrameRule& rule(const CallSite& cs) const noexcept { return hot().rule(cs); }

    // Cold (a binary search each): the function and the full record of a call site.
    // A packed image (ImageStackMaps::table) has no version 3 bytes: the first record() or blob()
    // that needs them makes one blob of the table (v3_from_frame_table: the table's functions and
    // records in table order, link-time addresses), once per image and thread-safe (any number
    // of threads may ask at once); FrameRecord::blob is then 0 and function / first_record index
    // that blob, inflating and checking the table's cold tables first when the registry left
    // them compressed (FrameTable::deferred). It allocates: record() answers false when it cannot
    // be made (out of memory, or cold tables that do not inflate or check), and blob() then gives
    // an empty blob; record_error(image) says why (it makes them if not yet made: empty when
    // they can be).
    const FrameRecord* frame(const CallSite& cs) const noexcept;
    bool record(const CallSite& cs, RecordRef* out) const noexcept;
    const StackMapBlob& blob(const RecordRef& ref) const noexcept;
    std::string record_error(uint32_t image) const;

    std::span<const FrameRecord> frames() const noexcept; // sorted by function address
    size_t num_call_sites() const noexcept;
    std::vector<CallSite> call_sites() const; // sorted by return address (a copy)
    std::span<const ImageStackMaps> images() const noexcept;

    // Bytes the index itself holds (tables and pools; not the sections it points into).
    size_t resident_bytes() const noexcept;

    // A number no other index built in this process has (a moved-to index keeps its source's):
    // what a WalkCache checks to know that the stack maps it was recorded against still hold.
    uint64_t serial() const noexcept { return serial_; }

    // The CFI rules of native frames (every image's .eh_frame) that the fast walker steps native
    // frames with: set on the indexes an ImageRegistry publishes; nullptr on an index built by
    // hand (the fast walker then hands native frames to libunwind).
    const NativeFrames* native_frames() const noexcept;
    // Attaches the native-frame rules (what ImageRegistry does before it publishes an index).
    // Call before the index is shared with walking threads.
    void set_native_frames(std::shared_ptr<const NativeFrames> native) noexcept;

    struct Impl;

  private:
    explicit FrameIndex(std::unique_ptr<Impl> impl);
    void cache_pointers() noexcept;
    std::unique_ptr<Impl> impl_;
    // Copies of the hot tables' addresses, so that the lookups above inline.
    const CallSite* table_ = nullptr;
    uint64_t nslots_ = 1;
    const RootPair* roots_ = nullptr;
    const int16_t* root_offsets_ = nullptr;
    const FrameRule* rules_ = nullptr;
    uint64_t serial_ = 0;
    bool register_roots_ = false;
};

} // namespace gcwalk
