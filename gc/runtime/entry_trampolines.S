// The runtime's managed entry points as trampolines (x86-64 SysV, GNU as, AT&T syntax): each saves
// the caller's callee-saved registers and hands the C++ implementation its caller's SP.
//
//   void* gcwalk_rt_alloc(uint64_t, uint64_t)  ->  gcwalk_rt_alloc_impl(rdi, rsi, entry_sp /* rdx */)
//   void  gcwalk_rt_safepoint(void)            ->  gcwalk_rt_safepoint_impl(entry_sp /* rdi */)
//   void  gcwalk_rt_collect(void)              ->  gcwalk_rt_collect_impl(entry_sp /* rdi */)
//
// Frame, from the caller's RSP before the call (the CFA, = entry_sp) downwards:
//   CFA-8    return address into the caller (managed code, or native code that calls the runtime)
//   CFA-16   rbp     CFA-24  rbx     CFA-32  r12     CFA-40  r13     CFA-48  r14     CFA-56  r15
//   CFA-64   padding: on entry RSP = 8 (mod 16); 6 pushes + 8 bytes make it 0 at the call.
// These are the slots and the order of unwind/safepoint_entry.S (the same pushes: unwind/
// callee_saved_pushes.inc), so a collection inside the call can
// publish (return address at CFA-8, CFA) as its SafepointContext's caller: the fast walker then
// starts at the first managed frame with these six slots as its callee-saved registers, instead of
// handing the runtime's own C++ frames to libunwind. The slots hold the caller's values (nothing
// here changes a callee-saved register before the pushes), the pops after the call reload them, so
// relocated register roots take effect on return; the CFI lets libunwind find the same slots.
// The implementations are hidden: the calls bind inside the library (no PLT, no interposition).

#include <gcwalk/detail/callee_saved_pushes.inc>

// TRAMPOLINE name, impl, sp_reg: sp_reg is the argument register after the entry point's own ones.
.macro TRAMPOLINE name, impl, sp_reg
    .globl  \name
    .type   \name, @function
    .hidden \impl
    .p2align 4
\name:
    .cfi_startproc
    PUSH_CALLEE_SAVED
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8

    // The caller's SP once we return (the CFA): 8 padding + 48 saved + 8 return address above RSP.
    leaq    64(%rsp), \sp_reg
    // A real call, never a tail call: the save slots must stay live while the runtime runs.
    call    \impl

    // RAX (the result of gcwalk_rt_alloc) is untouched from here on.
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    POP_CALLEE_SAVED
    ret
    .cfi_endproc
    .size   \name, .-\name
.endm

    .text
    TRAMPOLINE gcwalk_rt_alloc, gcwalk_rt_alloc_impl, %rdx
    TRAMPOLINE gcwalk_rt_safepoint, gcwalk_rt_safepoint_impl, %rdi
    TRAMPOLINE gcwalk_rt_collect, gcwalk_rt_collect_impl, %rdi

    .section .note.GNU-stack,"",@progbits
