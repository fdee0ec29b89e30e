// Builds the FrameRecord index from parsed stack maps and answers return-address lookups.
#include <gcwalk/frame_index.hpp>
#include <gcwalk/statepoint.hpp>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <unordered_map>

namespace gcwalk {

namespace {

constexpr uint64_t kAddressMask = (uint64_t{1} << 48) - 1;
constexpr uint8_t kRuleUnknown = 0xff;
constexpr double kMaxLoadFactor = 0.7;

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

// Slot in the open-addressing table; key 0 marks an empty slot (no return address is 0).
uint64_t mix(uint64_t ra) noexcept { return (ra ^ (ra >> 29)) * 0x9E3779B97F4A7C15ull; }
uint64_t slot_of(uint64_t ra, uint64_t nslots) noexcept { return FrameIndex::slot_of(ra, nslots); }

bool rule_equal(const FrameRule& a, const FrameRule& b) noexcept {
    return a.cfa_offset == b.cfa_offset && a.cfa_reg == b.cfa_reg && a.flags == b.flags &&
           std::equal(std::begin(a.saved), std::end(a.saved), std::begin(b.saved));
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

} // namespace

struct FrameIndex::Impl {
    std::vector<ImageStackMaps> images;
    std::vector<std::vector<StackMapBlob>> blobs; // per image
    std::vector<FrameRecord> frames;              // sorted by function address
    std::vector<CallSite> table;                  // the hash table (16-byte slots)
    std::vector<RootPair> roots;
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

    static constexpr uint32_t kMaxSlotsPerLocation = 128; // a 1 KiB location (the parser's limit)

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

    // Writes the slots of one location (base or derived side) to out[0..*n).
    Status encode(const Location& loc, const Where& where, const char* side, uint32_t k, RootLoc* out,
                  uint32_t* n) {
        auto fail = [&](const std::string& what) {
            return Error{where(std::string(side) + " " + std::to_string(k) + ": " + what)};
        };
        *n = 0;
        switch (loc.kind) {
        case LocationKind::Constant:
        case LocationKind::ConstantIndex:
            out[(*n)++] = RootLoc{0};
            return {};
        case LocationKind::Register:
            if (loc.size != 8)
                return fail("register root of " + std::to_string(loc.size) +
                            " bytes (only 8-byte pointers fit a register save slot)");
            // Only a callee-saved register survives the call; anything else is a compiler bug.
            if (std::find(std::begin(kCalleeSaved), std::end(kCalleeSaved), loc.dwarf_reg) == std::end(kCalleeSaved))
                return fail("register root in R#" + std::to_string(loc.dwarf_reg) +
                            ", which is not callee-saved and cannot hold a value across the call");
            out[(*n)++] = RootLoc::make(RootLoc::kRegister, loc.dwarf_reg, 0);
            return {};
        case LocationKind::Indirect:
        case LocationKind::Direct: {
            if (loc.size == 0 || loc.size % 8 != 0 || loc.size > 8 * kMaxSlotsPerLocation)
                return fail("root location of " + std::to_string(loc.size) +
                            " bytes is not a whole number of pointers");
            for (uint32_t i = 0; i < loc.size / 8u; ++i) {
                int64_t off = int64_t{loc.offset} + 8 * int64_t{i};
                if (off < RootLoc::kMinOffset || off > RootLoc::kMaxOffset)
                    return fail("root offset " + std::to_string(off) + " is outside the encodable range of +-16 MiB");
                out[(*n)++] = RootLoc::make(RootLoc::kMemory, loc.dwarf_reg, static_cast<int32_t>(off));
            }
            return {};
        }
        }
        return fail("unknown location kind");
    }

    Status add_roots(const RecordView& rec, const StatepointLayout& sp, const Where& where, uint32_t* first,
                     uint32_t* count) {
        pairs.clear();
        RootLoc base[kMaxSlotsPerLocation], derived[kMaxSlotsPerLocation];
        uint32_t nb = 0, nd = 0;
        for (uint32_t k = 0; k < sp.num_pairs; ++k) {
            Location b = rec.location(static_cast<uint16_t>(sp.first_pair + 2 * k));
            Location d = rec.location(static_cast<uint16_t>(sp.first_pair + 2 * k + 1));
            if (b.kind == LocationKind::Direct || d.kind == LocationKind::Direct)
                return Error{where("pair " + std::to_string(k) + ": a Direct location cannot hold a gc pointer")};
            if (auto st = encode(b, where, "pair", k, base, &nb); !st) return st;
            if (auto st = encode(d, where, "pair", k, derived, &nd); !st) return st;
            if (nb != nd)
                return Error{where("pair " + std::to_string(k) + ": base and derived locations differ in size")};
            for (uint32_t i = 0; i < nb; ++i) {
                if (derived[i].kind() == RootLoc::kNone) continue; // a null constant: nothing to relocate
                if (base[i].kind() == RootLoc::kNone)
                    return Error{where("pair " + std::to_string(k) + ": derived pointer with a constant base")};
                pairs.push_back({base[i], derived[i]});
            }
        }
        for (uint32_t k = 0; k < sp.num_gc_allocas; ++k) {
            Location a = rec.location(static_cast<uint16_t>(sp.first_gc_alloca + k));
            if (auto st = encode(a, where, "gc alloca", k, base, &nb); !st) return st;
            for (uint32_t i = 0; i < nb; ++i) pairs.push_back({base[i], base[i]});
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
    void insert(uint64_t ra, uint32_t first_root, uint32_t num_roots, uint32_t rule, bool statepoint) {
        uint64_t s = slot_of(ra, nslots);
        while (impl.table[s].key != 0) {
            if (impl.table[s].return_address() == ra) {
                if (statepoint && !site_is_statepoint[s]) {
                    impl.table[s] = CallSite{ra | (uint64_t{num_roots} << 48), first_root, rule};
                    site_is_statepoint[s] = true;
                }
                return;
            }
            s = (s + 1 == nslots) ? 0 : s + 1;
        }
        impl.table[s] = CallSite{ra | (uint64_t{num_roots} << 48), first_root, rule};
        site_is_statepoint[s] = statepoint;
        ++impl.num_sites;
    }

    static bool looks_like_statepoint(const RecordView& rec) noexcept {
        if (rec.num_locations() < 3) return false;
        for (uint16_t i = 0; i < 3; ++i)
            if (rec.location(i).kind != LocationKind::Constant) return false;
        return true;
    }

    Status parse_all() {
        uint64_t records = 0;
        for (const ImageStackMaps& img : impl.images) {
            auto parsed = parse_stackmap_section(img.section, img.name);
            if (!parsed) return parsed.error();
            for (const auto& b : *parsed) records += b.num_records();
            impl.blobs.push_back(std::move(*parsed));
        }
        nslots = records == 0 ? 1 : static_cast<uint64_t>(static_cast<double>(records) / kMaxLoadFactor) + 1;
        impl.table.assign(nslots, CallSite{0, 0, 0});
        site_is_statepoint.assign(nslots, false);
        impl.roots.reserve(records * 2);
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
                        rule = intern_rule(fallback);
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
                    insert(ra, first_root, num_roots, rule, statepoint);
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
    Builder b{*impl, {}, UINT32_MAX, {}, {}, 1};
    if (auto st = b.parse_all(); !st) return Error{st.message()};
    for (uint32_t i = 0; i < impl->images.size(); ++i)
        if (auto st = b.add_image(i); !st) return Error{st.message()};
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

std::span<const FrameRecord> FrameIndex::frames() const noexcept { return impl_->frames; }
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
    size_t n = sizeof(Impl) + impl_->table.capacity() * sizeof(CallSite) +
               impl_->roots.capacity() * sizeof(RootPair) + impl_->rules.capacity() * sizeof(FrameRule) +
               impl_->frames.capacity() * sizeof(FrameRecord);
    for (const auto& bl : impl_->blobs) {
        n += bl.capacity() * sizeof(StackMapBlob);
        for (const auto& b : bl) n += b.num_records() * 4 + b.num_functions() * 8; // offset tables
    }
    return n;
}

} // namespace gcwalk
