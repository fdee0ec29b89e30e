// A DWARF CFI evaluator for x86-64 .eh_frame, just large enough for frame rules at call sites:
// finds the FDE through .eh_frame_hdr and runs its CIE and FDE programs up to one address.
#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/format.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace gcwalk {

namespace {

// DW_EH_PE pointer encodings (LSB 4 bits: format; next 3: how it is applied).
constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeFormat = 0x0f, kPeApply = 0x70, kPeIndirect = 0x80;
constexpr uint8_t kPeAbsptr = 0x00, kPeUleb = 0x01, kPeUdata2 = 0x02, kPeUdata4 = 0x03, kPeUdata8 = 0x04,
                  kPeSleb = 0x09, kPeSdata2 = 0x0a, kPeSdata4 = 0x0b, kPeSdata8 = 0x0c;
constexpr uint8_t kPePcrel = 0x10, kPeDatarel = 0x30;

constexpr int kNumRegs = 17;          // DWARF 0-15 general registers, 16 the return address
constexpr int kRaReg = 16;
constexpr int kMaxRememberDepth = 16; // DW_CFA_remember_state nesting we accept

// Bounds-checked reads of absolute addresses inside [lo, hi). A failed read sets `bad` and
// returns 0; callers check `bad` once after a group of reads.
struct Reader {
    uint64_t lo, hi;
    uint64_t at;
    uint64_t end; // reads must also stay below this (the current CIE/FDE)
    bool bad = false;

    bool take(void* dst, uint64_t n) noexcept {
        if (bad || at < lo || at > end || n > end - at || end > hi) {
            bad = true;
            return false;
        }
        std::memcpy(dst, reinterpret_cast<const void*>(at), n);
        at += n;
        return true;
    }
    template <class T> T get() noexcept {
        T v{};
        take(&v, sizeof v);
        return v;
    }
    uint64_t uleb() noexcept {
        uint64_t v = 0;
        for (unsigned shift = 0;; shift += 7) {
            uint8_t b = get<uint8_t>();
            if (bad) return 0;
            if (shift < 64) v |= uint64_t{b & 0x7fu} << shift;
            if (!(b & 0x80)) return v;
            if (shift > 70) { bad = true; return 0; }
        }
    }
    int64_t sleb() noexcept {
        uint64_t v = 0;
        unsigned shift = 0;
        uint8_t b = 0;
        do {
            b = get<uint8_t>();
            if (bad) return 0;
            if (shift < 64) v |= uint64_t{b & 0x7fu} << shift;
            shift += 7;
            if (shift > 77) { bad = true; return 0; }
        } while (b & 0x80);
        if (shift < 64 && (b & 0x40)) v |= ~uint64_t{0} << shift;
        return static_cast<int64_t>(v);
    }
    // An encoded pointer; `datarel` is the base for DW_EH_PE_datarel. Sets *unsupported for
    // encodings we refuse (indirect, textrel, funcrel, aligned).
    uint64_t pointer(uint8_t enc, uint64_t datarel, bool* unsupported) noexcept {
        if (enc == kPeOmit) return 0;
        const uint64_t field = at;
        uint64_t v = 0;
        switch (enc & kPeFormat) {
        case kPeAbsptr: case kPeUdata8: case kPeSdata8: v = get<uint64_t>(); break;
        case kPeUleb: v = uleb(); break;
        case kPeSleb: v = static_cast<uint64_t>(sleb()); break;
        case kPeUdata2: v = get<uint16_t>(); break;
        case kPeSdata2: v = static_cast<uint64_t>(int64_t{get<int16_t>()}); break;
        case kPeUdata4: v = get<uint32_t>(); break;
        case kPeSdata4: v = static_cast<uint64_t>(int64_t{get<int32_t>()}); break;
        default: *unsupported = true; return 0;
        }
        if (enc & kPeIndirect) { *unsupported = true; return 0; }
        switch (enc & kPeApply) {
        case 0: return v;
        case kPePcrel: return v + field;
        case kPeDatarel: return v + datarel;
        default: *unsupported = true; return 0;
        }
    }
};

// The register rules a CFI program builds. Only what a frame rule needs is tracked exactly;
// anything else a program does to a callee-saved register, the RA or the CFA is refused.
struct Row {
    enum Kind : uint8_t { Same = 0, Undefined, Offset, Unsupported };
    uint8_t cfa_reg = 7;
    bool cfa_unsupported = false;
    int64_t cfa_offset = 8;
    uint8_t kind[kNumRegs] = {};
    int64_t offset[kNumRegs] = {};
};

struct Cie {
    uint64_t code_align = 1;
    int64_t data_align = -8;
    uint64_t ra_reg = kRaReg;
    uint8_t fde_enc = kPeAbsptr;
    bool has_z = false;
    bool signal = false;
    uint64_t insns = 0, end = 0; // initial instructions [insns, end)
};

// Where a refusal's reason goes: the text is made only when someone will read it (load time);
// the walker's native path passes none, so a refusal there formats and allocates nothing.
struct Why {
    std::string* text = nullptr;
    template <class F> bool operator()(F make) const {
        if (text) *text = make();
        return false;
    }
};

} // namespace

Expected<EhFrameTable> EhFrameTable::open(std::string name, uint64_t hdr_address, uint64_t hdr_size,
                                          uint64_t readable_lo, uint64_t readable_hi) {
    auto fail = [&](const std::string& what) { return Error{name + ": .eh_frame_hdr at " + hex(hdr_address) + ": " + what}; };
    if (readable_lo >= readable_hi || hdr_address < readable_lo || hdr_address > readable_hi ||
        hdr_size > readable_hi - hdr_address)
        return fail("lies outside its readable segment " + hex(readable_lo) + "-" + hex(readable_hi));
    Reader r{readable_lo, readable_hi, hdr_address, hdr_address + hdr_size};
    const uint8_t version = r.get<uint8_t>();
    const uint8_t frame_ptr_enc = r.get<uint8_t>();
    const uint8_t count_enc = r.get<uint8_t>();
    const uint8_t table_enc = r.get<uint8_t>();
    if (r.bad) return fail("truncated header (" + std::to_string(hdr_size) + " bytes)");
    if (version != 1) return fail("version " + std::to_string(version) + " at offset 0x0 (expected 1)");
    bool unsupported = false;
    (void)r.pointer(frame_ptr_enc, hdr_address, &unsupported);
    uint64_t count = r.pointer(count_enc, hdr_address, &unsupported);
    if (r.bad) return fail("truncated header (" + std::to_string(hdr_size) + " bytes)");
    if (unsupported) return fail("unsupported pointer encoding at offset 0x1");
    // The binary search table: GNU ld and lld both write (datarel | sdata4) pairs.
    if (table_enc != (kPeDatarel | kPeSdata4))
        return fail("search table encoding " + hex(table_enc) + " at offset 0x3 is not datarel|sdata4 (0x3b)");
    if (count_enc == kPeOmit) return fail("no search table");
    const uint64_t table = r.at;
    if (count > (hdr_address + hdr_size - table) / 8)
        return fail(std::to_string(count) + " table entries do not fit in " + std::to_string(hdr_size) + " bytes");
    EhFrameTable t;
    t.name_ = std::move(name);
    t.hdr_ = hdr_address;
    t.lo_ = readable_lo;
    t.hi_ = readable_hi;
    t.table_ = table;
    t.count_ = count;
    return t;
}

uint64_t EhFrameTable::find_fde(uint64_t pc) const noexcept {
    // Entries are sorted by initial location; the last one at or below pc is the candidate.
    uint64_t lo = 0, hi = count_;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int32_t loc;
        std::memcpy(&loc, reinterpret_cast<const void*>(table_ + 8 * mid), 4);
        if (hdr_ + static_cast<uint64_t>(int64_t{loc}) <= pc) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return 0;
    int32_t fde;
    std::memcpy(&fde, reinterpret_cast<const void*>(table_ + 8 * (lo - 1) + 4), 4);
    return hdr_ + static_cast<uint64_t>(int64_t{fde});
}

namespace {

// Reads the length field of a CIE or FDE at r.at; sets [body, end). False on a bad length.
bool read_length(Reader& r, uint64_t* end) noexcept {
    uint64_t len = r.get<uint32_t>();
    if (len == 0xffffffffu) len = r.get<uint64_t>();
    if (r.bad || len == 0 || len > r.hi - r.at) return false;
    *end = r.at + len;
    return true;
}

// Parses the CIE at `addr`. False (and the reason, to `why`) when it cannot be used.
bool parse_cie(Reader r, uint64_t addr, Cie* cie, Why why) noexcept {
    r.at = addr;
    r.end = r.hi;
    uint64_t end = 0;
    if (!read_length(r, &end)) return why([&] { return "CIE at " + hex(addr) + ": bad length"; });
    r.end = end;
    if (r.get<uint32_t>() != 0) return why([&] { return "CIE at " + hex(addr) + ": not a CIE (non-zero id)"; });
    const uint8_t version = r.get<uint8_t>();
    if (version != 1 && version != 3) return why([&] { return "CIE at " + hex(addr) + ": version " + std::to_string(version); });
    char aug[8] = {};
    size_t n = 0;
    for (;;) {
        char c = static_cast<char>(r.get<uint8_t>());
        if (r.bad) return why([&] { return "CIE at " + hex(addr) + ": truncated augmentation string"; });
        if (c == 0) break;
        if (n + 1 >= sizeof aug) return why([&] { return "CIE at " + hex(addr) + ": augmentation string too long"; });
        aug[n++] = c;
    }
    if (n > 0 && aug[0] != 'z') return why([&] { return "CIE at " + hex(addr) + ": augmentation \"" + aug + "\" without 'z'"; });
    cie->code_align = r.uleb();
    cie->data_align = r.sleb();
    cie->ra_reg = version == 1 ? r.get<uint8_t>() : r.uleb();
    uint64_t aug_end = 0;
    if (n > 0) {
        cie->has_z = true;
        uint64_t aug_len = r.uleb();
        if (r.bad || aug_len > end - r.at) return why([&] { return "CIE at " + hex(addr) + ": augmentation data out of bounds"; });
        aug_end = r.at + aug_len;
        for (size_t i = 1; i < n; ++i) {
            bool unsupported = false;
            switch (aug[i]) {
            case 'R': cie->fde_enc = r.get<uint8_t>(); break;
            case 'L': (void)r.get<uint8_t>(); break;
            case 'P': {
                uint8_t enc = r.get<uint8_t>();
                (void)r.pointer(enc & static_cast<uint8_t>(~kPeIndirect), 0, &unsupported);
                break;
            }
            case 'S': cie->signal = true; break;
            default: i = n; break; // unknown: the length lets us skip the rest
            }
            if (unsupported) return why([&] { return "CIE at " + hex(addr) + ": unsupported personality encoding"; });
        }
        r.at = aug_end;
    }
    if (r.bad) return why([&] { return "CIE at " + hex(addr) + ": truncated"; });
    if (cie->code_align == 0) return why([&] { return "CIE at " + hex(addr) + ": code alignment factor 0"; });
    cie->insns = r.at;
    cie->end = end;
    return true;
}

// Runs CFI instructions in [r.at, r.end) from location `loc` while the location stays at or
// below `target`. `initial` is the row after the CIE program (for DW_CFA_restore). False (and
// the reason, to `why`) when the program cannot be run.
bool run(Reader& r, const Cie& cie, uint64_t loc, uint64_t target, const Row* initial, Row* row, Why why) noexcept {
    Row stack[kMaxRememberDepth];
    int depth = 0;
    auto set = [&](uint64_t reg, Row::Kind k, int64_t off) {
        if (reg < kNumRegs) {
            row->kind[reg] = k;
            row->offset[reg] = off;
        } else if (reg != cie.ra_reg) {
            // registers beyond 16 (vector, x87): nothing a frame rule needs
        }
    };
    while (r.at < r.end) {
        const uint8_t op = r.get<uint8_t>();
        const uint8_t low = op & 0x3f;
        uint64_t advance = 0;
        bool advances = false;
        switch (op >> 6) {
        case 1: advance = low; advances = true; break;                                         // advance_loc
        case 2: set(low, Row::Offset, static_cast<int64_t>(r.uleb()) * cie.data_align); continue; // offset
        case 3: set(low, initial ? static_cast<Row::Kind>(initial->kind[low]) : Row::Same,        // restore
                    initial ? initial->offset[low] : 0);
            continue;
        default: break;
        }
        if (!advances) {
            switch (op) {
            case 0x00: break; // nop
            case 0x01: {      // set_loc
                bool unsupported = false;
                uint64_t to = r.pointer(cie.fde_enc, 0, &unsupported);
                if (unsupported) return why([&] { return std::string("DW_CFA_set_loc with an unsupported encoding"); });
                if (to > target) return true;
                loc = to;
                break;
            }
            case 0x02: advance = r.get<uint8_t>(); advances = true; break;
            case 0x03: advance = r.get<uint16_t>(); advances = true; break;
            case 0x04: advance = r.get<uint32_t>(); advances = true; break;
            case 0x05: { uint64_t reg = r.uleb(); set(reg, Row::Offset, static_cast<int64_t>(r.uleb()) * cie.data_align); break; }
            case 0x06: { uint64_t reg = r.uleb();
                if (reg < kNumRegs) set(reg, initial ? static_cast<Row::Kind>(initial->kind[reg]) : Row::Same,
                                        initial ? initial->offset[reg] : 0);
                break; }
            case 0x07: set(r.uleb(), Row::Undefined, 0); break;
            case 0x08: set(r.uleb(), Row::Same, 0); break;
            case 0x09: { uint64_t reg = r.uleb(); (void)r.uleb(); set(reg, Row::Unsupported, 0); break; } // register
            case 0x0a:
                if (depth == kMaxRememberDepth) return why([&] { return std::string("DW_CFA_remember_state nested deeper than 16"); });
                stack[depth++] = *row;
                break;
            case 0x0b:
                if (depth == 0) return why([&] { return std::string("DW_CFA_restore_state without a remembered state"); });
                *row = stack[--depth];
                break;
            case 0x0c: row->cfa_reg = static_cast<uint8_t>(r.uleb() & 0xff); row->cfa_offset = static_cast<int64_t>(r.uleb());
                row->cfa_unsupported = false; break;
            case 0x0d: row->cfa_reg = static_cast<uint8_t>(r.uleb() & 0xff); break;
            case 0x0e: row->cfa_offset = static_cast<int64_t>(r.uleb()); break;
            case 0x0f: { uint64_t len = r.uleb(); if (len > r.end - r.at) return why([&] { return std::string("truncated DW_CFA_def_cfa_expression"); });
                r.at += len; row->cfa_unsupported = true; break; }
            case 0x10: case 0x16: { uint64_t reg = r.uleb(); uint64_t len = r.uleb();
                if (r.bad || len > r.end - r.at) return why([&] { return std::string("truncated DW_CFA_expression"); });
                r.at += len; set(reg, Row::Unsupported, 0); break; }
            case 0x11: { uint64_t reg = r.uleb(); set(reg, Row::Offset, r.sleb() * cie.data_align); break; }
            case 0x12: row->cfa_reg = static_cast<uint8_t>(r.uleb() & 0xff); row->cfa_offset = r.sleb() * cie.data_align;
                row->cfa_unsupported = false; break;
            case 0x13: row->cfa_offset = r.sleb() * cie.data_align; break;
            case 0x14: case 0x15: { uint64_t reg = r.uleb(); (void)r.uleb(); set(reg, Row::Unsupported, 0); break; } // val_offset
            case 0x2e: (void)r.uleb(); break; // GNU_args_size: SP adjustments are in the CFA already
            case 0x2f: { uint64_t reg = r.uleb(); set(reg, Row::Offset, -static_cast<int64_t>(r.uleb()) * cie.data_align); break; }
            default: return why([&] { return std::string("unknown CFA opcode " + hex(op) + " at " + hex(r.at - 1)); });
            }
        }
        if (r.bad) return why([&] { return std::string("CFA instruction at " + hex(r.at) + " runs past the end of its entry"); });
        if (advances) {
            if (r.bad) return why([&] { return std::string("truncated advance"); });
            const uint64_t next = loc + advance * cie.code_align;
            if (next > target) return true; // the row in force at target is complete
            loc = next;
        }
    }
    return true;
}

} // namespace

bool EhFrameTable::fde_range(uint64_t pc, uint64_t* start, uint64_t* end) const noexcept {
    const uint64_t fde = find_fde(pc);
    if (fde == 0) return false;
    Reader r{lo_, hi_, fde, hi_};
    uint64_t fde_end = 0;
    if (!read_length(r, &fde_end)) return false;
    r.end = fde_end;
    const uint64_t cie_field = r.at;
    const uint32_t cie_id = r.get<uint32_t>();
    if (r.bad || cie_id == 0 || cie_id > cie_field - lo_) return false;
    Cie cie;
    if (!parse_cie(r, cie_field - cie_id, &cie, Why{})) return false;
    bool unsupported = false;
    const uint64_t begin = r.pointer(cie.fde_enc, hdr_, &unsupported);
    const uint64_t range = r.pointer(cie.fde_enc & kPeFormat, 0, &unsupported);
    if (r.bad || unsupported) return false;
    if (pc < begin || pc - begin >= range) return false;
    *start = begin;
    *end = begin + range;
    return true;
}

// The row in force at ra - 1, as a rule. `why` receives the reason for anything but Rule (when
// asked for); with no text asked for, nothing here allocates.
EhFrameTable::Result EhFrameTable::evaluate(uint64_t ra, FrameRule* out, std::string* why_text) const {
    const Why why{why_text};
    const uint64_t pc = ra - 1; // the call instruction: a call at a function's end still finds it
    const uint64_t fde = find_fde(pc);
    if (fde == 0) {
        why([&] { return name_ + ": no FDE in .eh_frame covers return address " + hex(ra); });
        return Result::Refused;
    }
    auto fail = [&](auto make) {
        why([&] {
            return name_ + ": FDE at " + hex(fde) + " (offset " + hex(fde - lo_) + " in its segment), return address " +
                   hex(ra) + ": " + make();
        });
        return Result::Refused;
    };
    auto text = [](const char* s) { return [s] { return std::string(s); }; };
    Reader r{lo_, hi_, fde, hi_};
    uint64_t fde_end = 0;
    if (!read_length(r, &fde_end)) return fail(text("bad length"));
    r.end = fde_end;
    const uint64_t cie_field = r.at;
    const uint32_t cie_id = r.get<uint32_t>();
    if (r.bad || cie_id == 0 || cie_id > cie_field - lo_) return fail(text("bad CIE pointer"));
    Cie cie;
    std::string reason; // (only when why_text asks for it)
    const Why inner{why_text ? &reason : nullptr};
    if (!parse_cie(r, cie_field - cie_id, &cie, inner)) return fail([&] { return reason; });
    if (cie.signal) return fail(text("a signal frame"));
    if (cie.ra_reg != kRaReg) return fail([&] { return "return address column " + std::to_string(cie.ra_reg); });
    bool unsupported = false;
    const uint64_t begin = r.pointer(cie.fde_enc, hdr_, &unsupported);
    const uint64_t range = r.pointer(cie.fde_enc & kPeFormat, 0, &unsupported);
    if (r.bad) return fail(text("truncated"));
    if (unsupported) return fail([&] { return "unsupported address encoding " + hex(cie.fde_enc); });
    if (pc < begin || pc - begin >= range)
        return fail([&] { return "covers " + hex(begin) + "-" + hex(begin + range) + ", not the call before the return address"; });
    if (cie.has_z) {
        uint64_t aug_len = r.uleb();
        if (r.bad || aug_len > fde_end - r.at) return fail(text("augmentation data out of bounds"));
        r.at += aug_len;
    }

    Row initial;
    Reader ci{lo_, hi_, cie.insns, cie.end};
    if (!run(ci, cie, begin, ~uint64_t{0}, nullptr, &initial, inner)) return fail([&] { return "CIE program: " + reason; });
    Row row = initial;
    if (!run(r, cie, begin, pc, &initial, &row, inner)) return fail([&] { return reason; });

    // The rule: CFA from RSP or a callee-saved register, the return address at CFA - 8, and each
    // callee-saved register either untouched (same value) or saved at CFA + offset.
    if (row.cfa_unsupported) return fail(text("the CFA is a DWARF expression"));
    bool cfa_ok = row.cfa_reg == 7;
    for (uint8_t reg : kCalleeSaved) cfa_ok |= row.cfa_reg == reg;
    if (!cfa_ok) return fail([&] { return "the CFA is based on register " + std::to_string(row.cfa_reg); });
    if (row.cfa_offset < INT32_MIN || row.cfa_offset > INT32_MAX) return fail(text("CFA offset out of range"));
    FrameRule rule{};
    rule.cfa_reg = row.cfa_reg;
    rule.cfa_offset = static_cast<int32_t>(row.cfa_offset);
    rule.flags = kRuleFromCfi;
    for (int i = 0; i < 6; ++i) {
        const uint8_t reg = kCalleeSaved[i];
        switch (row.kind[reg]) {
        case Row::Same: break;
        case Row::Offset:
            if (row.offset[reg] >= 0 || row.offset[reg] < INT16_MIN)
                return fail([&] {
                    return "register " + std::to_string(reg) + " saved at CFA" + std::to_string(row.offset[reg]) +
                           ", outside the range a rule holds";
                });
            rule.saved[i] = static_cast<int16_t>(row.offset[reg]);
            break;
        case Row::Undefined: return fail([&] { return "callee-saved register " + std::to_string(reg) + " is undefined"; });
        default:
            return fail([&] {
                return "callee-saved register " + std::to_string(reg) +
                       " has a rule other than same-value or offset (register, val_offset or an expression)";
            });
        }
    }
    // An undefined return address marks the outermost frame (_start, a thread's clone): the end
    // of the stack, as DWARF and libunwind read it.
    if (row.kind[kRaReg] == Row::Undefined) {
        *out = rule;
        fail(text("the return address is undefined (the outermost frame)"));
        return Result::Outermost;
    }
    if (row.kind[kRaReg] != Row::Offset || row.offset[kRaReg] != -8)
        return fail(text("the return address is not saved at CFA-8"));
    *out = rule;
    return Result::Rule;
}

Expected<FrameRule> EhFrameTable::rule_at(uint64_t ra) const {
    FrameRule rule{};
    std::string why;
    if (evaluate(ra, &rule, &why) == Result::Rule) return rule;
    return Error{std::move(why)};
}

EhFrameTable::Result EhFrameTable::native_rule(uint64_t ra, FrameRule* rule) const noexcept {
    return evaluate(ra, rule, nullptr);
}

} // namespace gcwalk
