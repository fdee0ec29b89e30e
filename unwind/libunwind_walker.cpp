// The libunwind walker: unw_step from the context the safepoint stub captured, stopping at every
// frame whose return address has a stack map record.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <gcwalk/statepoint.hpp>
#include <gcwalk/walker.hpp>

#include "frame_rules.hpp"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace gcwalk {

static_assert(sizeof(unw_context_t) <= sizeof(SafepointContext::unwind_context),
              "SafepointContext::unwind_context is too small for unw_context_t");
static_assert(alignof(unw_context_t) <= alignof(SafepointContext), "unw_context_t needs more alignment");
static_assert(sizeof(unw_cursor_t) <= 1024, "Walker::cursor_ is too small for unw_cursor_t");
static_assert(alignof(unw_cursor_t) <= 16, "unw_cursor_t needs more alignment");

namespace {

unw_cursor_t* as_cursor(const unsigned char* bytes) noexcept {
    return reinterpret_cast<unw_cursor_t*>(const_cast<unsigned char*>(bytes));
}

} // namespace

Walker::Walker(const SafepointContext& ctx, const FrameIndex& index, const WalkOptions& options) noexcept
    : ctx_(&ctx), index_(&index), options_(options) {
    if (options.walker == WalkerKind::Fast) {
        fast_ = true;
        cache_ = options.cache;
        fast_start(); // unwind/fast_walker.cpp
        return;
    }
    // libunwind reads the context in place (local unwinding) and never writes it while we only
    // step and read; the const_cast is for its C signature.
    auto* uc = reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context));
    int rc = unw_init_local(as_cursor(cursor_), uc);
    if (rc != 0) {
        report(0, "unw_init_local failed (%d) on the safepoint context", rc);
        failed_ = true; // no frame can be walked, whatever the mode
        return;
    }
    advance(false);
}

void Walker::next_slow() noexcept {
    by_rule_ = false;
    if (!valid_) return;
    if (replaying_) { // frames from the WalkCache (unwind/walk_cache.cpp), outward to frame 0
        if (replay_pos_ > 0) return replay_seek(replay_pos_ - 1);
        replaying_ = false; // frame 0 is current: step on from it
        fast_advance();
        // A rule step past the cache's outermost frame: the cache ended short of the walk (the
        // walk that recorded it was cut short, or ran out of room); the next walk records anew.
        if (stepped_by_rule_) cache_->frames_ = 0;
        return;
    }
    if (recording_ && !on_cursor_ && record_step()) return; // unwind/walk_cache.cpp
    if (fast_) return fast_advance();
    advance(true);
}

void Walker::report(uint64_t address, const char* fmt, ...) noexcept {
    error_.address = address;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(error_.message, sizeof error_.message, fmt, ap);
    va_end(ap);
    if (options_.precise) {
        failed_ = true;
        valid_ = false;
        by_rule_ = false;
    } else {
        ++skipped_;
    }
}

// On entry the cursor stands on the frame the walker last yielded (or the stub's frame when
// step_first is false); on return valid_ tells whether it stands on a managed frame with a record.
void Walker::advance(bool step_first) noexcept {
    valid_ = false;
    unw_cursor_t* c = as_cursor(cursor_);
    for (;;) {
        if (step_first) {
            int rc = unw_step(c);
            if (rc == 0) return; // the outermost frame
            if (rc < 0) {
                unw_word_t ip = 0;
                unw_get_reg(c, UNW_REG_IP, &ip);
                report(ip, "unwind failed after the frame at 0x%" PRIx64 ": unw_step returned %d",
                       static_cast<uint64_t>(ip), rc);
                failed_ = true; // the rest of the stack is unreachable in any mode
                return;
            }
            ++frame_.depth;
        }
        step_first = true;
        if (frame_.depth >= kMaxFrames) {
            report(0, "stack has more than %u frames: stopped walking", kMaxFrames);
            failed_ = true;
            return;
        }
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(c, UNW_REG_IP, &ip);
        unw_get_reg(c, UNW_REG_SP, &sp);
        if (options_.stop_sp != 0 && sp > options_.stop_sp) return; // below the managed frames

        const CallSite* site = nullptr;
        const FrameRecord* function = nullptr;
        switch (index_->classify(ip, &site, &function)) {
        case Lookup::NotManaged:
            continue;
        case Lookup::ManagedNoRecord:
            report_missing_record(static_cast<uint64_t>(ip), function);
            if (failed_) return;
            continue;
        case Lookup::Safepoint:
            frame_.return_address = ip;
            frame_.sp = sp;
            frame_.site = site;
            if (!load_frame()) return;
            valid_ = true;
            return;
        }
    }
}

// Reads where each callee-saved register of the cursor's frame lives. A save location inside
// the captured context copy is remembered as such: reading it is right, writing it is lost.
bool Walker::load_frame() noexcept {
    unw_cursor_t* c = as_cursor(cursor_);
    const auto lo = reinterpret_cast<uintptr_t>(ctx_->unwind_context);
    const auto hi = lo + sizeof ctx_->unwind_context;
    in_context_ = 0;
    for (int i = 0; i < 6; ++i) {
        saved_[i] = nullptr;
        unw_save_loc_t loc;
        std::memset(&loc, 0, sizeof loc);
        if (unw_get_save_loc(c, kCalleeSaved[i], &loc) != 0 || loc.type != UNW_SLT_MEMORY) continue;
        const auto addr = static_cast<uintptr_t>(loc.u.addr);
        if (addr >= lo && addr < hi)
            in_context_ |= static_cast<uint8_t>(1u << i);
        else
            saved_[i] = reinterpret_cast<uint64_t*>(addr);
    }
    return true;
}

uint64_t* Walker::register_slot(uint32_t dwarf_reg) const noexcept {
    int i = callee_saved_index(dwarf_reg);
    if (i < 0) return nullptr;
    if (fast_) return (in_context_ >> i & 1u) ? nullptr : where_[i]; // the fast walker keeps no saved_
    return saved_[i];
}

bool Walker::register_in_context(uint32_t dwarf_reg) const noexcept {
    int i = callee_saved_index(dwarf_reg);
    return i >= 0 && (in_context_ >> i & 1u);
}

bool Walker::register_value(uint32_t dwarf_reg, uint64_t* value) const noexcept {
    if (dwarf_reg == 7) { // RSP
        *value = frame_.sp;
        return true;
    }
    int i = callee_saved_index(dwarf_reg);
    if (i < 0) return false; // caller-saved: dead at a call site
    if (!fast_ && saved_[i]) {
        *value = *saved_[i];
        return true;
    }
    if (fast_) { // the fast walker carries where every register it knows lives
        if (!where_[i]) return false;
        *value = *where_[i];
        return true;
    }
    // Not saved by any frame in between: still in the register the context captured.
    unw_word_t v = 0;
    if (unw_get_reg(as_cursor(cursor_), static_cast<int>(dwarf_reg), &v) != 0) return false;
    *value = v;
    return true;
}

bool Walker::record(RecordRef* out) const noexcept {
    return valid_ && frame_.site && index_->record(*frame_.site, out);
}

bool Walker::resolve(const StackMapBlob& blob, const Location& loc, ResolvedLocation* out) const noexcept {
    *out = ResolvedLocation{};
    const uint32_t size = loc.size == 0 || loc.size > 8 ? 8 : loc.size;
    const uint64_t mask = size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
    uint64_t reg = 0;
    switch (loc.kind) {
    case LocationKind::Constant:
    case LocationKind::ConstantIndex:
        if (loc.kind == LocationKind::ConstantIndex && static_cast<uint32_t>(loc.offset) >= blob.num_constants())
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

void Walker::report_missing_record(uint64_t ip, const FrameRecord* function) noexcept {
    const auto images = index_->images();
    const char* image = function && function->image < images.size() ? images[function->image].name.c_str() : "?";
    report(ip,
           "return address 0x%" PRIx64 " is inside managed function 0x%" PRIx64 "-0x%" PRIx64
           " (%s) but has no stack map record",
           ip, function ? function->function_address : 0,
           function ? function->function_address + function->function_size : 0, image);
}

} // namespace gcwalk
