// The fast walker (WalkerKind::Fast): steps managed frames with their CFI-derived FrameRules alone,
// and native frames with the rules of their images' CFI (NativeFrames), carrying where each
// callee-saved register lives (detail::RegisterMap); a frame without an exact rule is handed to
// libunwind seeded with the carried registers, and rule stepping resumes at the next managed
// frame with an exact rule. The common step is inline (detail::rule_step); this is the rest.
//
// Seeding: libunwind starts from a ucontext synthesized at the native frame (RIP, RSP and the six
// callee-saved values), not from the captured context stepped down to it — that would cost one
// unw_step per frame walked before (docs/PERFORMANCE.md). A save location libunwind then reports
// inside the synthesized context means "not saved by the native frames": it maps back to the
// carried one.
#include "walker_impl.hpp"

#include <gcwalk/detail/native_frames.hpp>

#include "frame_rules.hpp"

#include <cinttypes>
#include <cstring>

namespace gcwalk::detail {

static_assert(sizeof(unw_context_t) == sizeof(ucontext_t),
              "libunwind's x86-64 context is a ucontext_t");

namespace {

// gcwalk_safepoint_enter's pushes (unwind/safepoint_entry.S) as offsets from its CFA, which is
// SafepointContext::caller_sp; in kCalleeSaved order: rbx, rbp, r12, r13, r14, r15.
constexpr int kStubSave[kNumCalleeSaved] = {-24, -16, -32, -40, -48, -56};
// ucontext gregs index of each kCalleeSaved register.
constexpr int kGreg[kNumCalleeSaved] = {REG_RBX, REG_RBP, REG_R12, REG_R13, REG_R14, REG_R15};

// A caller's frame lies above its callee's, within 1 GiB, 8-aligned: a rule that says otherwise
// meets a corrupt stack, and the walk stops instead of reading wild memory.
bool plausible_step(uint64_t sp, uint64_t cfa) noexcept {
    return cfa > sp && cfa - sp < (uint64_t{1} << 30) && (cfa & 7) == 0;
}

uint64_t return_address_at(uint64_t cfa) noexcept {
    uint64_t ra;
    std::memcpy(&ra, reinterpret_cast<const void*>(cfa - kReturnAddressBelowCfa), sizeof ra);
    return ra;
}

} // namespace

// On return the walker stands on the first managed frame (valid), or the walk ended.
void WalkerImpl::fast_start() noexcept {
    hot().valid = false;
    w_.frame_.depth = 0;
    hot().regs.in_context = 0;
    const SafepointContext& ctx = *cold().ctx;
    if (ctx.caller_sp != 0 && ctx.caller_return_address != 0) {
        // The stub's frame is known exactly: start at its caller with the stub's six save slots.
        for (unsigned i = 0; i < kNumCalleeSaved; ++i)
            hot().regs.where[i] =
                reinterpret_cast<uint64_t*>(ctx.caller_sp + static_cast<int64_t>(kStubSave[i]));
        w_.frame_.depth = 1;
        fast_arrive(ctx.caller_return_address, ctx.caller_sp);
        // The walk cache serves walks whose first frame is the stub's caller, reached by its rule.
        if (cold().cache && hot().valid && !hot().on_cursor && w_.frame_.sp == ctx.caller_sp)
            cache_start();
        return;
    }
    // A context the stub did not capture: libunwind from the context itself.
    for (unsigned i = 0; i < kNumCalleeSaved; ++i) cold().seed[i] = hot().regs.where[i] = nullptr;
    auto* uc = reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context));
    if (int rc = unw_init_local(&cold().cursor, uc); rc != 0) {
        w_.report(0, "unw_init_local failed (%d) on the safepoint context", rc);
        hot().failed = true;
        return;
    }
    hot().on_cursor = true;
    fast_cursor(false);
}

// On entry the walker stands on a managed frame; on return on the next one, or !valid(). The
// step rule_step declined, with every check and message.
void WalkerImpl::fast_advance() noexcept {
    hot().valid = false;
    if (hot().on_cursor) return fast_cursor(true);
    WalkFrame& frame = w_.frame_;
    const FrameRule& r = hot().index->rule(*frame.site);
    uint64_t cfa;
    if (!rule_cfa(r, frame.sp, hot().regs.where, &cfa)) {
        w_.report(frame.return_address,
                  "frame at return address 0x%" PRIx64
                  ": its CFA is based on r%u, whose value is unknown",
                  frame.return_address, r.cfa_reg);
        hot().failed = true;
        return;
    }
    if (!plausible_step(frame.sp, cfa)) {
        w_.report(frame.return_address,
                  "frame at return address 0x%" PRIx64 " with SP 0x%" PRIx64
                  ": its rule gives the caller's SP 0x%" PRIx64 ", not above it (corrupt stack?)",
                  frame.return_address, frame.sp, cfa);
        hot().failed = true;
        return;
    }
    hot().regs.in_context &= static_cast<uint8_t>(~rule_move_saves(r, cfa, hot().regs.where));
    if (++frame.depth >= Walker::kMaxFrames) return report_too_deep();
    fast_arrive(return_address_at(cfa), cfa);
    cold().stepped_by_rule = hot().valid && !hot().on_cursor && frame.sp == cfa;
    if (hot().recording) {
        if (cold().stepped_by_rule)
            append(frame);
        else
            cache_stop(); // the walk ended, or went on through libunwind (not recorded)
    }
}

// The walker reached frame (ip, sp) by a rule, with hot().regs describing its registers. A
// safepoint with an exact rule is yielded; a native frame with an exact rule is stepped by it, and
// so on; anything else (a frame without an exact rule, a managed frame without a record) is handed
// to libunwind, seeded at this frame.
void WalkerImpl::fast_arrive(uint64_t ip, uint64_t sp) noexcept {
    const NativeFrames* native = nullptr;
    for (;;) {
        if (ip == 0) return; // the outermost frame's return address: the end
        if (hot().stop_sp != 0 && sp > hot().stop_sp) return; // below the managed frames
        const CallSite* site = hot().index->find(ip);
        if (site && (hot().index->rule(*site).flags & kRuleFromCfi)) {
            hot().on_cursor = false;
            return fast_yield(ip, sp, site);
        }
        if (site) break; // managed, without an exact rule
        // A native frame: stepped by its image's CFI rule when there is an exact one.
        cache_stop(); // (native frames are not recorded)
        if (!native && !(native = hot().index->native_frames())) break;
        FrameRule r;
        const NativeFrames::Kind kind = native->lookup(ip, *hot().index, &r);
        if (kind == NativeFrames::Kind::Libunwind) break;
        uint64_t cfa;
        if (!rule_cfa(r, sp, hot().regs.where, &cfa))
            break;                           // its base register's value is unknown:
        if (!plausible_step(sp, cfa)) break; // libunwind decides (and reports)
        ++cold().native_rule_steps;
        if (kind == NativeFrames::Kind::Outermost) return; // the end of the stack
        hot().regs.in_context &= static_cast<uint8_t>(~rule_move_saves(r, cfa, hot().regs.where));
        ip = return_address_at(cfa);
        sp = cfa;
        if (++w_.frame_.depth >= Walker::kMaxFrames) return report_too_deep();
    }
    seed_cursor(ip, sp);
}

// Hands frame (ip, sp) to libunwind: a ucontext with its RIP, RSP and the carried callee-saved
// values, the carried save slots remembered in cold().seed.
void WalkerImpl::seed_cursor(uint64_t ip, uint64_t sp) noexcept {
    ucontext_t* uc = &cold().synth;
    std::memset(uc, 0, sizeof *uc);
    greg_t* g = uc->uc_mcontext.gregs;
    g[REG_RIP] = static_cast<greg_t>(ip);
    g[REG_RSP] = static_cast<greg_t>(sp);
    for (unsigned i = 0; i < kNumCalleeSaved; ++i) {
        cold().seed[i] = hot().regs.where[i];
        g[kGreg[i]] = hot().regs.where[i] ? static_cast<greg_t>(*hot().regs.where[i]) : 0;
    }
    if (int rc = unw_init_local(&cold().cursor, reinterpret_cast<unw_context_t*>(uc)); rc != 0) {
        w_.report(ip, "unw_init_local failed (%d) at the native frame 0x%" PRIx64, rc, ip);
        hot().failed = true;
        return;
    }
    hot().on_cursor = true;
    fast_cursor(false);
}

uint64_t* WalkerImpl::seeded_where(int greg) const noexcept {
    for (unsigned k = 0; k < kNumCalleeSaved; ++k)
        if (kGreg[k] == greg) return cold().seed[k];
    return nullptr;
}

// libunwind's part: on entry the cursor stands on a frame (to be classified when step_first is
// false, already yielded when true); on return the walker stands on the next managed frame with a
// record, or the walk ended. The frame is yielded with hot().regs read from libunwind's save
// locations (load_frame).
void WalkerImpl::fast_cursor(bool step_first) noexcept {
    cache_stop(); // frames found by libunwind are not recorded: its reads are not known
    for (;;) {
        if (step_first) {
            const int rc = unw_step(&cold().cursor);
            ++cold().libunwind_steps;
            if (rc == 0) return;
            if (rc < 0) {
                unw_word_t ip = 0;
                unw_get_reg(&cold().cursor, UNW_REG_IP, &ip);
                w_.report(ip,
                          "unwind failed after the frame at 0x%" PRIx64 ": unw_step returned %d",
                          static_cast<uint64_t>(ip), rc);
                hot().failed = true;
                return;
            }
            if (++w_.frame_.depth >= Walker::kMaxFrames) return report_too_deep();
        }
        step_first = true;
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(&cold().cursor, UNW_REG_IP, &ip);
        unw_get_reg(&cold().cursor, UNW_REG_SP, &sp);
        if (hot().stop_sp != 0 && sp > hot().stop_sp) return;
        const CallSite* site = nullptr;
        const FrameRecord* function = nullptr;
        switch (hot().index->classify(ip, &site, &function)) {
        case Lookup::NotManaged: continue;
        case Lookup::ManagedNoRecord:
            report_missing_record(static_cast<uint64_t>(ip), function);
            if (hot().failed) return;
            continue;
        case Lookup::Safepoint: break;
        }
        load_frame();
        // The next step is by rule when this frame has an exact one.
        hot().on_cursor = !(hot().index->rule(*site).flags & kRuleFromCfi);
        return fast_yield(ip, sp, site);
    }
}

void WalkerImpl::fast_yield(uint64_t ip, uint64_t sp, const CallSite* site) noexcept {
    WalkFrame& frame = w_.frame_;
    frame.return_address = ip;
    frame.sp = sp;
    frame.site = site;
    hot().valid = true;
    hot().by_rule =
        !hot().on_cursor && !hot().recording; // the next step is rule_step's when it can
}

} // namespace gcwalk::detail
