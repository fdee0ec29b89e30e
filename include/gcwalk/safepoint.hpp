// The safepoint entry: what a thread leaves behind when it stops for a collection, and the stub
// that puts every callee-saved register of the frames above it into memory before it does.
//
//   void at_safepoint(gcwalk::SafepointContext* ctx, void* arg) {   // runs inside the stub
//       gcwalk::relocate_roots(*ctx, registry.index(), move, heap, {}, &stats, &error);
//   }
//   gcwalk_safepoint_enter(at_safepoint, heap);   // returns with the (relocated) registers
#pragma once

#include <cstddef>
#include <cstdint>

namespace gcwalk {

// What a thread leaves at a safepoint. The context is libunwind's unw_context_t (an x86-64
// ucontext_t: 968 bytes in libunwind 1.6.2), captured by the stub after its pushes; it is opaque
// here so that public headers need no libunwind. unwind/libunwind_walker.cpp checks the size and
// alignment by static_assert.
// The object lives in the stub's frame: it is valid only while `fn` runs, but any thread may walk
// it during that time (the parked thread's stack is frozen while it waits inside `fn`).
struct SafepointContext {
    alignas(16) unsigned char unwind_context[1024];
    uint64_t caller_return_address; // where the stub returns to: a return address in its caller
    uint64_t caller_sp;             // the caller's RSP after the stub returns (stub CFA)
};

using SafepointFn = void (*)(SafepointContext* ctx, void* arg);

// Byte offsets the assembly stub relies on (unwind/safepoint_entry.S); checked here.
inline constexpr unsigned kSafepointContextSize = 1040;
inline constexpr unsigned kSafepointCallerRaOffset = 1024;
inline constexpr unsigned kSafepointCallerSpOffset = 1032;
static_assert(sizeof(SafepointContext) == kSafepointContextSize);
static_assert(offsetof(SafepointContext, caller_return_address) == kSafepointCallerRaOffset);
static_assert(offsetof(SafepointContext, caller_sp) == kSafepointCallerSpOffset);

} // namespace gcwalk

// x86-64 SysV assembly with CFI: pushes rbx, rbp, r12-r15, captures the libunwind context into a
// SafepointContext on its own stack, calls fn(ctx, arg), then pops the six registers (their slots
// may have been rewritten by relocation) and returns. While `fn` runs, every callee-saved value
// of every frame above the stub sits in a real stack slot that unw_get_save_loc reports.
extern "C" void gcwalk_safepoint_enter(gcwalk::SafepointFn fn, void* arg);
