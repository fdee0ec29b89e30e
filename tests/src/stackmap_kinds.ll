; Stack map fixture compiled without opt (PASSES none): llvm.experimental.stackmap with every
; location kind (Register, Direct, Indirect, Constant, ConstantIndex, a vector register),
; anyregcc patchpoints with live-outs, a dynamic frame, and a hand-written gc.statepoint with a
; deopt bundle, a derived pointer and a gc alloca.
target triple = "x86_64-unknown-linux-gnu"

declare void @llvm.experimental.stackmap(i64, i32, ...)
declare void @llvm.experimental.patchpoint.void(i64, i32, i8*, i32, ...)
declare i64 @llvm.experimental.patchpoint.i64(i64, i32, i8*, i32, ...)
declare token @llvm.experimental.gc.statepoint.p0f_isVoidf(i64, i32, void ()*, i32, i32, ...)
declare i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token, i32, i32)
declare void @ext(i64*)
declare void @clobber()
declare void @safepoint()

; Registers, a spilled double, small and large constants, an alloca's address, <4 x float>.
define i64 @kinds(i64 %a, i32 %b, double %d, i8* %p) uwtable {
entry:
  %slot = alloca i64
  call void @ext(i64* %slot)
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 1, i32 0, i64 %a, i32 %b, double %d, i8* %p, i64 7, i64 -1, i64 4294967296, i64 81985529216486895, i64* %slot)
  call void @clobber()
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 2, i32 5, i64 %a, double %d, i64 4294967296, <4 x float> zeroinitializer)
  %r = load i64, i64* %slot
  ret i64 %r
}

; Every general-purpose register clobbered: arguments spill to Indirect slots.
define i64 @spilled(i64 %a, i64 %b, i64 %c, i64 %d, i64 %e, i64 %f) uwtable {
entry:
  call void asm sideeffect "", "~{rax},~{rbx},~{rcx},~{rdx},~{rsi},~{rdi},~{r8},~{r9},~{r10},~{r11},~{r12},~{r13},~{r14},~{r15},~{rbp}"()
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 3, i32 0, i64 %a, i64 %b, i64 %c, i64 %d, i64 %e, i64 %f)
  %s = add i64 %a, %f
  ret i64 %s
}

; anyregcc patchpoints: records with live-out registers.
define i64 @patch(i64 %a, i64 %b, i8* %obj) uwtable {
entry:
  %r = call anyregcc i64 (i64, i32, i8*, i32, ...) @llvm.experimental.patchpoint.i64(i64 10, i32 15, i8* null, i32 2, i64 %a, i64 %b, i8* %obj, i64 42)
  call void (i64, i32, i8*, i32, ...) @llvm.experimental.patchpoint.void(i64 11, i32 13, i8* null, i32 0, i64 %a, i64 %r)
  %s = add i64 %r, %b
  ret i64 %s
}

; Dynamic alloca with realignment: stack size UINT64_MAX.
define void @dyn(i64 %n) uwtable {
entry:
  %buf = alloca i8, i64 %n, align 64
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 4, i32 0, i8* %buf, i64 %n)
  call void @clobber()
  ret void
}

; A statepoint written by hand: deopt (i64 %x, i32 9), gc-live (%a, %d = %a + 24, the alloca %box).
define i8 addrspace(1)* @handmade(i8 addrspace(1)* %a, i64 %x) uwtable gc "statepoint-example" {
entry:
  %box = alloca i8 addrspace(1)*
  store i8 addrspace(1)* %a, i8 addrspace(1)** %box
  %d = getelementptr i8, i8 addrspace(1)* %a, i64 24
  %t = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 77, i32 0, void ()* elementtype(void ()) @safepoint, i32 0, i32 0, i32 0, i32 0) [ "deopt"(i64 %x, i32 9), "gc-live"(i8 addrspace(1)* %a, i8 addrspace(1)* %d, i8 addrspace(1)** %box) ]
  %a2 = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %t, i32 0, i32 0)
  %d2 = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %t, i32 0, i32 1)
  %v = load i8, i8 addrspace(1)* %d2
  store i8 %v, i8 addrspace(1)* %a2
  ret i8 addrspace(1)* %d2
}
