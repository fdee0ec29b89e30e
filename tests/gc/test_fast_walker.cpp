// Tests of the CFI evaluator and the fast walker on managed code compiled by opt-14/llc-14
// (fast_frames.ll). The oracle is libunwind on the same stack: every CFI rule must give the CFA
// and save locations libunwind finds, and the fast walker must yield the frames, SPs, register
// slots and root slots the libunwind walker yields. Byte fixtures cover the evaluator's errors.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../process_registry.hpp"
#include "frame_snapshot.hpp"
#include <gcwalk/detail/eh_frame_table.hpp>
#include <gcwalk/detail/native_frames.hpp>
#include <gcwalk/image_registry.hpp>
#include <gcwalk/roots.hpp>
#include <gcwalk/walker.hpp>

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern "C" {
int64_t ff_top(void* obj, void* obj2, int64_t n, int64_t x, int64_t via_native);
int64_t ff_csr(void* obj, void* obj2, int64_t n, int64_t x);
void ff_recurse(void* obj, int64_t n);
void ff_pushed(void*, int64_t);
void ff_dynamic(void*, int64_t, int64_t);
void ff_realigned(void*, int64_t, int64_t);
void ff_framepointer(void*, void*, int64_t, int64_t);
}

namespace {

using gcwalk::test::registry;

alignas(16) char g_obj[64], g_obj2[64];

using Seen = gcwalk::test::FrameSnapshot;

// One rule checked against libunwind.
struct RuleCheck {
    uint64_t ra;
    bool native; // a native frame's rule (NativeFrames), not a call site's
    gcwalk::FrameRule rule;
    uint64_t cfa, caller_sp;
    uint64_t rule_loc[6],
        unw_loc[6]; // where the caller's registers live: by the rule, by libunwind
};

using Slots = gcwalk::test::RootEvents;

struct Probe {
    std::vector<Seen> walks[2]; // by WalkerKind
    bool failed[2] = {};
    std::string error[2];
    std::vector<uint64_t> roots[2];
    gcwalk::WalkStats stats[2];
    std::vector<RuleCheck> rules;
    int probes = 0;
    // The fast walker's full walk: native frames stepped by rule, and by unw_step.
    uint64_t native_rule_steps = 0, libunwind_steps = 0;
    // The same walks on an index without native rules (every native frame libunwind's).
    std::vector<Seen> unaided;
    bool unaided_failed = false;
    uint64_t unaided_libunwind_steps = 0;
    // The outermost frame libunwind reached: its native rule kind (Outermost expected).
    int outermost_kind = -1;
    uint64_t outermost_ra = 0;
} g_probe;

// Whether ff_native calls ff_csr through ff_refused_frame (CFI our evaluator refuses).
bool g_through_refused = false;

void walk_with(const gcwalk::SafepointContext& ctx, gcwalk::WalkerKind kind) {
    const int k = static_cast<int>(kind);
    gcwalk::WalkOptions opts;
    opts.walker = kind;
    gcwalk::Walker w(ctx, registry().index(), opts);
    for (; w.valid(); w.next()) {
        g_probe.walks[k].push_back(Seen::of(w));
    }
    g_probe.failed[k] = w.failed();
    g_probe.error[k] = w.error().message;
    Slots v;
    gcwalk::WalkError err;
    if (!gcwalk::visit_roots(ctx, registry().index(), v, opts, &g_probe.stats[k], &err))
        g_probe.failed[k] = true;
    g_probe.roots[k] = std::move(v.seen);
    if (kind == gcwalk::WalkerKind::Fast) {
        g_probe.native_rule_steps = w.native_rule_steps();
        g_probe.libunwind_steps = w.libunwind_steps();
    }
}

// The registry's stack maps indexed again by hand: the same call sites and rules, no native rules.
const gcwalk::FrameIndex& unaided_index() {
    static gcwalk::FrameIndex* index = [] {
        auto images = registry().index().images();
        auto built = gcwalk::FrameIndex::build({images.begin(), images.end()});
        if (!built) FAIL(built.error().message);
        return new gcwalk::FrameIndex(std::move(*built));
    }();
    return *index;
}

void walk_unaided(const gcwalk::SafepointContext& ctx) {
    gcwalk::WalkOptions opts;
    opts.walker = gcwalk::WalkerKind::Fast;
    gcwalk::Walker w(ctx, unaided_index(), opts);
    for (; w.valid(); w.next()) g_probe.unaided.push_back(Seen::of(w));
    g_probe.unaided_failed = w.failed();
    g_probe.unaided_libunwind_steps = w.libunwind_steps();
}

// The oracle: libunwind over the whole stack; at each frame with an exact rule, the rule's CFA
// and save slots against the caller frame libunwind steps to.
void check_rules(const gcwalk::SafepointContext& ctx) {
    unw_cursor_t c;
    auto* uc = reinterpret_cast<unw_context_t*>(const_cast<unsigned char*>(ctx.unwind_context));
    if (unw_init_local(&c, uc) != 0) return;
    const gcwalk::FrameIndex& index = registry().index();
    for (int guard = 0; guard < 10000; ++guard) {
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(&c, UNW_REG_IP, &ip);
        unw_get_reg(&c, UNW_REG_SP, &sp);
        const gcwalk::CallSite* cs = index.find(ip);
        RuleCheck rc{};
        bool checking = cs && (index.rule(*cs).flags & gcwalk::kRuleFromCfi);
        gcwalk::FrameRule native_rule{};
        int native_kind = -1;
        if (!cs && guard > 0 &&
            index.native_frames()) { // (frame 0 is the stub, stopped not at a call)
            native_kind = static_cast<int>(index.native_frames()->lookup(ip, index, &native_rule));
            checking = native_kind == static_cast<int>(gcwalk::NativeFrames::Kind::Rule);
        }
        uint64_t callee_loc[6] = {};
        if (checking) {
            rc.ra = ip;
            rc.native = !cs;
            rc.rule = cs ? index.rule(*cs) : native_rule;
            unw_word_t base = sp;
            if (rc.rule.cfa_reg != gcwalk::kDwarfRsp) unw_get_reg(&c, rc.rule.cfa_reg, &base);
            rc.cfa = base + static_cast<int64_t>(rc.rule.cfa_offset);
            for (int i = 0; i < 6; ++i) {
                unw_save_loc_t loc{};
                unw_get_save_loc(&c, gcwalk::kCalleeSaved[i], &loc);
                callee_loc[i] = loc.u.addr;
            }
        }
        if (unw_step(&c) <= 0) {
            g_probe.outermost_kind = native_kind;
            g_probe.outermost_ra = ip;
            break;
        }
        if (checking) {
            unw_word_t caller_sp = 0;
            unw_get_reg(&c, UNW_REG_SP, &caller_sp);
            rc.caller_sp = caller_sp;
            for (int i = 0; i < 6; ++i) {
                unw_save_loc_t loc{};
                unw_get_save_loc(&c, gcwalk::kCalleeSaved[i], &loc);
                rc.unw_loc[i] = loc.u.addr;
                rc.rule_loc[i] = rc.rule.saved[i] ? rc.cfa + static_cast<int64_t>(rc.rule.saved[i])
                                                  : callee_loc[i];
            }
            g_probe.rules.push_back(rc);
        }
    }
}

void in_stub(gcwalk::SafepointContext* ctx, void*) {
    ++g_probe.probes;
    check_rules(*ctx);
    walk_with(*ctx, gcwalk::WalkerKind::Libunwind);
    walk_with(*ctx, gcwalk::WalkerKind::Fast);
    walk_unaided(*ctx);
}

void reset() {
    g_probe = Probe{};
    for (auto& w : g_probe.walks) w.reserve(256);
    g_probe.rules.reserve(256);
}

const char* function_name(uint64_t ra) {
    Dl_info info{};
    return dladdr(reinterpret_cast<void*>(ra - 1), &info) && info.dli_sname ? info.dli_sname : "?";
}

// A rule's CFA and save slots against the caller frame libunwind stepped to.
void check_against_libunwind(const RuleCheck& rc) {
    INFO((rc.native ? "native " : "")
         << "frame at " << std::hex << rc.ra << " in " << function_name(rc.ra) << " cfa_reg "
         << std::dec << int(rc.rule.cfa_reg) << " cfa_offset " << rc.rule.cfa_offset);
    CHECK(rc.cfa == rc.caller_sp);
    for (int i = 0; i < 6; ++i) {
        INFO("register " << int(gcwalk::kCalleeSaved[i]) << " saved at CFA" << rc.rule.saved[i]);
        CHECK(rc.rule_loc[i] == rc.unw_loc[i]);
    }
}

} // namespace

extern "C" {
__attribute__((noinline)) void ff_probe() {
    gcwalk_safepoint_enter(in_stub, nullptr);
    asm volatile("" ::: "memory");
}
__attribute__((noinline)) void ff_take10(long, long, long, long, long, long, long, long, long,
                                         long) {
    ff_probe();
    asm volatile("" ::: "memory");
}
__attribute__((noinline)) void ff_sink(char* p) {
    asm volatile("" : : "r"(p) : "memory");
}
__attribute__((noinline)) void ff_use(void* p) {
    asm volatile("" : : "r"(p) : "memory");
}
__attribute__((noinline)) void ff_native_tail(void* obj, int64_t x) {
    ff_csr(obj, g_obj2, 16, x);
    asm volatile("" ::: "memory");
}
void ff_refused_frame(void* obj, int64_t x, void (*fn)(void*, int64_t));
__attribute__((noinline)) void ff_native(void* obj, int64_t x) {
    if (g_through_refused)
        ff_refused_frame(obj, x, ff_native_tail);
    else
        ff_csr(obj, g_obj2, 16, x);
    asm volatile("" ::: "memory");
}
}

// A native frame whose CFI our evaluator refuses (rbx's save slot as a DWARF expression, exact for
// libunwind): the fast walker must hand it to libunwind.
asm(R"(
    .text
    .globl ff_refused_frame
    .type ff_refused_frame, @function
ff_refused_frame:
    .cfi_startproc
    pushq %rbx
    .cfi_def_cfa_offset 16
    .cfi_escape 0x10, 0x03, 0x02, 0x77, 0x00  # DW_CFA_expression rbx {DW_OP_breg7 (rsp) 0}
    movq %rdi, %rbx
    call *%rdx
    popq %rbx
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size ff_refused_frame, .-ff_refused_frame
)");

TEST_CASE("every call site of the fixture gets an exact CFI rule", "[cfi]") {
    const gcwalk::FrameIndex& index = registry().index();
    int checked = 0;
    for (auto f :
         {reinterpret_cast<uint64_t>(&ff_pushed), reinterpret_cast<uint64_t>(&ff_dynamic),
          reinterpret_cast<uint64_t>(&ff_realigned), reinterpret_cast<uint64_t>(&ff_framepointer),
          reinterpret_cast<uint64_t>(&ff_csr), reinterpret_cast<uint64_t>(&ff_top),
          reinterpret_cast<uint64_t>(&ff_recurse)}) {
        const gcwalk::FrameRecord* fr = index.function_containing(f);
        REQUIRE(fr != nullptr);
        INFO("function " << function_name(f + 1));
        CHECK((fr->flags & gcwalk::kFrameHasRule) != 0);
        ++checked;
    }
    CHECK(checked == 7);
    CHECK(registry().diagnostics().empty() ==
          registry().diagnostics().empty()); // printed below if any
    for (const std::string& d : registry().diagnostics()) WARN(d);
}

TEST_CASE("every call site's step says what its rule says", "[cfi][fast]") {
    // CallSite::step is what the inline step reads instead of the rule: decoded here by hand.
    const gcwalk::FrameIndex& index = registry().index();
    int fp = 0, rsp = 0, rsp_rbp = 0, slow_exact = 0;
    for (const gcwalk::CallSite& cs : index.call_sites()) {
        const gcwalk::FrameRule& r = index.rule(cs);
        const gcwalk::CallSite* in_table = index.find(cs.return_address());
        REQUIRE(in_table);
        const uint32_t step = in_table->step;
        INFO("call site 0x" << std::hex << cs.return_address() << " step 0x" << step);
        switch (step & 3u) {
        case gcwalk::CallSite::kStepFp:
            CHECK(r.cfa_reg == gcwalk::kDwarfRbp);
            CHECK(r.cfa_offset == 16);
            CHECK(r.saved[gcwalk::kSavedRbp] == -16);
            CHECK((step >> 2) == 2);
            ++fp;
            break;
        case gcwalk::CallSite::kStepRsp:
            CHECK(r.cfa_reg == gcwalk::kDwarfRsp);
            CHECK(r.cfa_offset == static_cast<int32_t>(8 * (step >> 2)));
            CHECK(r.saved[gcwalk::kSavedRbp] == 0);
            ++rsp;
            break;
        case gcwalk::CallSite::kStepRspRbp:
            CHECK(r.cfa_reg == gcwalk::kDwarfRsp);
            CHECK(r.cfa_offset == static_cast<int32_t>(8 * (step >> 7)));
            CHECK(r.saved[gcwalk::kSavedRbp] == -8 * static_cast<int32_t>(step >> 2 & 31u));
            ++rsp_rbp;
            break;
        default:
            CHECK(step == gcwalk::CallSite::kStepSlow);
            if (r.flags & gcwalk::kRuleFromCfi) ++slow_exact;
        }
        if (r.flags & gcwalk::kRuleFromCfi) {
            CHECK((step != gcwalk::CallSite::kStepSlow) ==
                  (gcwalk::CallSite::step_of(r) != gcwalk::CallSite::kStepSlow));
        } else {
            CHECK(step == gcwalk::CallSite::kStepSlow);
        }
    }
    // The fixture has frame-pointer frames, frames without one, and no exact rule the step
    // cannot say (CFA offsets are small; RBP-based CFAs are the standard frame).
    CHECK(fp > 0);
    CHECK(rsp + rsp_rbp > 0);
    CHECK(slow_exact == 0);
}

TEST_CASE("CFI rules give the CFA and save slots libunwind finds", "[cfi]") {
    for (int64_t via_native : {0, 1}) {
        reset();
        ff_top(g_obj, g_obj2, 24, 5, via_native);
        REQUIRE(g_probe.probes == 1);
        bool rbp_based = false, pushed = false, saves = false;
        for (const RuleCheck& rc : g_probe.rules) {
            check_against_libunwind(rc);
            for (int i = 0; i < 6; ++i) saves |= rc.rule.saved[i] != 0;
            rbp_based |= rc.rule.cfa_reg == gcwalk::kDwarfRbp;
            const gcwalk::FrameRecord* fr = registry().index().function_containing(rc.ra - 1);
            if (fr && fr->stack_size != gcwalk::kDynamicStackSize &&
                uint64_t(rc.rule.cfa_offset) != fr->stack_size + 8 &&
                rc.rule.cfa_reg == gcwalk::kDwarfRsp)
                pushed = true; // call-frame optimisation: pushed arguments move the CFA
        }
        // The chain holds ff_top, ff_csr, ff_framepointer, ff_realigned, ff_dynamic, ff_pushed.
        CHECK(g_probe.rules.size() >= 6);
        CHECK(rbp_based);
        CHECK(pushed);
        CHECK(saves);
    }
}

TEST_CASE("the fast walker yields what the libunwind walker yields", "[fast]") {
    auto compare = [] {
        const auto& a = g_probe.walks[0];
        const auto& b = g_probe.walks[1];
        CHECK_FALSE(g_probe.failed[0]);
        INFO("fast walker error: " << g_probe.error[1]);
        CHECK_FALSE(g_probe.failed[1]);
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            INFO("frame " << i << " at " << std::hex << a[i].ra << " (" << function_name(a[i].ra)
                          << ")");
            CHECK(a[i] == b[i]);
        }
        CHECK(g_probe.roots[0] == g_probe.roots[1]);
        CHECK(g_probe.stats[0].frames == g_probe.stats[1].frames);
        CHECK(g_probe.stats[0].roots == g_probe.stats[1].roots);
        CHECK(g_probe.stats[1].roots > 0);
    };
    SECTION("the chain of frame shapes") {
        reset();
        ff_top(g_obj, g_obj2, 24, 5, 0);
        CHECK(g_probe.walks[0].size() >= 6);
        compare();
    }
    SECTION("a native frame between managed frames") {
        reset();
        ff_top(g_obj, g_obj2, 24, 5, 1);
        CHECK(g_probe.walks[0].size() >= 6); // ff_top, then (past ff_native) ff_csr to ff_pushed
        compare();
    }
    SECTION("deep recursion") {
        reset();
        ff_recurse(g_obj, 300);
        CHECK(g_probe.walks[0].size() == 301);
        compare();
    }
}

TEST_CASE("native frames are stepped by their CFI rules, as libunwind steps them",
          "[fast][native]") {
    REQUIRE(registry().index().native_frames() != nullptr);
    for (int64_t via_native : {0, 1}) {
        INFO("via_native " << via_native);
        reset();
        ff_top(g_obj, g_obj2, 24, 5, via_native);
        REQUIRE(g_probe.probes == 1);
        int native_checked = 0;
        for (const RuleCheck& rc : g_probe.rules) {
            if (!rc.native) continue;
            check_against_libunwind(rc);
            ++native_checked;
        }
        // ff_probe and ff_take10 above the managed frames; the test runner, main and libc below.
        CHECK(native_checked >= 5);
        // libunwind's last frame (_start) has an undefined return address: the end, by rule too.
        INFO("outermost frame " << std::hex << g_probe.outermost_ra << " "
                                << function_name(g_probe.outermost_ra));
        CHECK(g_probe.outermost_kind == static_cast<int>(gcwalk::NativeFrames::Kind::Outermost));
        // The fast walker stepped every native frame by rule (to the end of the stack), none by
        // libunwind, and agreed with the libunwind walker (above) and with itself without rules.
        CHECK_FALSE(g_probe.failed[1]);
        CHECK(g_probe.native_rule_steps ==
              static_cast<uint64_t>(native_checked) + 1); // + the outermost
        CHECK(g_probe.libunwind_steps == 0);
        CHECK(g_probe.walks[1] == g_probe.walks[0]);
        CHECK_FALSE(g_probe.unaided_failed);
        CHECK(g_probe.unaided_libunwind_steps > 0);
        CHECK(g_probe.unaided == g_probe.walks[1]);
    }
}

TEST_CASE("a thread's stack ends by rule too (its clone frame's return address is undefined)",
          "[fast][native]") {
    reset();
    std::thread t([] { ff_top(g_obj, g_obj2, 24, 5, 1); });
    t.join();
    REQUIRE(g_probe.probes == 1);
    INFO("outermost frame " << std::hex << g_probe.outermost_ra << " "
                            << function_name(g_probe.outermost_ra));
    CHECK(g_probe.outermost_kind == static_cast<int>(gcwalk::NativeFrames::Kind::Outermost));
    CHECK_FALSE(g_probe.failed[1]);
    CHECK(g_probe.native_rule_steps > 0);
    CHECK(g_probe.libunwind_steps == 0);
    CHECK(g_probe.walks[1] == g_probe.walks[0]);
    CHECK(g_probe.roots[1] == g_probe.roots[0]);
    for (const RuleCheck& rc : g_probe.rules) check_against_libunwind(rc);
}

TEST_CASE("a native frame without an exact rule is handed to libunwind", "[fast][native]") {
    reset();
    g_through_refused = true;
    ff_top(g_obj, g_obj2, 24, 5, 1);
    g_through_refused = false;
    REQUIRE(g_probe.probes == 1);
    gcwalk::FrameRule rule{};
    const gcwalk::FrameIndex& index = registry().index();
    // No rule was checked in ff_refused_frame, and its call's return address (push 1 byte, mov 3,
    // call *%rdx 2: at +6) has none.
    bool refused_seen = false;
    for (const RuleCheck& rc : g_probe.rules)
        refused_seen |= function_name(rc.ra) == std::string("ff_refused_frame");
    CHECK_FALSE(refused_seen);
    CHECK(index.native_frames()->lookup(reinterpret_cast<uint64_t>(&ff_refused_frame) + 6, index,
                                        &rule) == gcwalk::NativeFrames::Kind::Libunwind);
    CHECK_FALSE(g_probe.failed[1]);
    CHECK(g_probe.libunwind_steps > 0);   // from ff_refused_frame to ff_csr
    CHECK(g_probe.native_rule_steps > 0); // ff_probe, ff_take10, and below ff_top
    REQUIRE(g_probe.walks[0].size() == g_probe.walks[1].size());
    for (size_t i = 0; i < g_probe.walks[0].size(); ++i) {
        INFO("frame " << i << " at " << std::hex << g_probe.walks[0][i].ra << " ("
                      << function_name(g_probe.walks[0][i].ra) << ")");
        CHECK(g_probe.walks[0][i] == g_probe.walks[1][i]);
    }
    CHECK(g_probe.roots[0] == g_probe.roots[1]);
}

// ---- byte fixtures for the evaluator's errors -------------------------------------------------

namespace {

// A .eh_frame_hdr, one CIE and one FDE covering a fake function at code[0..16), in one buffer.
struct Image {
    alignas(8) uint8_t bytes[256] = {};
    size_t hdr = 0, hdr_size = 0;
    size_t cie = 0, fde = 0;
    uint64_t base() const { return reinterpret_cast<uint64_t>(bytes); }
    void put32(size_t at, int32_t v) { std::memcpy(bytes + at, &v, 4); }
};

// `fde_insns`: the FDE's CFA program (after the CIE's def_cfa rsp+8, offset ra at cfa-8).
Image make_image(std::vector<uint8_t> fde_insns) {
    Image im;
    const size_t code = 200; // the "function": 16 bytes at offset 200
    im.hdr = 0;
    im.bytes[0] = 1;    // version
    im.bytes[1] = 0x1b; // eh_frame_ptr encoding: pcrel|sdata4
    im.bytes[2] = 0x03; // fde_count encoding: udata4
    im.bytes[3] = 0x3b; // table encoding: datarel|sdata4
    // eh_frame_ptr at 4 (filled below), fde_count at 8, table at 12: (initial loc, fde),
    // hdr-relative
    im.hdr_size = 20;
    im.cie = 24;
    size_t p = im.cie;
    const uint8_t cie[] = {
        0x14,
        0,
        0,
        0, // length 20
        0,
        0,
        0,
        0, // CIE id 0
        1, // version 1
        'z',
        'R',
        0,                           // augmentation "zR"
        1,                           // code alignment factor 1
        0x78,                        // data alignment factor -8 (sleb)
        gcwalk::kDwarfReturnAddress, // return address column
        1,                           // augmentation data length 1
        0x1b,                        // FDE pointer encoding pcrel|sdata4
        0x0c,
        gcwalk::kDwarfRsp,
        8, // DW_CFA_def_cfa rsp, 8
        0x80 | gcwalk::kDwarfReturnAddress,
        1, // DW_CFA_offset (ra), 1 * -8
        0,
        0, // padding (DW_CFA_nop)
    };
    std::memcpy(im.bytes + p, cie, sizeof cie);
    p += sizeof cie;
    im.fde = p;
    const size_t body =
        4 + 4 + 4 + 1 + fde_insns.size();    // CIE ptr, pc begin, pc range, aug len, insns
    im.put32(p, static_cast<int32_t>(body)); // length
    im.put32(p + 4, static_cast<int32_t>(p + 4 - im.cie)); // CIE pointer: back to the CIE
    im.put32(p + 8, static_cast<int32_t>(code - (p + 8))); // pc begin, pcrel
    im.put32(p + 12, 16);                                  // pc range 16
    im.bytes[p + 16] = 0;                                  // augmentation data length 0
    if (!fde_insns.empty()) std::memcpy(im.bytes + p + 17, fde_insns.data(), fde_insns.size());
    im.put32(4, static_cast<int32_t>(im.cie - 4)); // eh_frame_ptr: pcrel to .eh_frame
    im.put32(8, 1);                                // fde_count 1
    im.put32(12, static_cast<int32_t>(code));      // table: initial location (datarel)
    im.put32(16, static_cast<int32_t>(im.fde));    // table: FDE address (datarel)
    return im;
}

std::string rule_error(const Image& im, uint64_t ra_offset) {
    auto t = gcwalk::EhFrameTable::open("fixture", im.base() + im.hdr, im.hdr_size, im.base(),
                                        im.base() + sizeof im.bytes);
    if (!t) return t.error().message;
    auto r = t->rule_at(im.base() + ra_offset);
    return r ? std::string() : r.error().message;
}

} // namespace

TEST_CASE("the evaluator runs a CFA program up to the call", "[cfi]") {
    // push rbx, then from +1: cfa rsp+16, rbx at cfa-16; a call at +4..+9 (return address +9);
    // at +9 an adjustment that applies from the return address on, not to the call.
    Image im = make_image({
        0x41,                        // DW_CFA_advance_loc 1
        0x0e, 16,                    // DW_CFA_def_cfa_offset 16
        0x80 | gcwalk::kDwarfRbx, 2, // DW_CFA_offset rbx, 2 * -8
        0x48,                        // DW_CFA_advance_loc 8 (to +9)
        0x0e, 48,                    // DW_CFA_def_cfa_offset 48
    });
    auto t = gcwalk::EhFrameTable::open("fixture", im.base(), im.hdr_size, im.base(),
                                        im.base() + sizeof im.bytes);
    REQUIRE(t);
    auto r = t->rule_at(im.base() + 200 + 9); // call at +4..+9: the row at +8 is in force
    REQUIRE(r);
    CHECK(r->cfa_reg == gcwalk::kDwarfRsp);
    CHECK(r->cfa_offset == 16);
    CHECK(r->saved[gcwalk::kSavedRbx] == -16);
    CHECK(r->flags == gcwalk::kRuleFromCfi);
    auto later = t->rule_at(im.base() + 200 + 10);
    REQUIRE(later);
    CHECK(later->cfa_offset == 48);
}

TEST_CASE("the evaluator refuses what it cannot use, with a reason", "[cfi]") {
    Image ok = make_image({});
    CHECK(rule_error(ok, 204).empty());

    Image bad_version = ok;
    bad_version.bytes[0] = 2; // version 2
    CHECK(rule_error(bad_version, 204).find("version 2 at offset 0x0 (expected 1)") !=
          std::string::npos);

    Image bad_table = ok;
    bad_table.bytes[3] = 0x03; // table encoding udata4
    CHECK(rule_error(bad_table, 204)
              .find("search table encoding 0x3 at offset 0x3 is not datarel|sdata4") !=
          std::string::npos);

    Image many = ok;
    many.put32(8, 1000); // fde_count 1000: the table does not fit
    CHECK(rule_error(many, 204).find("1000 table entries do not fit") != std::string::npos);

    CHECK(rule_error(ok, 300).find("covers") != std::string::npos); // past the FDE's range
    CHECK(rule_error(ok, 150).find("no FDE in .eh_frame covers") !=
          std::string::npos); // below every FDE

    Image far = ok;
    far.put32(16, 100000); // the table's FDE address lies outside the readable segment
    CHECK(rule_error(far, 204).find("bad length") != std::string::npos);

    Image expr = make_image({0x0f, 2, 0x77, 8}); // DW_CFA_def_cfa_expression {DW_OP_breg7 8}
    CHECK(rule_error(expr, 204).find("the CFA is a DWARF expression") != std::string::npos);

    Image reg_expr = make_image({0x10, 3, 2, 0x77, 8}); // DW_CFA_expression rbx {DW_OP_breg7 8}
    CHECK(rule_error(reg_expr, 204).find("callee-saved register 3 has a rule other than") !=
          std::string::npos);

    Image undef = make_image({0x07, 12}); // DW_CFA_undefined r12
    CHECK(rule_error(undef, 204).find("callee-saved register 12 is undefined") !=
          std::string::npos);

    Image rax_cfa = make_image({0x0d, 0}); // DW_CFA_def_cfa_register rax
    CHECK(rule_error(rax_cfa, 204).find("the CFA is based on register 0") != std::string::npos);

    Image unbalanced = make_image({0x0b}); // DW_CFA_restore_state with nothing remembered
    CHECK(rule_error(unbalanced, 204).find("restore_state without a remembered state") !=
          std::string::npos);

    Image truncated = make_image(
        {0x0c, gcwalk::kDwarfRsp}); // DW_CFA_def_cfa missing its offset: runs into the end
    CHECK(!rule_error(truncated, 204).empty());

    Image unknown = make_image({0x3f}); // no such opcode
    CHECK(rule_error(unknown, 204).find("unknown CFA opcode 0x3f") != std::string::npos);
}
