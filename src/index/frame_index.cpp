// Builds the FrameRecord index from parsed stack maps and answers return-address lookups.
#include <gcwalk/detail/format.hpp>
#include <gcwalk/detail/prefault.hpp>
#include <gcwalk/frame_index.hpp>
#include <gcwalk/statepoint.hpp>


#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace gcwalk {

namespace {

constexpr uint64_t kAddressMask = (uint64_t{1} << 48) - 1;
constexpr uint8_t kRuleUnknown = 0xff;
constexpr double kMaxLoadFactor = 0.7;

// Slot in the open-addressing table; key 0 marks an empty slot (no return address is 0).
uint64_t mix(uint64_t ra) noexcept { return (ra ^ (ra >> 29)) * 0x9E3779B97F4A7C15ull; }
uint64_t slot_of(uint64_t ra, uint64_t nslots) noexcept { return FrameIndex::slot_of(ra, nslots); }

bool rule_equal(const FrameRule& a, const FrameRule& b) noexcept {
    return a.cfa_offset == b.cfa_offset && a.cfa_reg == b.cfa_reg && a.flags == b.flags &&
           std::memcmp(a.saved, b.saved, sizeof a.saved) == 0;
}

struct RuleHash {
    size_t operator()(const FrameRule& r) const noexcept {
        uint64_t h = static_cast<uint32_t>(r.cfa_offset) | (uint64_t{r.cfa_reg} << 32) | (uint64_t{r.flags} << 40);
        for (int16_t s : r.saved) h = h * 31 + static_cast<uint16_t>(s);
        return mix(h);
    }
};
struct RuleEq {
    bool operator()(const FrameRule& a, const FrameRule& b) const noexcept { return rule_equal(a, b); }
};

// A growable array of trivially copyable elements for the index's large tables, in memory that
// faults in cheaply. The first write to a fresh 4 KiB page costs about 12 us on the KVM guests
// measured here (docs/PERFORMANCE.md), and a 1M-record index spans 11,000 pages. Arrays from
// 4 MiB up get a mapping of their own, 2 MiB aligned and advised MADV_HUGEPAGE (one fault per
// 2 MiB; the tail no huge page covers is prefaulted). Smaller ones come from the heap, which hands
// a rebuild the warm memory of the index before; fresh heap pages are prefaulted too. All hints:
// without them pages fault one by one. LargeArray(n) starts zeroed.
template <class T> class LargeArray {
    static_assert(std::is_trivially_copyable_v<T>);

public:
    LargeArray() = default;
    explicit LargeArray(size_t n) : size_(n) { allocate(n, /*zeroed=*/true); }
    LargeArray(LargeArray&& o) noexcept
        : p_(std::exchange(o.p_, nullptr)), size_(std::exchange(o.size_, 0)), bytes_(std::exchange(o.bytes_, 0)),
          mapped_(o.mapped_) {}
    LargeArray& operator=(LargeArray&& o) noexcept {
        std::swap(p_, o.p_), std::swap(size_, o.size_), std::swap(bytes_, o.bytes_), std::swap(mapped_, o.mapped_);
        return *this;
    }
    ~LargeArray() { release(); }

    T* data() noexcept { return p_; }
    const T* data() const noexcept { return p_; }
    size_t size() const noexcept { return size_; }
    size_t bytes() const noexcept { return bytes_; } // held, including capacity not yet used
    T& operator[](size_t i) noexcept { return p_[i]; }
    const T& operator[](size_t i) const noexcept { return p_[i]; }
    T* begin() noexcept { return p_; }
    T* end() noexcept { return p_ + size_; }
    const T* begin() const noexcept { return p_; }
    const T* end() const noexcept { return p_ + size_; }

    void reserve(size_t n) {
        if (n > bytes_ / sizeof(T)) regrow(n);
    }
    void push_back(const T& v) {
        if (size_ == bytes_ / sizeof(T)) regrow(std::max<size_t>(16, 2 * size_));
        p_[size_++] = v;
    }
    // Gives back the capacity beyond size(): whole pages of a mapping, a smaller heap block.
    void shrink_to_fit() {
        if (mapped_) {
            const size_t keep = std::max(kPage, round_up(size_ * sizeof(T), kPage));
            if (keep < bytes_) munmap(reinterpret_cast<uint8_t*>(p_) + keep, bytes_ - keep);
            bytes_ = std::min(bytes_, keep);
        } else if (size_ * sizeof(T) < bytes_) {
            regrow(size_);
        }
    }

private:
    static constexpr size_t kPage = 4096, kHugePage = size_t{2} << 20, kMapFrom = size_t{4} << 20;
    static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

    // Points p_ at room for n elements (size_ of them copied from the old block, which is freed).
    void regrow(size_t n) {
        T* old = p_;
        const size_t old_bytes = bytes_;
        const bool old_mapped = mapped_;
        p_ = nullptr;
        allocate(n, /*zeroed=*/false);
        if (old) std::memcpy(p_, old, size_ * sizeof(T));
        free_block(old, old_bytes, old_mapped);
    }
    void allocate(size_t n, bool zeroed) {
        const size_t want = std::max<size_t>(n, 1) * sizeof(T);
        mapped_ = want >= kMapFrom;
        if (!mapped_) {
            p_ = static_cast<T*>(std::malloc(want));
            if (!p_) throw std::bad_alloc();
            bytes_ = want;
            prefault(p_, want);
            if (zeroed) std::memset(p_, 0, want);
            return;
        }
        bytes_ = round_up(want, kPage);
        // Over-allocate by a huge page, then trim both ends so the block starts 2 MiB aligned.
        void* raw = mmap(nullptr, bytes_ + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) throw std::bad_alloc();
        auto* base = static_cast<uint8_t*>(raw);
        auto* start = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<uintptr_t>(base), kHugePage));
        if (start > base) munmap(base, static_cast<size_t>(start - base));
        if (uint8_t* end = base + bytes_ + kHugePage; start + bytes_ < end) munmap(start + bytes_, end - (start + bytes_));
        madvise(start, bytes_, MADV_HUGEPAGE);
        const size_t huge = bytes_ / kHugePage * kHugePage;
        prefault(start + huge, bytes_ - huge); // the tail that no huge page covers
        p_ = reinterpret_cast<T*>(start);
    }
    void release() noexcept { free_block(p_, bytes_, mapped_), p_ = nullptr; }
    static void free_block(T* p, size_t bytes, bool mapped) noexcept {
        if (!p) return;
        if (mapped)
            munmap(p, bytes);
        else
            std::free(p);
    }

    T* p_ = nullptr;
    size_t size_ = 0;
    size_t bytes_ = 0;
    bool mapped_ = false;
};

} // namespace

struct FrameIndex::Impl {
    std::vector<ImageStackMaps> images;
    std::vector<std::vector<StackMapBlob>> blobs; // per image
    LargeArray<FrameRecord> frames;               // sorted by function address
    LargeArray<CallSite> table;                   // the hash table (16-byte slots)
    LargeArray<RootPair> roots;
    std::vector<FrameRule> rules;
    size_t num_sites = 0;
    uint64_t serial = 0; // unique per build in this process (FrameIndex::serial)
    std::shared_ptr<const NativeFrames> native; // FrameIndex::native_frames
};

namespace {

// Builds the index in one pass over the records. The happy path allocates nothing per record and
// formats no text: error messages are made only when something is wrong.
struct Builder {
    FrameIndex::Impl& impl;
    std::unordered_map<FrameRule, uint32_t, RuleHash, RuleEq> rule_ids;
    uint32_t last_rule = UINT32_MAX;
    std::vector<RootPair> pairs;          // scratch, reused for every record
    std::vector<bool> site_is_statepoint; // per table slot, for choosing between duplicate records
    uint64_t nslots = 1;
    // Call sites waiting for insertion, in record order (see place_pending).
    struct Pending {
        CallSite site;
        bool statepoint;
    };
    static constexpr size_t kPendingMax = 1024; // 24 KiB: stays in the L1/L2 cache
    std::vector<Pending> pending;

    std::vector<RootLoc> base_slots, derived_slots; // scratch of encode(), reused for every pair

    uint32_t intern_rule(const FrameRule& r) {
        if (last_rule != UINT32_MAX && rule_equal(impl.rules[last_rule], r)) return last_rule;
        auto [it, inserted] = rule_ids.emplace(r, static_cast<uint32_t>(impl.rules.size()));
        if (inserted) impl.rules.push_back(r);
        return last_rule = it->second;
    }

    // Where a record is, for messages.
    struct Where {
        const ImageStackMaps& img;
        uint32_t blob, record;
        uint64_t ra;
        std::string operator()(const std::string& what) const {
            return img.name + ": blob " + std::to_string(blob) + " record " + std::to_string(record) + " at " +
                   hex(ra) + ": " + what;
        }
    };

    // Sets *out to the slots of one location (base or derived side), one per 8 bytes.
    Status encode(const Location& loc, const Where& where, const char* side, uint32_t k,
                  std::vector<RootLoc>* out) {
        auto fail = [&](const std::string& what) {
            return Error{where(std::string(side) + " " + std::to_string(k) + ": " + what)};
        };
        out->clear();
        switch (loc.kind) {
        case LocationKind::Constant:
        case LocationKind::ConstantIndex:
            out->push_back(RootLoc{0});
            return {};
        case LocationKind::Register:
            if (loc.size != 8)
                return fail("register root of " + std::to_string(loc.size) +
                            " bytes (only 8-byte pointers fit a register save slot)");
            // Only a callee-saved register survives the call; anything else is a compiler bug.
            if (std::find(std::begin(kCalleeSaved), std::end(kCalleeSaved), loc.dwarf_reg) == std::end(kCalleeSaved))
                return fail("register root in R#" + std::to_string(loc.dwarf_reg) +
                            ", which is not callee-saved and cannot hold a value across the call");
            out->push_back(RootLoc::make(RootLoc::kRegister, loc.dwarf_reg, 0));
            return {};
        case LocationKind::Indirect:
        case LocationKind::Direct: {
            // Any size the format holds: a vector of N gc pointers spilled whole is N slots.
            if (loc.size == 0 || loc.size % 8 != 0)
                return fail("root location of " + std::to_string(loc.size) +
                            " bytes is not a whole number of pointers");
            for (uint32_t i = 0; i < loc.size / 8u; ++i) {
                int64_t off = int64_t{loc.offset} + 8 * int64_t{i};
                if (off < RootLoc::kMinOffset || off > RootLoc::kMaxOffset)
                    return fail("root offset " + std::to_string(off) + " is outside the encodable range of +-16 MiB");
                out->push_back(RootLoc::make(RootLoc::kMemory, loc.dwarf_reg, static_cast<int32_t>(off)));
            }
            return {};
        }
        }
        return fail("unknown location kind");
    }

    // The common root: location i of `rec` is one 8-byte Indirect slot in encodable range (nearly
    // every gc pointer LLVM emits); then *out is its RootLoc, as encode() would give it.
    // It reads the location's bytes (kind at 0, size at 2, register at 4, offset at 8, as in
    // RecordView::location): GCC builds a Location on the stack and reloads kind and size as one
    // word, a store-forwarding stall that cost 12 ns a record in a 1M-record build.
    static bool stack_slot(const RecordView& rec, uint32_t i, RootLoc* out) noexcept {
        const uint8_t* q = rec.data() + 16 + 12 * i;
        uint16_t size, reg;
        int32_t off;
        std::memcpy(&size, q + 2, 2);
        std::memcpy(&reg, q + 4, 2);
        std::memcpy(&off, q + 8, 4);
        if (q[0] != static_cast<uint8_t>(LocationKind::Indirect) || size != 8 || off < RootLoc::kMinOffset ||
            off > RootLoc::kMaxOffset)
            return false;
        *out = RootLoc::make(RootLoc::kMemory, reg, off);
        return true;
    }

    // A pair is a root only when both sides are slots: a derived value whose base is a constant
    // (null) or a stack address is not a heap pointer, nor is a stack address itself (a Direct
    // location: `gc-live(addrspacecast (alloca ...))`); no collector moves them, so they are left
    // out (docs/FORMATS.md, "What a pair means").
    static bool never_moves(LocationKind kind) noexcept {
        return kind == LocationKind::Direct || kind == LocationKind::Constant || kind == LocationKind::ConstantIndex;
    }

    Status add_roots(const RecordView& rec, const StatepointLayout& sp, const Where& where, uint32_t* first,
                     uint32_t* count) {
        pairs.clear();
        for (uint32_t k = 0; k < sp.num_pairs; ++k) {
            const auto bi = static_cast<uint16_t>(sp.first_pair + 2 * k), di = static_cast<uint16_t>(bi + 1);
            if (RootLoc bs, ds; stack_slot(rec, bi, &bs) && stack_slot(rec, di, &ds)) {
                pairs.push_back({bs, ds});
                continue;
            }
            Location b = rec.location(bi);
            Location d = rec.location(di);
            if (never_moves(b.kind) || never_moves(d.kind)) continue;
            if (auto st = encode(b, where, "pair", k, &base_slots); !st) return st;
            if (auto st = encode(d, where, "pair", k, &derived_slots); !st) return st;
            if (base_slots.size() != derived_slots.size())
                return Error{where("pair " + std::to_string(k) + ": base and derived locations differ in size")};
            for (size_t i = 0; i < base_slots.size(); ++i) pairs.push_back({base_slots[i], derived_slots[i]});
        }
        for (uint32_t k = 0; k < sp.num_gc_allocas; ++k) {
            Location a = rec.location(static_cast<uint16_t>(sp.first_gc_alloca + k));
            if (auto st = encode(a, where, "gc alloca", k, &base_slots); !st) return st;
            for (RootLoc slot : base_slots)
                if (slot.kind() != RootLoc::kNone) pairs.push_back({slot, slot});
        }
        // Each slot once: drop exact duplicate pairs (a base also appears as its own pair). Bases
        // (base == derived) first, so relocation treats them before the derived slots.
        if (pairs.size() > 1) {
            std::sort(pairs.begin(), pairs.end(), [](const RootPair& x, const RootPair& y) {
                bool xb = x.base.bits == x.derived.bits, yb = y.base.bits == y.derived.bits;
                if (xb != yb) return xb;
                return x.base.bits != y.base.bits ? x.base.bits < y.base.bits : x.derived.bits < y.derived.bits;
            });
            pairs.erase(std::unique(pairs.begin(), pairs.end(),
                                    [](const RootPair& x, const RootPair& y) {
                                        return x.base.bits == y.base.bits && x.derived.bits == y.derived.bits;
                                    }),
                        pairs.end());
        }
        if (pairs.size() > 0xffff) return Error{where("more than 65535 root slots")};
        *first = static_cast<uint32_t>(impl.roots.size());
        *count = static_cast<uint32_t>(pairs.size());
        for (const RootPair& p : pairs) impl.roots.push_back(p); // short: cheaper than insert's memmove
        return {};
    }

    // Inserts a call site into the table. A return address with two records keeps the
    // statepoint one, else the first.
    void insert(const CallSite& site, bool statepoint) {
        const uint64_t ra = site.return_address();
        uint64_t s = slot_of(ra, nslots);
        while (impl.table[s].key != 0) {
            if (impl.table[s].return_address() == ra) {
                if (statepoint && !site_is_statepoint[s]) {
                    impl.table[s] = site;
                    site_is_statepoint[s] = true;
                }
                return;
            }
            s = (s + 1 == nslots) ? 0 : s + 1;
        }
        impl.table[s] = site;
        site_is_statepoint[s] = statepoint;
        ++impl.num_sites;
    }

    // Queues a call site; inserts the queue when it is full.
    void add_site(const CallSite& site, bool statepoint) {
        pending.push_back({site, statepoint});
        if (pending.size() == kPendingMax) place_pending();
    }

    // Inserts the queue in record order, so the table is the same as with one insert per record.
    // Past a few MB the table is far larger than the caches and each site's slot is random: an
    // insert waits for memory. Here the slot kAhead sites ahead is requested first, so that many
    // misses are under way at once instead of one.
    void place_pending() {
        constexpr size_t kAhead = 16;
        const size_t n = pending.size();
        for (size_t i = 0; i < n; ++i) {
            if (i + kAhead < n)
                __builtin_prefetch(&impl.table[slot_of(pending[i + kAhead].site.return_address(), nslots)], 1);
            insert(pending[i].site, pending[i].statepoint);
        }
        pending.clear();
    }

    static bool looks_like_statepoint(const RecordView& rec) noexcept {
        if (rec.num_locations() < 3) return false;
        for (uint16_t i = 0; i < 3; ++i)
            if (rec.location(i).kind != LocationKind::Constant) return false;
        return true;
    }

    Status parse_all() {
        uint64_t records = 0, functions = 0;
        for (const ImageStackMaps& img : impl.images) {
            auto parsed = parse_stackmap_section(img.section, img.name);
            if (!parsed) return parsed.error();
            for (const auto& b : *parsed) records += b.num_records(), functions += b.num_functions();
            impl.blobs.push_back(std::move(*parsed));
        }
        nslots = records == 0 ? 1 : static_cast<uint64_t>(static_cast<double>(records) / kMaxLoadFactor) + 1;
        impl.table = LargeArray<CallSite>(nslots); // zeroed: every slot empty
        site_is_statepoint.assign(nslots, false);
        impl.roots.reserve(records * 2);
        impl.frames.reserve(functions);
        pending.reserve(kPendingMax);
        return {};
    }

    Status add_image(uint32_t image_index) {
        ImageStackMaps& img = impl.images[image_index];
        const auto& blobs = impl.blobs[image_index];
        auto by_address = [](const auto& x, uint64_t a) { return x.first < a; };

        std::sort(img.functions.begin(), img.functions.end(),
                  [](const FunctionRange& a, const FunctionRange& b) { return a.address < b.address; });
        std::sort(img.rules.begin(), img.rules.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

        for (uint32_t b = 0; b < blobs.size(); ++b) {
            const StackMapBlob& blob = blobs[b];
            for (uint32_t f = 0; f < blob.num_functions(); ++f) {
                FunctionEntry fe = blob.function(f);
                FrameRecord fr{};
                fr.function_address = fe.address + static_cast<uint64_t>(img.load_bias);
                fr.stack_size = fe.stack_size;
                fr.image = image_index;
                fr.blob = b;
                fr.function = f;
                fr.first_record = static_cast<uint32_t>(blob.first_record_of(f));
                fr.num_records = static_cast<uint32_t>(fe.record_count);
                if (fe.stack_size == kDynamicStackSize) fr.flags |= kFrameDynamic;
                if (fr.function_address == 0 || fr.function_address > kAddressMask)
                    return Error{img.name + ": blob " + std::to_string(b) + " function " + std::to_string(f) +
                                 " at " + hex(fr.function_address) +
                                 ": function address is not a usable absolute address (unrelocated stack maps?)"};

                uint32_t max_offset = 0;
                for (uint32_t r = 0; r < fr.num_records; ++r)
                    max_offset = std::max(max_offset, blob.record(fr.first_record + r).instruction_offset());
                auto fit = std::lower_bound(img.functions.begin(), img.functions.end(), fr.function_address,
                                            [](const FunctionRange& x, uint64_t a) { return x.address < a; });
                if (fit != img.functions.end() && fit->address == fr.function_address && fit->size > 0) {
                    fr.function_size = fit->size;
                } else {
                    fr.function_size = uint64_t{max_offset} + 1;
                    fr.flags |= kFrameSizeUnknown;
                }

                // Without CFI: CFA = RSP + stack size + 8 (unknown for dynamic frames).
                FrameRule fallback{};
                if (fe.stack_size == kDynamicStackSize) {
                    fallback.cfa_reg = kRuleUnknown;
                } else {
                    fallback.cfa_reg = 7;
                    fallback.cfa_offset = static_cast<int32_t>(fe.stack_size + 8);
                }
                // Records usually come in address order: a cursor finds each one's rule.
                auto rit = std::lower_bound(img.rules.begin(), img.rules.end(), fr.function_address, by_address);
                uint32_t fallback_rule = UINT32_MAX; // interned when a record first needs it
                bool all_rules = fr.num_records > 0;
                for (uint32_t r = 0; r < fr.num_records; ++r) {
                    uint32_t rec_index = fr.first_record + r;
                    RecordView rec = blob.record(rec_index);
                    uint64_t ra = fr.function_address + rec.instruction_offset();
                    Where where{img, b, rec_index, ra};
                    if (ra > kAddressMask) return Error{where("return address beyond 48 bits")};

                    if (rit != img.rules.begin() && (rit == img.rules.end() || rit->first > ra) &&
                        std::prev(rit)->first >= ra)
                        rit = std::lower_bound(img.rules.begin(), img.rules.end(), ra, by_address);
                    while (rit != img.rules.end() && rit->first < ra) ++rit;
                    uint32_t rule;
                    if (rit != img.rules.end() && rit->first == ra) {
                        rule = intern_rule(rit->second);
                    } else {
                        all_rules = false;
                        if (fallback_rule == UINT32_MAX) fallback_rule = intern_rule(fallback);
                        rule = fallback_rule;
                    }

                    uint32_t first_root = 0, num_roots = 0;
                    bool statepoint = false;
                    if (looks_like_statepoint(rec)) {
                        if (auto sp = decode_statepoint(blob, rec, img.name)) {
                            statepoint = true;
                            if (auto st = add_roots(rec, *sp, where, &first_root, &num_roots); !st)
                                return Error{st.message()};
                        }
                    }
                    add_site(CallSite{ra | (uint64_t{num_roots} << 48), first_root, rule}, statepoint);
                }
                if (all_rules) fr.flags |= kFrameHasRule;
                impl.frames.push_back(fr);
            }
        }
        return {};
    }

    Status finish() {
        std::sort(impl.frames.begin(), impl.frames.end(), [](const FrameRecord& a, const FrameRecord& b) {
            return a.function_address < b.function_address;
        });
        for (size_t i = 1; i < impl.frames.size(); ++i) {
            const FrameRecord& prev = impl.frames[i - 1];
            if (prev.function_address + prev.function_size > impl.frames[i].function_address) {
                const auto& a = impl.images[prev.image];
                const auto& b = impl.images[impl.frames[i].image];
                return Error{"function at " + hex(prev.function_address) + " (" + a.name + ") overlaps function at " +
                             hex(impl.frames[i].function_address) + " (" + b.name + ")"};
            }
        }
        impl.roots.shrink_to_fit();
        impl.rules.shrink_to_fit();
        return {};
    }
};

} // namespace

Expected<FrameIndex> FrameIndex::build(std::vector<ImageStackMaps> images) {
    auto impl = std::make_unique<Impl>();
    impl->images = std::move(images);
    impl->blobs.reserve(impl->images.size());
    Builder b{*impl};
    if (auto st = b.parse_all(); !st) return Error{st.message()};
    for (uint32_t i = 0; i < impl->images.size(); ++i)
        if (auto st = b.add_image(i); !st) return Error{st.message()};
    b.place_pending();
    if (auto st = b.finish(); !st) return Error{st.message()};
    static std::atomic<uint64_t> next_serial{1};
    impl->serial = next_serial.fetch_add(1, std::memory_order_relaxed);
    return FrameIndex(std::move(impl));
}

FrameIndex::FrameIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { cache_pointers(); }
FrameIndex::FrameIndex(FrameIndex&& o) noexcept : impl_(std::move(o.impl_)) { cache_pointers(); }
FrameIndex& FrameIndex::operator=(FrameIndex&& o) noexcept {
    impl_ = std::move(o.impl_);
    cache_pointers();
    return *this;
}

void FrameIndex::cache_pointers() noexcept {
    if (!impl_) return;
    table_ = impl_->table.data();
    nslots_ = impl_->table.size();
    roots_ = impl_->roots.data();
    rules_ = impl_->rules.data();
    serial_ = impl_->serial;
}
FrameIndex::~FrameIndex() = default;

const NativeFrames* FrameIndex::native_frames() const noexcept { return impl_ ? impl_->native.get() : nullptr; }
void FrameIndex::set_native_frames(std::shared_ptr<const NativeFrames> native) noexcept {
    impl_->native = std::move(native);
}

const FrameRecord* FrameIndex::function_containing(uint64_t address) const noexcept {
    const auto& f = impl_->frames;
    auto it = std::upper_bound(f.begin(), f.end(), address,
                               [](uint64_t a, const FrameRecord& r) { return a < r.function_address; });
    if (it == f.begin()) return nullptr;
    --it;
    return address - it->function_address < it->function_size ? &*it : nullptr;
}

Lookup FrameIndex::classify(uint64_t ra, const CallSite** site, const FrameRecord** function) const noexcept {
    if (const CallSite* cs = find(ra)) {
        if (site) *site = cs;
        return Lookup::Safepoint;
    }
    // A return address can be one past the end of a function that ends in a call (noreturn).
    if (const FrameRecord* f = function_containing(ra - 1)) {
        if (function) *function = f;
        return Lookup::ManagedNoRecord;
    }
    return Lookup::NotManaged;
}

const FrameRecord* FrameIndex::frame(const CallSite& cs) const noexcept {
    return function_containing(cs.return_address() - 1);
}

bool FrameIndex::record(const CallSite& cs, RecordRef* out) const noexcept {
    const FrameRecord* f = frame(cs);
    if (!f) return false;
    const StackMapBlob& blob = impl_->blobs[f->image][f->blob];
    uint64_t offset = cs.return_address() - f->function_address;
    bool found = false;
    for (uint32_t r = 0; r < f->num_records; ++r) {
        RecordView v = blob.record(f->first_record + r);
        if (v.instruction_offset() != offset) continue;
        bool sp = static_cast<bool>(decode_statepoint(blob, v));
        // Same choice as the builder: the statepoint record wins, else the first.
        if (!found || (sp && !out->is_statepoint)) {
            *out = RecordRef{f->image, f->blob, f->first_record + r, f->function, v, sp};
            found = true;
        }
    }
    return found;
}

const StackMapBlob& FrameIndex::blob(const RecordRef& ref) const noexcept {
    return impl_->blobs[ref.image][ref.blob];
}

std::span<const FrameRecord> FrameIndex::frames() const noexcept { return {impl_->frames.data(), impl_->frames.size()}; }
size_t FrameIndex::num_call_sites() const noexcept { return impl_->num_sites; }

std::vector<CallSite> FrameIndex::call_sites() const {
    std::vector<CallSite> out;
    out.reserve(impl_->num_sites);
    for (const CallSite& cs : impl_->table)
        if (cs.key != 0) out.push_back(cs);
    std::sort(out.begin(), out.end(),
              [](const CallSite& a, const CallSite& b) { return a.return_address() < b.return_address(); });
    return out;
}

std::span<const ImageStackMaps> FrameIndex::images() const noexcept { return impl_->images; }

size_t FrameIndex::resident_bytes() const noexcept {
    size_t n = sizeof(Impl) + impl_->table.bytes() + impl_->roots.bytes() +
               impl_->rules.capacity() * sizeof(FrameRule) + impl_->frames.bytes();
    for (const auto& bl : impl_->blobs) {
        n += bl.capacity() * sizeof(StackMapBlob);
        for (const auto& b : bl) n += b.num_records() * 4 + b.num_functions() * 8; // offset tables
    }
    return n;
}

} // namespace gcwalk
