// A DWARF CFI evaluator for x86-64 .eh_frame, just large enough for frame rules at call sites:
// finds the FDE through .eh_frame_hdr, runs its CIE and FDE programs up to one address and turns
// the row in force there into a FrameRule. gcwalk's one translation from CFI to rules: the
// runtime runs it on loaded images, gcwalk_object (and gcwalk-dump) on copies of files' segments.
#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/format.hpp>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>

namespace gcwalk {

namespace {

// DW_EH_PE_* pointer encodings (LSB 4 bits: the format; next 3: what it is relative to; the top
// bit: an indirection). DW_EH_PE_omit marks an absent field.
enum PointerEncoding : uint8_t {
    DW_EH_PE_absptr = 0x00,
    DW_EH_PE_uleb128 = 0x01,
    DW_EH_PE_udata2 = 0x02,
    DW_EH_PE_udata4 = 0x03,
    DW_EH_PE_udata8 = 0x04,
    DW_EH_PE_sleb128 = 0x09,
    DW_EH_PE_sdata2 = 0x0a,
    DW_EH_PE_sdata4 = 0x0b,
    DW_EH_PE_sdata8 = 0x0c,
    DW_EH_PE_pcrel = 0x10,
    DW_EH_PE_datarel = 0x30,
    DW_EH_PE_indirect = 0x80,
    DW_EH_PE_omit = 0xff,
};
constexpr uint8_t kPeFormatMask = 0x0f, kPeApplicationMask = 0x70;

// The DW_CFA_* opcodes the interpreter knows (DWARF 5 section 6.4.2, plus the GNU extensions GCC
// and LLVM emit). The first three are primary opcodes: the top two bits, with the operand (a
// delta or a register) in the low six.
enum CfaOpcode : uint8_t {
    DW_CFA_advance_loc = 0x40,
    DW_CFA_offset = 0x80,
    DW_CFA_restore = 0xc0,
    DW_CFA_nop = 0x00,
    DW_CFA_set_loc = 0x01,
    DW_CFA_advance_loc1 = 0x02,
    DW_CFA_advance_loc2 = 0x03,
    DW_CFA_advance_loc4 = 0x04,
    DW_CFA_offset_extended = 0x05,
    DW_CFA_restore_extended = 0x06,
    DW_CFA_undefined = 0x07,
    DW_CFA_same_value = 0x08,
    DW_CFA_register = 0x09,
    DW_CFA_remember_state = 0x0a,
    DW_CFA_restore_state = 0x0b,
    DW_CFA_def_cfa = 0x0c,
    DW_CFA_def_cfa_register = 0x0d,
    DW_CFA_def_cfa_offset = 0x0e,
    DW_CFA_def_cfa_expression = 0x0f,
    DW_CFA_expression = 0x10,
    DW_CFA_offset_extended_sf = 0x11,
    DW_CFA_def_cfa_sf = 0x12,
    DW_CFA_def_cfa_offset_sf = 0x13,
    DW_CFA_val_offset = 0x14,
    DW_CFA_val_offset_sf = 0x15,
    DW_CFA_val_expression = 0x16,
    DW_CFA_GNU_args_size = 0x2e,
    DW_CFA_GNU_negative_offset_extended = 0x2f,
};
constexpr uint8_t kCfaPrimaryMask = 0xc0, kCfaOperandMask = 0x3f;

// Columns tracked: the sixteen general registers and the return address column after them.
constexpr int kNumRegs = kDwarfReturnAddress + 1;
constexpr int kMaxRememberDepth = 16; // DW_CFA_remember_state nesting we accept

// Bounds-checked reads of addresses inside [lo, hi); the bytes of address a are at a + delta. A
// failed read sets `bad` and returns 0; callers check `bad` once after a group of reads.
struct Reader {
    uint64_t lo, hi;
    uint64_t at;
    uint64_t end; // reads must also stay below this (the current CIE/FDE)
    uint64_t delta;
    bool bad = false;

    bool take(void* dst, uint64_t n) noexcept {
        if (bad || at < lo || at > end || n > end - at || end > hi) {
            bad = true;
            return false;
        }
        std::memcpy(dst, reinterpret_cast<const void*>(at + delta), n);
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
            if (shift > 70) {
                bad = true;
                return 0;
            }
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
            if (shift > 77) {
                bad = true;
                return 0;
            }
        } while (b & 0x80);
        if (shift < 64 && (b & 0x40)) v |= ~uint64_t{0} << shift;
        return static_cast<int64_t>(v);
    }
    // An encoded pointer; `datarel` is the base for DW_EH_PE_datarel. Sets *unsupported for
    // encodings we refuse (indirect, textrel, funcrel, aligned).
    uint64_t pointer(uint8_t enc, uint64_t datarel, bool* unsupported) noexcept {
        if (enc == DW_EH_PE_omit) return 0;
        const uint64_t field = at;
        const uint64_t v = value(enc & kPeFormatMask, unsupported);
        if (*unsupported || (enc & DW_EH_PE_indirect)) {
            *unsupported = true;
            return 0;
        }
        switch (enc & kPeApplicationMask) {
        case 0: return v;
        case DW_EH_PE_pcrel: return v + field;
        case DW_EH_PE_datarel: return v + datarel;
        default: *unsupported = true; return 0;
        }
    }
    // The value of a pointer's format (its low four bits), sign-extended for the sdata ones.
    uint64_t value(uint8_t format, bool* unsupported) noexcept {
        switch (format) {
        case DW_EH_PE_absptr:
        case DW_EH_PE_udata8:
        case DW_EH_PE_sdata8: return get<uint64_t>();
        case DW_EH_PE_uleb128: return uleb();
        case DW_EH_PE_sleb128: return static_cast<uint64_t>(sleb());
        case DW_EH_PE_udata2: return get<uint16_t>();
        case DW_EH_PE_sdata2: return static_cast<uint64_t>(int64_t{get<int16_t>()});
        case DW_EH_PE_udata4: return get<uint32_t>();
        case DW_EH_PE_sdata4: return static_cast<uint64_t>(int64_t{get<int32_t>()});
        default: *unsupported = true; return 0;
        }
    }
};

// The register rules a CFI program builds. Only what a frame rule needs is tracked exactly;
// anything else a program does to a callee-saved register, the RA or the CFA is refused.
struct Row {
    enum Kind : uint8_t { Same = 0, Undefined, Offset, Unsupported };
    uint64_t cfa_reg = kDwarfRsp;
    bool cfa_is_expression = false;
    int64_t cfa_offset = 8;
    Kind kind[kNumRegs] = {};
    int64_t offset[kNumRegs] = {};
};

struct Cie {
    uint64_t code_align = 1;
    int64_t data_align = -8;
    uint64_t ra_reg = kDwarfReturnAddress;
    uint8_t fde_enc = DW_EH_PE_absptr;
    bool has_z = false;
    bool signal = false;
    uint64_t insns = 0, end = 0; // initial instructions [insns, end)
};

// An FDE with its CIE: the range it covers and its instructions [insns, end).
struct Fde {
    Cie cie;
    uint64_t begin = 0, range = 0;
    uint64_t insns = 0, end = 0;
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
    return open_at(std::move(name), hdr_address, hdr_size, readable_lo, readable_hi, 0);
}

Expected<EhFrameTable> EhFrameTable::open_copy(std::string name,
                                               std::shared_ptr<const std::vector<uint8_t>> segment,
                                               uint64_t segment_address, uint64_t hdr_address,
                                               uint64_t hdr_size) {
    if (!segment || segment->size() > ~uint64_t{0} - segment_address)
        return Error{name + ": .eh_frame_hdr at " + hex(hdr_address) + ": no segment holds it"};
    const uint64_t delta = reinterpret_cast<uintptr_t>(segment->data()) - segment_address;
    auto table = open_at(std::move(name), hdr_address, hdr_size, segment_address,
                         segment_address + segment->size(), delta);
    if (table) table->copy_ = std::move(segment);
    return table;
}

Expected<EhFrameTable> EhFrameTable::open_at(std::string name, uint64_t hdr_address,
                                             uint64_t hdr_size, uint64_t readable_lo,
                                             uint64_t readable_hi, uint64_t delta) {
    auto fail = [&](const std::string& what) {
        return Error{name + ": .eh_frame_hdr at " + hex(hdr_address) + ": " + what};
    };
    if (readable_lo >= readable_hi || hdr_address < readable_lo || hdr_address > readable_hi ||
        hdr_size > readable_hi - hdr_address)
        return fail("lies outside its readable segment " + hex(readable_lo) + "-" +
                    hex(readable_hi));
    Reader r{readable_lo, readable_hi, hdr_address, hdr_address + hdr_size, delta};
    const uint8_t version = r.get<uint8_t>();
    const uint8_t frame_ptr_enc = r.get<uint8_t>();
    const uint8_t count_enc = r.get<uint8_t>();
    const uint8_t table_enc = r.get<uint8_t>();
    if (r.bad) return fail("truncated header (" + std::to_string(hdr_size) + " bytes)");
    if (version != 1)
        return fail("version " + std::to_string(version) + " at offset 0x0 (expected 1)");
    bool unsupported = false;
    (void)r.pointer(frame_ptr_enc, hdr_address, &unsupported);
    uint64_t count = r.pointer(count_enc, hdr_address, &unsupported);
    if (r.bad) return fail("truncated header (" + std::to_string(hdr_size) + " bytes)");
    if (unsupported) return fail("unsupported pointer encoding at offset 0x1");
    // The binary search table: GNU ld and lld both write (datarel | sdata4) pairs.
    if (table_enc != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
        return fail("search table encoding " + hex(table_enc) +
                    " at offset 0x3 is not datarel|sdata4 (0x3b)");
    if (count_enc == DW_EH_PE_omit) return fail("no search table");
    const uint64_t table = r.at;
    if (count > (hdr_address + hdr_size - table) / 8)
        return fail(std::to_string(count) + " table entries do not fit in " +
                    std::to_string(hdr_size) + " bytes");
    EhFrameTable t;
    t.name_ = std::move(name);
    t.hdr_ = hdr_address;
    t.lo_ = readable_lo;
    t.hi_ = readable_hi;
    t.table_ = table;
    t.count_ = count;
    t.delta_ = delta;
    return t;
}

uint64_t EhFrameTable::find_fde(uint64_t pc) const noexcept {
    // Entries are sorted by initial location; the last one at or below pc is the candidate.
    uint64_t lo = 0, hi = count_;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int32_t loc;
        std::memcpy(&loc, reinterpret_cast<const void*>(table_ + 8 * mid + delta_), 4);
        if (hdr_ + static_cast<uint64_t>(int64_t{loc}) <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : table_fde(lo - 1);
}

uint64_t EhFrameTable::table_fde(uint64_t i) const noexcept {
    int32_t fde;
    std::memcpy(&fde, reinterpret_cast<const void*>(table_ + 8 * i + 4 + delta_), 4);
    return hdr_ + static_cast<uint64_t>(int64_t{fde});
}

namespace {

// ---- CIE and FDE
// ---------------------------------------------------------------------------------

// Reads the length field of a CIE or FDE at r.at; sets [body, end). False on a bad length.
bool read_length(Reader& r, uint64_t* end) noexcept {
    uint64_t len = r.get<uint32_t>();
    if (len == 0xffffffffu) len = r.get<uint64_t>();
    if (r.bad || len == 0 || len > r.hi - r.at) return false;
    *end = r.at + len;
    return true;
}

// The CIE's augmentation data, for the letters after 'z' in `aug`; r.at is at the data's length.
bool parse_cie_augmentation(Reader& r, const char* aug, size_t n, uint64_t end, Cie* cie,
                            uint64_t addr, Why why) noexcept {
    cie->has_z = true;
    const uint64_t aug_len = r.uleb();
    if (r.bad || aug_len > end - r.at)
        return why([&] { return "CIE at " + hex(addr) + ": augmentation data out of bounds"; });
    const uint64_t aug_end = r.at + aug_len;
    for (size_t i = 1; i < n; ++i) {
        bool unsupported = false;
        switch (aug[i]) {
        case 'R': cie->fde_enc = r.get<uint8_t>(); break;
        case 'L': (void)r.get<uint8_t>(); break; // the LSDA encoding: exceptions only
        case 'P': {
            const uint8_t enc = r.get<uint8_t>();
            (void)r.pointer(enc & static_cast<uint8_t>(~DW_EH_PE_indirect), 0, &unsupported);
            break;
        }
        case 'S': cie->signal = true; break;
        default: i = n; break; // unknown: the length lets us skip the rest
        }
        if (unsupported)
            return why(
                [&] { return "CIE at " + hex(addr) + ": unsupported personality encoding"; });
    }
    r.at = aug_end;
    return true;
}

// Parses the CIE at `addr`. False (and the reason, to `why`) when it cannot be used.
bool parse_cie(Reader r, uint64_t addr, Cie* cie, Why why) noexcept {
    r.at = addr;
    r.end = r.hi;
    uint64_t end = 0;
    if (!read_length(r, &end)) return why([&] { return "CIE at " + hex(addr) + ": bad length"; });
    r.end = end;
    if (r.get<uint32_t>() != 0)
        return why([&] { return "CIE at " + hex(addr) + ": not a CIE (non-zero id)"; });
    const uint8_t version = r.get<uint8_t>();
    if (version != 1 && version != 3)
        return why([&] { return "CIE at " + hex(addr) + ": version " + std::to_string(version); });
    char aug[8] = {};
    size_t n = 0;
    for (;;) {
        char c = static_cast<char>(r.get<uint8_t>());
        if (r.bad)
            return why([&] { return "CIE at " + hex(addr) + ": truncated augmentation string"; });
        if (c == 0) break;
        if (n + 1 >= sizeof aug)
            return why([&] { return "CIE at " + hex(addr) + ": augmentation string too long"; });
        aug[n++] = c;
    }
    if (n > 0 && aug[0] != 'z')
        return why(
            [&] { return "CIE at " + hex(addr) + ": augmentation \"" + aug + "\" without 'z'"; });
    cie->code_align = r.uleb();
    cie->data_align = r.sleb();
    cie->ra_reg = version == 1 ? r.get<uint8_t>() : r.uleb();
    if (n > 0 && !parse_cie_augmentation(r, aug, n, end, cie, addr, why)) return false;
    if (r.bad) return why([&] { return "CIE at " + hex(addr) + ": truncated"; });
    if (cie->code_align == 0)
        return why([&] { return "CIE at " + hex(addr) + ": code alignment factor 0"; });
    cie->insns = r.at;
    cie->end = end;
    return true;
}

// Parses the FDE at r.at and its CIE; `hdr` is the datarel base. False (and the reason, to
// `why`) when it cannot be used.
bool parse_fde(Reader r, uint64_t hdr, Fde* fde, Why why) noexcept {
    auto text = [](const char* s) { return [s] { return std::string(s); }; };
    uint64_t end = 0;
    if (!read_length(r, &end)) return why(text("bad length"));
    r.end = end;
    const uint64_t cie_field = r.at;
    const uint32_t cie_id = r.get<uint32_t>();
    if (r.bad || cie_id == 0 || cie_id > cie_field - r.lo) return why(text("bad CIE pointer"));
    if (!parse_cie(r, cie_field - cie_id, &fde->cie, why)) return false;
    bool unsupported = false;
    fde->begin = r.pointer(fde->cie.fde_enc, hdr, &unsupported);
    fde->range = r.pointer(fde->cie.fde_enc & kPeFormatMask, 0, &unsupported);
    if (r.bad) return why(text("truncated"));
    if (unsupported)
        return why([&] { return "unsupported address encoding " + hex(fde->cie.fde_enc); });
    if (fde->cie.has_z) {
        const uint64_t aug_len = r.uleb();
        if (r.bad || aug_len > end - r.at) return why(text("augmentation data out of bounds"));
        r.at += aug_len;
    }
    fde->insns = r.at;
    fde->end = end;
    return true;
}

// ---- the row program
// -----------------------------------------------------------------------------

// Runs a CIE's or FDE's CFI instructions up to one address, building the row in force there.
// `initial` is the row after the CIE program (what DW_CFA_restore returns to; none while the CIE
// program itself runs).
class RowProgram {
  public:
    RowProgram(const Cie& cie, const Row* initial, Row* row, Why why) noexcept
        : cie_(cie), initial_(initial), row_(row), why_(why) {}

    // Runs the instructions in [r.at, r.end) from location `loc` while the location stays at or
    // below `target`. False (and the reason) when the program cannot be run.
    bool run(Reader& r, uint64_t loc, uint64_t target) noexcept {
        while (r.at < r.end) {
            const uint8_t op = r.get<uint8_t>();
            uint64_t next = loc;
            const Step step = advance(op, r, loc, &next);
            if (step == Step::Failed) return false;
            if (step == Step::Other && !execute(op, r)) return false;
            if (r.bad)
                return why_([&] {
                    return "CFA instruction at " + hex(r.at) + " runs past the end of its entry";
                });
            if (step == Step::Advanced) {
                if (next > target) return true; // the row in force at target is complete
                loc = next;
            }
        }
        return true;
    }

  private:
    enum class Step { Advanced, Other, Failed };

    // The location-moving instructions: the new location to *next.
    Step advance(uint8_t op, Reader& r, uint64_t loc, uint64_t* next) noexcept {
        uint64_t delta = 0;
        if ((op & kCfaPrimaryMask) == DW_CFA_advance_loc) {
            delta = op & kCfaOperandMask;
        } else if (op == DW_CFA_advance_loc1) {
            delta = r.get<uint8_t>();
        } else if (op == DW_CFA_advance_loc2) {
            delta = r.get<uint16_t>();
        } else if (op == DW_CFA_advance_loc4) {
            delta = r.get<uint32_t>();
        } else if (op == DW_CFA_set_loc) {
            bool unsupported = false;
            *next = r.pointer(cie_.fde_enc, 0, &unsupported);
            if (unsupported) {
                why_([] { return std::string("DW_CFA_set_loc with an unsupported encoding"); });
                return Step::Failed;
            }
            return Step::Advanced;
        } else {
            return Step::Other;
        }
        *next = loc + delta * cie_.code_align;
        return Step::Advanced;
    }

    // Every other instruction: a register's rule, the CFA's, or the remembered-state stack.
    bool execute(uint8_t op, Reader& r) noexcept {
        switch (op) {
        case DW_CFA_nop: return true;
        case DW_CFA_GNU_args_size: (void)r.uleb(); return true; // SP adjustments are in the CFA
        case DW_CFA_expression:
        case DW_CFA_val_expression: return skip_expression(r, true);
        case DW_CFA_def_cfa_expression: return skip_expression(r, false);
        case DW_CFA_remember_state:
        case DW_CFA_restore_state: return remember_or_restore(op);
        case DW_CFA_def_cfa:
        case DW_CFA_def_cfa_sf:
        case DW_CFA_def_cfa_register:
        case DW_CFA_def_cfa_offset:
        case DW_CFA_def_cfa_offset_sf: return define_cfa(op, r);
        default: return register_rule(op, r);
        }
    }

    // The instructions that set one register's rule (DW_CFA_offset and DW_CFA_restore carry the
    // register in their low six bits).
    bool register_rule(uint8_t op, Reader& r) noexcept {
        const int64_t align = cie_.data_align;
        if ((op & kCfaPrimaryMask) == DW_CFA_offset) {
            set(op & kCfaOperandMask, Row::Offset, static_cast<int64_t>(r.uleb()) * align);
            return true;
        }
        if ((op & kCfaPrimaryMask) == DW_CFA_restore) {
            restore(op & kCfaOperandMask);
            return true;
        }
        const uint64_t op_at = r.at - 1;
        const uint64_t reg = r.uleb();
        switch (op) {
        case DW_CFA_offset_extended:
            set(reg, Row::Offset, static_cast<int64_t>(r.uleb()) * align);
            return true;
        case DW_CFA_offset_extended_sf: set(reg, Row::Offset, r.sleb() * align); return true;
        case DW_CFA_GNU_negative_offset_extended:
            set(reg, Row::Offset, -static_cast<int64_t>(r.uleb()) * align);
            return true;
        case DW_CFA_restore_extended: restore(reg); return true;
        case DW_CFA_undefined: set(reg, Row::Undefined, 0); return true;
        case DW_CFA_same_value: set(reg, Row::Same, 0); return true;
        case DW_CFA_register:   // in another register
        case DW_CFA_val_offset: // the value (not the slot) is CFA + offset
        case DW_CFA_val_offset_sf:
            (void)r.uleb();
            set(reg, Row::Unsupported, 0);
            return true;
        default: return why_([&] { return "unknown CFA opcode " + hex(op) + " at " + hex(op_at); });
        }
    }

    // DW_CFA_def_cfa*: the CFA as a register plus an offset.
    bool define_cfa(uint8_t op, Reader& r) noexcept {
        switch (op) {
        case DW_CFA_def_cfa:
            row_->cfa_reg = r.uleb();
            row_->cfa_offset = static_cast<int64_t>(r.uleb());
            row_->cfa_is_expression = false;
            return true;
        case DW_CFA_def_cfa_sf:
            row_->cfa_reg = r.uleb();
            row_->cfa_offset = r.sleb() * cie_.data_align;
            row_->cfa_is_expression = false;
            return true;
        case DW_CFA_def_cfa_register: row_->cfa_reg = r.uleb(); return true;
        case DW_CFA_def_cfa_offset: row_->cfa_offset = static_cast<int64_t>(r.uleb()); return true;
        case DW_CFA_def_cfa_offset_sf: row_->cfa_offset = r.sleb() * cie_.data_align; return true;
        default:
            return why_([&] { return "unknown CFA opcode " + hex(op) + " at " + hex(r.at - 1); });
        }
    }

    // DW_CFA_expression, DW_CFA_val_expression (of a register) and DW_CFA_def_cfa_expression:
    // never evaluated, only marked as what a rule cannot hold.
    bool skip_expression(Reader& r, bool of_register) noexcept {
        const uint64_t reg = of_register ? r.uleb() : 0;
        const uint64_t len = r.uleb();
        if (r.bad || len > r.end - r.at)
            return why_([&] {
                return std::string(of_register ? "truncated DW_CFA_expression"
                                               : "truncated DW_CFA_def_cfa_expression");
            });
        r.at += len;
        if (of_register)
            set(reg, Row::Unsupported, 0);
        else
            row_->cfa_is_expression = true;
        return true;
    }

    bool remember_or_restore(uint8_t op) noexcept {
        if (op == DW_CFA_remember_state) {
            if (depth_ == kMaxRememberDepth)
                return why_(
                    [] { return std::string("DW_CFA_remember_state nested deeper than 16"); });
            stack_[depth_++] = *row_;
            return true;
        }
        if (depth_ == 0)
            return why_(
                [] { return std::string("DW_CFA_restore_state without a remembered state"); });
        *row_ = stack_[--depth_];
        return true;
    }

    // Registers beyond the return address column (vector, x87) are nothing a frame rule needs.
    void set(uint64_t reg, Row::Kind kind, int64_t offset) noexcept {
        if (reg >= kNumRegs) return;
        row_->kind[reg] = kind;
        row_->offset[reg] = offset;
    }
    void restore(uint64_t reg) noexcept {
        if (reg >= kNumRegs) return;
        set(reg, initial_ ? initial_->kind[reg] : Row::Same, initial_ ? initial_->offset[reg] : 0);
    }

    const Cie& cie_;
    const Row* initial_;
    Row* row_;
    Why why_;
    Row stack_[kMaxRememberDepth];
    int depth_ = 0;
};

// ---- the row as a rule
// ---------------------------------------------------------------------------

// The rule: CFA from RSP or a callee-saved register, the return address at CFA - 8, and each
// callee-saved register either untouched (same value) or saved at CFA + offset. Anything else
// is refused through `fail`, which returns Result::Refused.
template <class Fail>
EhFrameTable::Result rule_from_row(const Row& row, FrameRule* out, Fail&& fail) {
    using Result = EhFrameTable::Result;
    auto text = [](const char* s) { return [s] { return std::string(s); }; };
    if (row.cfa_is_expression) return fail(text("the CFA is a DWARF expression"));
    bool cfa_ok = row.cfa_reg == kDwarfRsp;
    for (uint8_t reg : kCalleeSaved) cfa_ok |= row.cfa_reg == reg;
    if (!cfa_ok)
        return fail([&] { return "the CFA is based on register " + std::to_string(row.cfa_reg); });
    if (row.cfa_offset < INT32_MIN || row.cfa_offset > INT32_MAX)
        return fail(text("CFA offset out of range"));
    FrameRule rule{};
    rule.cfa_reg = static_cast<uint8_t>(row.cfa_reg);
    rule.cfa_offset = static_cast<int32_t>(row.cfa_offset);
    rule.flags = kRuleFromCfi;
    for (size_t i = 0; i < std::size(kCalleeSaved); ++i) {
        const uint8_t reg = kCalleeSaved[i];
        switch (row.kind[reg]) {
        case Row::Same: break;
        case Row::Offset:
            // Below the CFA (the frame's own slots), and within what FrameRule::saved holds.
            if (row.offset[reg] >= 0 || row.offset[reg] < INT16_MIN)
                return fail([&] {
                    return "register " + std::to_string(reg) + " saved at CFA" +
                           std::to_string(row.offset[reg]) + ", outside the range a rule holds";
                });
            rule.saved[i] = static_cast<int16_t>(row.offset[reg]);
            break;
        case Row::Undefined:
            return fail(
                [&] { return "callee-saved register " + std::to_string(reg) + " is undefined"; });
        default:
            return fail([&] {
                return "callee-saved register " + std::to_string(reg) +
                       " has a rule other than same-value or offset (register, val_offset or an "
                       "expression)";
            });
        }
    }
    // An undefined return address marks the outermost frame (_start, a thread's clone): the end
    // of the stack, as DWARF and libunwind read it.
    if (row.kind[kDwarfReturnAddress] == Row::Undefined) {
        *out = rule;
        fail(text("the return address is undefined (the outermost frame)"));
        return Result::Outermost;
    }
    if (row.kind[kDwarfReturnAddress] != Row::Offset || row.offset[kDwarfReturnAddress] != -8)
        return fail(text("the return address is not saved at CFA-8"));
    *out = rule;
    return Result::Rule;
}

} // namespace

bool EhFrameTable::range_of(uint64_t fde_address, uint64_t* start, uint64_t* end) const noexcept {
    Fde fde;
    if (!parse_fde(Reader{lo_, hi_, fde_address, hi_, delta_}, hdr_, &fde, Why{})) return false;
    *start = fde.begin;
    *end = fde.begin + fde.range;
    return true;
}

bool EhFrameTable::fde_range(uint64_t pc, uint64_t* start, uint64_t* end) const noexcept {
    const uint64_t fde = find_fde(pc);
    uint64_t begin = 0, stop = 0;
    if (fde == 0 || !range_of(fde, &begin, &stop)) return false;
    if (pc < begin || pc - begin >= stop - begin) return false;
    *start = begin;
    *end = stop;
    return true;
}

bool EhFrameTable::fde_at(uint64_t i, uint64_t* start, uint64_t* end,
                          uint64_t* fde_address) const noexcept {
    if (i >= count_ || !range_of(table_fde(i), start, end)) return false;
    if (fde_address) *fde_address = table_fde(i);
    return true;
}

Expected<EhFrameTable> EhFrameTable::open_eh_frame(std::string name,
                                                   std::span<const uint8_t> eh_frame,
                                                   uint64_t eh_frame_address) {
    const uint64_t size = eh_frame.size();
    auto fail = [&](uint64_t offset, const std::string& what) {
        return Error{name + ": .eh_frame at " + hex(eh_frame_address) + " (" +
                     std::to_string(size) + " bytes), offset " + hex(offset) + ": " + what};
    };
    if (size == 0) return fail(0, "empty section");
    constexpr uint64_t kMaxSize = uint64_t{1} << 31; // datarel sdata4 must reach every FDE
    if (size > kMaxSize || eh_frame_address == 0 || eh_frame_address > ~uint64_t{0} - 2 * kMaxSize)
        return fail(0, "address or size out of range");
    // The copy: the section, padded to 8, then the search table built here (an .eh_frame_hdr with
    // no eh_frame_ptr, a udata4 count and datarel|sdata4 pairs), at the addresses that follow it.
    const uint64_t body = (size + 7) & ~uint64_t{7};
    auto segment = std::make_shared<std::vector<uint8_t>>(body);
    std::memcpy(segment->data(), eh_frame.data(), size);
    const uint64_t delta = reinterpret_cast<uintptr_t>(segment->data()) - eh_frame_address;
    const uint64_t end = eh_frame_address + size;

    std::vector<std::pair<uint64_t, uint64_t>> fdes; // (initial location, FDE address)
    for (uint64_t at = eh_frame_address; at < end;) {
        const uint64_t offset = at - eh_frame_address;
        Reader r{eh_frame_address, end, at, end, delta};
        const uint32_t len32 = r.get<uint32_t>();
        if (r.bad)
            return fail(offset, "truncated entry (" + std::to_string(end - at) + " bytes left)");
        if (len32 == 0) break; // the terminator
        r.at = at;
        uint64_t entry_end = 0;
        if (!read_length(r, &entry_end))
            return fail(offset, "entry length runs past the end of the section");
        const uint32_t id = r.get<uint32_t>();
        if (r.bad) return fail(offset, "entry too short for its CIE id");
        if (id != 0) {
            Fde fde;
            std::string why;
            if (!parse_fde(Reader{eh_frame_address, end, at, end, delta}, 0, &fde, Why{&why}))
                return fail(offset, "FDE: " + why);
            if (fde.range != 0) fdes.emplace_back(fde.begin, at);
        }
        at = entry_end;
    }
    std::sort(fdes.begin(), fdes.end());
    const uint64_t hdr = eh_frame_address + body;
    const uint64_t hdr_size = 8 + 8 * fdes.size();
    segment->resize(body + hdr_size);
    uint8_t* h = segment->data() + body;
    h[0] = 1;                                  // version
    h[1] = DW_EH_PE_omit;                      // eh_frame_ptr
    h[2] = DW_EH_PE_udata4;                    // fde_count
    h[3] = DW_EH_PE_datarel | DW_EH_PE_sdata4; // the table
    const uint32_t count = static_cast<uint32_t>(fdes.size());
    std::memcpy(h + 4, &count, 4);
    for (size_t i = 0; i < fdes.size(); ++i) {
        const int64_t loc = static_cast<int64_t>(fdes[i].first - hdr);
        if (loc < INT32_MIN || loc > INT32_MAX)
            return fail(fdes[i].second - eh_frame_address,
                        "FDE of code at " + hex(fdes[i].first) +
                            " lies more than 2 GiB away from its .eh_frame");
        const int32_t pair[2] = {static_cast<int32_t>(loc),
                                 static_cast<int32_t>(fdes[i].second - hdr)};
        std::memcpy(h + 8 + 8 * i, pair, 8);
    }
    return open_copy(std::move(name), std::move(segment), eh_frame_address, hdr, hdr_size);
}

// The row in force at ra - 1, as a rule. `why` receives the reason for anything but Rule (when
// asked for); with no text asked for, nothing here allocates.
EhFrameTable::Result EhFrameTable::evaluate(uint64_t ra, FrameRule* out,
                                            std::string* why_text) const {
    const Why why{why_text};
    const uint64_t pc = ra - 1; // the call instruction: a call at a function's end still finds it
    const uint64_t fde_address = find_fde(pc);
    if (fde_address == 0) {
        why([&] { return name_ + ": no FDE in .eh_frame covers return address " + hex(ra); });
        return Result::Refused;
    }
    auto fail = [&](auto make) {
        why([&] {
            return name_ + ": FDE at " + hex(fde_address) + " (offset " + hex(fde_address - lo_) +
                   " in its segment), return address " + hex(ra) + ": " + make();
        });
        return Result::Refused;
    };
    std::string reason; // (only when why_text asks for it)
    const Why inner{why_text ? &reason : nullptr};
    auto inner_reason = [&] { return reason; };
    Fde fde;
    if (!parse_fde(Reader{lo_, hi_, fde_address, hi_, delta_}, hdr_, &fde, inner))
        return fail(inner_reason);
    if (fde.cie.signal) return fail([] { return std::string("a signal frame"); });
    if (fde.cie.ra_reg != kDwarfReturnAddress)
        return fail([&] { return "return address column " + std::to_string(fde.cie.ra_reg); });
    if (pc < fde.begin || pc - fde.begin >= fde.range)
        return fail([&] {
            return "covers " + hex(fde.begin) + "-" + hex(fde.begin + fde.range) +
                   ", not the call before the return address";
        });

    Row initial;
    Reader cie_program{lo_, hi_, fde.cie.insns, fde.cie.end, delta_};
    if (!RowProgram(fde.cie, nullptr, &initial, inner).run(cie_program, fde.begin, ~uint64_t{0}))
        return fail([&] { return "CIE program: " + reason; });
    Row row = initial;
    Reader fde_program{lo_, hi_, fde.insns, fde.end, delta_};
    if (!RowProgram(fde.cie, &initial, &row, inner).run(fde_program, fde.begin, pc))
        return fail(inner_reason);
    return rule_from_row(row, out, fail);
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
