// gcwalk_safepoint_enter: the safepoint entry stub (x86-64 SysV, GNU as, AT&T syntax).
//
// void gcwalk_safepoint_enter(gcwalk::SafepointFn fn /* rdi */, void* arg /* rsi */);
//
// Frame, from the caller's RSP before the call (the CFA) downwards:
//   CFA-8    return address into the caller
//   CFA-16   rbp     CFA-24  rbx     CFA-32  r12     CFA-40  r13     CFA-48  r14     CFA-56  r15
//   CFA-1104 .. CFA-64: SafepointContext (1040 bytes) + 8 bytes padding; RSP points at the context
// On entry RSP = 8 (mod 16); after 6 pushes and the 1048-byte sub it is 0 (mod 16), as the
// calls to getcontext and fn need and as the context's 16-byte alignment needs.
// The six pushes are described by CFI, so while fn runs unw_get_save_loc of every callee-saved
// register of the frames above points at a real slot (here, or further up), never at the
// context copy. The pops after fn reload them: relocated register roots take effect there.
// What it records: the stub's own caller's return address and its SP after the return
// (the runtime function that called the stub; the managed frames are further up).

#define CTX_SIZE   1040   /* sizeof(gcwalk::SafepointContext) */
#define CTX_RA     1024   /* offsetof(caller_return_address) */
#define CTX_SP     1032   /* offsetof(caller_sp) */
#define FRAME      1048   /* CTX_SIZE + 8 padding: keeps RSP 16-aligned */

#include <gcwalk/detail/callee_saved_pushes.inc>

    .text
    .globl  gcwalk_safepoint_enter
    .type   gcwalk_safepoint_enter, @function
    .p2align 4
gcwalk_safepoint_enter:
    .cfi_startproc
    PUSH_CALLEE_SAVED
    subq    $FRAME, %rsp
    .cfi_adjust_cfa_offset FRAME

    // fn and arg live in rbx and r12 (already saved above) across the calls.
    movq    %rdi, %rbx
    movq    %rsi, %r12

    // The caller's return address and its SP once we return (the CFA).
    movq    FRAME+48(%rsp), %rax
    movq    %rax, CTX_RA(%rsp)
    leaq    FRAME+56(%rsp), %rax
    movq    %rax, CTX_SP(%rsp)

    // Capture the context here, after the pushes: unwinding from it runs this frame's CFI.
    // (unw_getcontext is a macro for _Ux86_64_getcontext in libunwind 1.6.)
    movq    %rsp, %rdi
    call    _Ux86_64_getcontext@PLT

    // fn(ctx, arg): a real call, never a tail call, so the captured frame stays live.
    movq    %rsp, %rdi
    movq    %r12, %rsi
    call    *%rbx

    addq    $FRAME, %rsp
    .cfi_adjust_cfa_offset -FRAME
    POP_CALLEE_SAVED
    ret
    .cfi_endproc
    .size   gcwalk_safepoint_enter, .-gcwalk_safepoint_enter

    .section .note.GNU-stack,"",@progbits
