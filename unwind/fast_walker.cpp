// The fast walker (WalkerKind::Fast): steps managed frames with their CFI-derived FrameRules alone,
// and native frames with the rules of their images' CFI (NativeFrames), carrying where each
// callee-saved register lives; a frame without an exact rule is handed to libunwind seeded with
// the carried registers, and rule stepping resumes at the next managed frame with an exact rule.
//
// Seeding: libunwind starts from a ucontext synthesized at the native frame (RIP, RSP and the six
// callee-saved values), not from the captured context stepped down to it — that would cost one
// unw_step (~650 ns) per frame walked before. A save location libunwind then reports inside the
// synthesized context means "not saved by the native frames": it maps back to the carried one.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <gcwalk/detail/native_frames.hpp>
#include <gcwalk/walker.hpp>

#include "frame_rules.hpp"

#include <ucontext.h>

#include <cinttypes>
#include <cstring>

namespace gcwalk {

static_assert(sizeof(ucontext_t) <= 1024, "Walker::synth_ is too small for a ucontext_t");
static_assert(sizeof(unw_context_t) == sizeof(ucontext_t), "libunwind's x86-64 context is a ucontext_t");

namespace {

// gcwalk_safepoint_enter's pushes (unwind/safepoint_entry.S) as offsets from its CFA, which is
// SafepointContext::caller_sp; in kCalleeSaved order: rbx, rbp, r12, r13, r14, r15.
constexpr int kStubSave[6] = {-24, -16, -32, -40, -48, -56};
// ucontext gregs index of each kCalleeSaved register.
constexpr int kGreg[6] = {REG_RBX, REG_RBP, REG_R12, REG_R13, REG_R14, REG_R15};

unw_cursor_t* as_cursor(unsigned char* bytes) noexcept { return reinterpret_cast<unw_cursor_t*>(bytes); }

// A caller's frame lies above its callee's, within 1 GiB, 8-aligned: a rule that says otherwise
// meets a corrupt stack, and the walk stops instead of reading wild memory.
bool plausible_step(uint64_t sp, uint64_t cfa) noexcept {
    return cfa > sp && cfa - sp < (uint64_t{1} << 30) && (cfa & 7) == 0;
}

} // namespace

// On return the walker stands on the first managed frame (valid_), or the walk ended.
void Walker::fast_start() noexcept {
    valid_ = false;
    frame_.depth = 0;
    in_context_ = 0;
    if (ctx_->caller_sp != 0 && ctx_->caller_return_address != 0) {
        // The stub's frame is known exactly: start at its caller with the stub's six save slots.
        for (int i = 0; i < 6; ++i)
            where_[i] = reinterpret_cast<uint64_t*>(ctx_->caller_sp + static_cast<int64_t>(kStubSave[i]));
        frame_.depth = 1;
        fast_arrive(ctx_->caller_return_address, ctx_->caller_sp);
        // The walk cache serves walks whose first frame is the stub's caller, reached by its rule.
        if (cache_ && valid_ && !on_cursor_ && frame_.sp == ctx_->caller_sp) cache_start(); // walk_cache.cpp
        return;
    }
    // A context the stub did not capture: libunwind from the context itself.
    for (int i = 0; i < 6; ++i) seed_[i] = where_[i] = nullptr;
    auto* uc = reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx_->unwind_context));
    if (int rc = unw_init_local(as_cursor(cursor_), uc); rc != 0) {
        report(0, "unw_init_local failed (%d) on the safepoint context", rc);
        failed_ = true;
        return;
    }
    on_cursor_ = true;
    fast_cursor(false);
}

__attribute__((cold, noinline)) void Walker::clear_memo() noexcept {
    std::memset(memo_, 0, sizeof memo_);
    memo_ready_ = true;
}

// On entry the walker stands on a managed frame; on return on the next one, or !valid().
void Walker::fast_advance() noexcept {
    valid_ = false;
    if (on_cursor_) return fast_cursor(true);
    const FrameRule& r = index_->rule(*frame_.site);
    uint64_t cfa;
    if (!rule_cfa(r, frame_.sp, where_, &cfa)) {
        report(frame_.return_address,
               "frame at return address 0x%" PRIx64 ": its CFA is based on r%u, whose value is unknown",
               frame_.return_address, r.cfa_reg);
        failed_ = true;
        return;
    }
    if (!plausible_step(frame_.sp, cfa)) {
        report(frame_.return_address,
               "frame at return address 0x%" PRIx64 " with SP 0x%" PRIx64 ": its rule gives the caller's SP 0x%" PRIx64
               ", not above it (corrupt stack?)",
               frame_.return_address, frame_.sp, cfa);
        failed_ = true;
        return;
    }
    in_context_ &= static_cast<uint8_t>(~rule_move_saves(r, cfa, where_));
    uint64_t ra;
    std::memcpy(&ra, reinterpret_cast<const void*>(cfa - 8), sizeof ra);
    if (++frame_.depth >= kMaxFrames) {
        report(0, "stack has more than %u frames: stopped walking", kMaxFrames);
        failed_ = true;
        return;
    }
    fast_arrive(ra, cfa);
    stepped_by_rule_ = valid_ && !on_cursor_ && frame_.sp == cfa;
    if (recording_) {
        if (stepped_by_rule_) append_frame(frame_);
        else cache_stop(); // the walk ended, or went on through libunwind (not recorded)
    }
}

// The walker reached frame (ip, sp) by a rule, with where_ describing its registers. A safepoint
// with an exact rule is yielded; a native frame with an exact rule is stepped by it, and so on;
// anything else (a frame without an exact rule, a managed frame without a record) is handed to
// libunwind, seeded at this frame.
void Walker::fast_arrive(uint64_t ip, uint64_t sp) noexcept {
    const NativeFrames* native = nullptr;
    for (;;) {
        if (ip == 0) return; // the outermost frame's return address: the end
        if (options_.stop_sp != 0 && sp > options_.stop_sp) return; // below the managed frames
        const CallSite* site = index_->find(ip);
        if (site && (index_->rule(*site).flags & kRuleFromCfi)) {
            on_cursor_ = false;
            return fast_yield(ip, sp, site);
        }
        if (site) break; // managed, without an exact rule
        // A native frame: stepped by its image's CFI rule when there is an exact one.
        cache_stop(); // (native frames are not recorded)
        if (!native && !(native = index_->native_frames())) break;
        FrameRule r;
        const NativeFrames::Kind kind = native->lookup(ip, *index_, &r);
        if (kind == NativeFrames::Kind::Libunwind) break;
        uint64_t cfa;
        if (!rule_cfa(r, sp, where_, &cfa)) break; // its base register's value is unknown: libunwind's
        if (!plausible_step(sp, cfa)) break;       // libunwind decides (and reports)
        ++native_rule_steps_;
        if (kind == NativeFrames::Kind::Outermost) return; // the end of the stack
        in_context_ &= static_cast<uint8_t>(~rule_move_saves(r, cfa, where_));
        std::memcpy(&ip, reinterpret_cast<const void*>(cfa - 8), sizeof ip);
        sp = cfa;
        if (++frame_.depth >= kMaxFrames) {
            report(0, "stack has more than %u frames: stopped walking", kMaxFrames);
            failed_ = true;
            return;
        }
    }
    auto* uc = reinterpret_cast<ucontext_t*>(synth_);
    std::memset(uc, 0, sizeof *uc);
    greg_t* g = uc->uc_mcontext.gregs;
    g[REG_RIP] = static_cast<greg_t>(ip);
    g[REG_RSP] = static_cast<greg_t>(sp);
    for (int i = 0; i < 6; ++i) {
        seed_[i] = where_[i];
        g[kGreg[i]] = where_[i] ? static_cast<greg_t>(*where_[i]) : 0;
    }
    if (int rc = unw_init_local(as_cursor(cursor_), reinterpret_cast<unw_context_t*>(uc)); rc != 0) {
        report(ip, "unw_init_local failed (%d) at the native frame 0x%" PRIx64, rc, ip);
        failed_ = true;
        return;
    }
    on_cursor_ = true;
    fast_cursor(false);
}

// libunwind's part: on entry the cursor stands on a frame (to be classified when step_first is
// false, already yielded when true); on return the walker stands on the next managed frame with a
// record, or the walk ended. The frame is yielded with where_ read from libunwind's save locations.
void Walker::fast_cursor(bool step_first) noexcept {
    cache_stop(); // frames found by libunwind are not recorded: its reads are not known
    unw_cursor_t* c = as_cursor(cursor_);
    for (;;) {
        if (step_first) {
            const int rc = unw_step(c);
            ++libunwind_steps_;
            if (rc == 0) return;
            if (rc < 0) {
                unw_word_t ip = 0;
                unw_get_reg(c, UNW_REG_IP, &ip);
                report(ip, "unwind failed after the frame at 0x%" PRIx64 ": unw_step returned %d",
                       static_cast<uint64_t>(ip), rc);
                failed_ = true;
                return;
            }
            if (++frame_.depth >= kMaxFrames) {
                report(0, "stack has more than %u frames: stopped walking", kMaxFrames);
                failed_ = true;
                return;
            }
        }
        step_first = true;
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(c, UNW_REG_IP, &ip);
        unw_get_reg(c, UNW_REG_SP, &sp);
        if (options_.stop_sp != 0 && sp > options_.stop_sp) return;
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
            break;
        }
        // Where this frame's callee-saved registers live, per libunwind; a location inside the
        // synthesized context is the carried one; inside the captured context it is read-only.
        const auto synth = reinterpret_cast<uintptr_t>(reinterpret_cast<ucontext_t*>(synth_)->uc_mcontext.gregs);
        const auto ctx_lo = reinterpret_cast<uintptr_t>(ctx_->unwind_context);
        in_context_ = 0;
        for (int i = 0; i < 6; ++i) {
            unw_save_loc_t loc;
            std::memset(&loc, 0, sizeof loc);
            where_[i] = nullptr;
            if (unw_get_save_loc(c, kCalleeSaved[i], &loc) != 0 || loc.type != UNW_SLT_MEMORY) continue;
            const auto addr = static_cast<uintptr_t>(loc.u.addr);
            if (addr >= synth && addr < synth + sizeof(gregset_t)) {
                const auto greg = static_cast<int>((addr - synth) / sizeof(greg_t));
                for (int k = 0; k < 6; ++k)
                    if (kGreg[k] == greg) where_[i] = seed_[k];
            } else {
                where_[i] = reinterpret_cast<uint64_t*>(addr);
                if (addr >= ctx_lo && addr < ctx_lo + sizeof ctx_->unwind_context)
                    in_context_ |= static_cast<uint8_t>(1u << i);
            }
        }
        // The next step is by rule when this frame has an exact one.
        on_cursor_ = !(index_->rule(*site).flags & kRuleFromCfi);
        return fast_yield(ip, sp, site);
    }
}

void Walker::fast_yield(uint64_t ip, uint64_t sp, const CallSite* site) noexcept {
    frame_.return_address = ip;
    frame_.sp = sp;
    frame_.site = site;
    valid_ = true;
    by_rule_ = !on_cursor_ && !recording_; // the next step is Walker::rule_step's when it can
}

} // namespace gcwalk
