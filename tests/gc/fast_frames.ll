; Managed frames of every shape the CFI rules must get right, stacked in one chain so that a probe
; at the innermost call sees all of them: pushed call arguments, a dynamic alloca (CFA from RBP),
; a realigned frame, a frame-pointer frame, values kept in callee-saved registers, and a native C++
; frame between two managed ones. Compiled with register GC roots allowed, so some roots live in
; callee-saved registers. Every ff_* callee is C++ in test_fast_walker.cpp.
target triple = "x86_64-unknown-linux-gnu"

declare void @ff_probe()
declare void @ff_sink(i8*)
declare void @ff_use(i8 addrspace(1)*)
declare void @ff_take10(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)
declare void @ff_native(i8 addrspace(1)*, i64)

; Stack arguments pushed right before the call that probes: the CFA moves by the pushed bytes.
define void @ff_pushed(i8 addrspace(1)* %obj, i64 %x) uwtable gc "statepoint-example" {
  call void @ff_take10(i64 %x, i64 1, i64 2, i64 3, i64 4, i64 5, i64 6, i64 7, i64 8, i64 9)
  call void @ff_use(i8 addrspace(1)* %obj)
  ret void
}

; Dynamic alloca: Stack Size is UINT64_MAX and the CFA is RBP-based.
define void @ff_dynamic(i8 addrspace(1)* %obj, i64 %n, i64 %x) uwtable gc "statepoint-example" {
  %buf = alloca i8, i64 %n, align 16
  call void @ff_sink(i8* %buf)
  call void @ff_pushed(i8 addrspace(1)* %obj, i64 %x)
  call void @ff_use(i8 addrspace(1)* %obj)
  ret void
}

; Stack realignment to 64 bytes.
define void @ff_realigned(i8 addrspace(1)* %obj, i64 %n, i64 %x) uwtable gc "statepoint-example" {
  %a = alloca [4 x i64], align 64
  %p = bitcast [4 x i64]* %a to i8*
  call void @ff_sink(i8* %p)
  call void @ff_dynamic(i8 addrspace(1)* %obj, i64 %n, i64 %x)
  call void @ff_use(i8 addrspace(1)* %obj)
  ret void
}

; A frame pointer, and two GC pointers.
define void @ff_framepointer(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 %x) uwtable "frame-pointer"="all" gc "statepoint-example" {
  call void @ff_realigned(i8 addrspace(1)* %obj, i64 %n, i64 %x)
  call void @ff_use(i8 addrspace(1)* %obj2)
  call void @ff_use(i8 addrspace(1)* %obj)
  ret void
}

; Integers live across the call: they sit in callee-saved registers, which this frame saves.
define i64 @ff_csr(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 %x) uwtable gc "statepoint-example" {
  %a = mul i64 %x, 3
  %b = add i64 %x, 7
  %c = xor i64 %x, 12345
  %d = mul i64 %x, %x
  %e = sub i64 %n, %x
  call void @ff_framepointer(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 %x)
  call void @ff_use(i8 addrspace(1)* %obj2)
  call void @ff_use(i8 addrspace(1)* %obj)
  %s1 = add i64 %a, %b
  %s2 = add i64 %c, %d
  %s3 = add i64 %s1, %s2
  %s4 = add i64 %s3, %e
  ret i64 %s4
}

; The chain's top: a managed frame, then (when %via_native is non-zero) a native frame, then
; ff_csr and everything below it.
define i64 @ff_top(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 %x, i64 %via_native) uwtable gc "statepoint-example" {
entry:
  %native = icmp ne i64 %via_native, 0
  br i1 %native, label %through, label %direct
through:
  call void @ff_native(i8 addrspace(1)* %obj, i64 %x)
  call void @ff_use(i8 addrspace(1)* %obj2)
  ret i64 0
direct:
  %r = call i64 @ff_csr(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 %x)
  call void @ff_use(i8 addrspace(1)* %obj2)
  ret i64 %r
}

; n + 1 frames, each with `obj` live across its call; the innermost calls ff_probe.
define void @ff_recurse(i8 addrspace(1)* %obj, i64 %n) uwtable gc "statepoint-example" {
entry:
  %done = icmp eq i64 %n, 0
  br i1 %done, label %base, label %deeper
base:
  call void @ff_probe()
  call void @ff_use(i8 addrspace(1)* %obj)
  ret void
deeper:
  %m = sub i64 %n, 1
  call void @ff_recurse(i8 addrspace(1)* %obj, i64 %m)
  call void @ff_use(i8 addrspace(1)* %obj)
  ret void
}
