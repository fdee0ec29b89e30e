// The libunwind walker: unw_step from the context the safepoint stub captured, stopping at every
// frame whose return address has a stack map record. Also the Walker's public members and the
// step dispatch shared by both walkers.
#include "walker_impl.hpp"

#include <gcwalk/statepoint.hpp>

#include "frame_rules.hpp"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace gcwalk {

static_assert(sizeof(unw_context_t) <= sizeof(SafepointContext::unwind_context),
              "SafepointContext::unwind_context is too small for unw_context_t");
static_assert(alignof(unw_context_t) <= alignof(SafepointContext),
              "unw_context_t needs more alignment");

using detail::WalkerImpl;

Walker::Walker(const SafepointContext& ctx, const FrameIndex& index,
               const WalkOptions& options) noexcept {
    detail::WalkerCold& c = *WalkerImpl::construct_cold(*this);
    c.ctx = &ctx;
    c.options = options;
    hot_.index = &index;
    hot_.stop_sp = options.stop_sp;
    hot_.sp_limit = options.stop_sp != 0 ? options.stop_sp : UINT64_MAX;
    WalkerImpl impl(*this);
    if (options.walker == WalkerKind::Fast) {
        c.fast = true;
        c.cache = options.cache ? &WalkerImpl::state(*options.cache) : nullptr;
        impl.fast_start(); // unwind/fast_walker.cpp
        return;
    }
    impl.start_libunwind();
}

void Walker::end_recording() noexcept {
    WalkerImpl(*this).cache_stop();
}

void Walker::next_slow() noexcept {
    WalkerImpl(*this).next_slow();
}

void Walker::report(uint64_t address, const char* fmt, ...) noexcept {
    detail::WalkerCold& c = WalkerImpl::cold(*this);
    c.error.address = address;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(c.error.message, sizeof c.error.message, fmt, ap);
    va_end(ap);
    if (c.options.precise) {
        hot_.failed = true;
        hot_.valid = false;
        hot_.by_rule = false;
    } else {
        ++hot_.skipped;
    }
}

const WalkError& Walker::error() const noexcept {
    return WalkerImpl::cold(*this).error;
}
uint64_t Walker::native_rule_steps() const noexcept {
    return WalkerImpl::cold(*this).native_rule_steps;
}
uint64_t Walker::libunwind_steps() const noexcept {
    return WalkerImpl::cold(*this).libunwind_steps;
}
const SafepointContext& Walker::context() const noexcept {
    return *WalkerImpl::cold(*this).ctx;
}

uint64_t* Walker::register_slot(uint32_t dwarf_reg) const noexcept {
    const int i = callee_saved_index(dwarf_reg);
    if (i < 0 || (hot_.regs.in_context >> i & 1u)) return nullptr;
    return hot_.regs.where[i];
}

bool Walker::register_in_context(uint32_t dwarf_reg) const noexcept {
    const int i = callee_saved_index(dwarf_reg);
    return i >= 0 && (hot_.regs.in_context >> i & 1u);
}

bool Walker::register_value(uint32_t dwarf_reg, uint64_t* value) const noexcept {
    if (dwarf_reg == kDwarfRsp) {
        *value = frame_.sp;
        return true;
    }
    const int i = callee_saved_index(dwarf_reg);
    if (i < 0) return false; // caller-saved: dead at a call site
    if (uint64_t* at = hot_.regs.where[i]) {
        *value = *at; // a stack slot, or the context copy (readable)
        return true;
    }
    const detail::WalkerCold& c = WalkerImpl::cold(*this);
    if (c.fast) return false; // the fast walker carries where every register it knows lives
    // Not saved by any frame in between: still in the register the context captured.
    unw_word_t v = 0;
    if (unw_get_reg(const_cast<unw_cursor_t*>(&c.cursor), static_cast<int>(dwarf_reg), &v) != 0)
        return false;
    *value = v;
    return true;
}

bool Walker::record(RecordRef* out) const noexcept {
    return hot_.valid && frame_.site && hot_.index->record(*frame_.site, out);
}

bool Walker::resolve(const StackMapBlob& blob, const Location& loc,
                     ResolvedLocation* out) const noexcept {
    *out = ResolvedLocation{};
    const uint32_t size = loc.size == 0 || loc.size > 8 ? 8 : loc.size;
    const uint64_t mask = size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
    uint64_t reg = 0;
    switch (loc.kind) {
    case LocationKind::Constant:
    case LocationKind::ConstantIndex:
        if (loc.kind == LocationKind::ConstantIndex &&
            static_cast<uint32_t>(loc.offset) >= blob.num_constants())
            return false;
        out->value = constant_value(blob, loc);
        return true;
    case LocationKind::Register:
        if (!register_value(loc.dwarf_reg, &reg)) return false;
        out->value = reg & mask;
        out->slot = register_slot(loc.dwarf_reg);
        return true;
    case LocationKind::Direct:
        if (!register_value(loc.dwarf_reg, &reg)) return false;
        out->value = reg + static_cast<int64_t>(loc.offset);
        return true;
    case LocationKind::Indirect: {
        if (!register_value(loc.dwarf_reg, &reg)) return false;
        auto* p = reinterpret_cast<unsigned char*>(reg + static_cast<int64_t>(loc.offset));
        uint64_t v = 0;
        std::memcpy(&v, p, size); // little-endian: the low `size` bytes
        out->value = v;
        out->slot = p;
        return true;
    }
    }
    return false;
}

namespace detail {

void WalkerImpl::start_libunwind() noexcept {
    // libunwind reads the context in place (local unwinding) and never writes it while we only
    // step and read; the const_cast is for its C signature.
    auto* uc =
        reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(cold().ctx->unwind_context));
    if (int rc = unw_init_local(&cold().cursor, uc); rc != 0) {
        w_.report(0, "unw_init_local failed (%d) on the safepoint context", rc);
        hot().failed = true; // no frame can be walked, whatever the mode
        return;
    }
    unw_advance(false);
}

// On entry the walker stands on a managed frame; on return on the next one, or !valid().
void WalkerImpl::next_slow() noexcept {
    hot().by_rule = false;
    if (!hot().valid) return;
    if (hot().replaying) { // frames from the WalkCache (unwind/walk_cache.cpp), outward to frame 0
        if (cold().replay_pos > 0) return replay_seek(cold().replay_pos - 1);
        end_replay();
        return;
    }
    if (hot().recording && !hot().on_cursor && record_step()) return; // unwind/walk_cache.cpp
    if (cold().fast) return fast_advance();
    unw_advance(true);
}

void WalkerImpl::report_too_deep() noexcept {
    w_.report(0, "stack has more than %u frames: stopped walking", Walker::kMaxFrames);
    hot().failed = true;
}

// On entry the cursor stands on the frame the walker last yielded (or the stub's frame when
// step_first is false); on return hot().valid tells whether it stands on a managed frame with a
// record.
void WalkerImpl::unw_advance(bool step_first) noexcept {
    hot().valid = false;
    WalkFrame& frame = w_.frame_;
    for (;;) {
        if (step_first) {
            const int rc = unw_step(&cold().cursor);
            if (rc == 0) return; // the outermost frame
            if (rc < 0) {
                unw_word_t ip = 0;
                unw_get_reg(&cold().cursor, UNW_REG_IP, &ip);
                w_.report(ip,
                          "unwind failed after the frame at 0x%" PRIx64 ": unw_step returned %d",
                          static_cast<uint64_t>(ip), rc);
                hot().failed = true; // the rest of the stack is unreachable in any mode
                return;
            }
            ++frame.depth;
        }
        step_first = true;
        if (frame.depth >= Walker::kMaxFrames) return report_too_deep();
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(&cold().cursor, UNW_REG_IP, &ip);
        unw_get_reg(&cold().cursor, UNW_REG_SP, &sp);
        if (hot().stop_sp != 0 && sp > hot().stop_sp) return; // below the managed frames

        const CallSite* site = nullptr;
        const FrameRecord* function = nullptr;
        switch (hot().index->classify(ip, &site, &function)) {
        case Lookup::NotManaged: continue;
        case Lookup::ManagedNoRecord:
            report_missing_record(static_cast<uint64_t>(ip), function);
            if (hot().failed) return;
            continue;
        case Lookup::Safepoint:
            frame.return_address = ip;
            frame.sp = sp;
            frame.site = site;
            load_frame();
            hot().valid = true;
            return;
        }
    }
}

// Where each callee-saved register of the cursor's frame lives, per libunwind. A location inside
// the captured context copy is marked so: reading it is right, writing it is lost. A location
// inside the synthesised context (the fast walker's seed) is the register carried there.
void WalkerImpl::load_frame() noexcept {
    const auto synth = reinterpret_cast<uintptr_t>(cold().synth.uc_mcontext.gregs);
    const auto ctx_lo = reinterpret_cast<uintptr_t>(cold().ctx->unwind_context);
    RegisterMap& regs = hot().regs;
    regs.in_context = 0;
    for (unsigned i = 0; i < kNumCalleeSaved; ++i) {
        regs.where[i] = nullptr;
        unw_save_loc_t loc;
        std::memset(&loc, 0, sizeof loc);
        if (unw_get_save_loc(&cold().cursor, kCalleeSaved[i], &loc) != 0 ||
            loc.type != UNW_SLT_MEMORY)
            continue;
        const auto addr = static_cast<uintptr_t>(loc.u.addr);
        if (cold().fast && addr >= synth && addr < synth + sizeof(gregset_t)) {
            regs.where[i] = seeded_where(static_cast<int>((addr - synth) / sizeof(greg_t)));
            continue;
        }
        regs.where[i] = reinterpret_cast<uint64_t*>(addr);
        if (addr >= ctx_lo && addr < ctx_lo + sizeof cold().ctx->unwind_context)
            regs.in_context |= static_cast<uint8_t>(1u << i);
    }
}

void WalkerImpl::report_missing_record(uint64_t ip, const FrameRecord* function) noexcept {
    const auto images = hot().index->images();
    const char* image =
        function && function->image < images.size() ? images[function->image].name.c_str() : "?";
    w_.report(ip,
              "return address 0x%" PRIx64 " is inside managed function 0x%" PRIx64 "-0x%" PRIx64
              " (%s) but has no stack map record",
              ip, function ? function->function_address : 0,
              function ? function->function_address + function->function_size : 0, image);
}

} // namespace detail
} // namespace gcwalk
