; What LLVM emits on purpose and gcwalk once refused: locations over 1 KiB (large deopt and
; stackmap operands: the size field is 16 bits), a gc-live value that is a stack address
; (addrspacecast of an alloca: a (Direct, Direct) pair), and a derived pointer of a null base
; (a (Constant 0, Indirect) pair; (Constant 0, Register) when compiled for roots in registers),
; a derived pointer into a stack slot, and a vector of 256 gc pointers (a 2048-byte root).
; Written as a front end would, without RS4GC (which crashes on an addrspacecast of an alloca).
target triple = "x86_64-unknown-linux-gnu"

declare token @llvm.experimental.gc.statepoint.p0f_isVoidf(i64, i32, void ()*, i32, i32, ...)
declare i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token, i32, i32)
declare void @llvm.experimental.stackmap(i64, i32, ...)
declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)
declare void @fx_use_int(i64)
declare void @fx_use_vec(<256 x i8 addrspace(1)*>)
declare <256 x i8 addrspace(1)*> @llvm.experimental.gc.relocate.v256p1i8(token, i32, i32)

; Deopt states holding vectors of 8192 and 3200 bytes (spilled whole: Indirect locations of
; that size), beside a gc pointer.
define void @big_deopt2(<1024 x i64>* %p, <400 x i64>* %q, i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %v = load <1024 x i64>, <1024 x i64>* %p
  %w = load <400 x i64>, <400 x i64>* %q
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 11, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "deopt"(<1024 x i64> %v, <400 x i64> %w), "gc-live"(i8 addrspace(1)* %obj) ]
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 0)
  call void @fx_use(i8 addrspace(1)* %obj.r)
  ret void
}

; A statepoint whose deopt state holds a 792-byte vector beside a gc pointer.
define void @big_deopt(<99 x i64>* %p, i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %v = load <99 x i64>, <99 x i64>* %p
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 12, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "deopt"(<99 x i64> %v), "gc-live"(i8 addrspace(1)* %obj) ]
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 0)
  call void @fx_use(i8 addrspace(1)* %obj.r)
  ret void
}

; A gc-live value that is the address of a stack slot holding a gc pointer: LLVM records the
; address as a (Direct, Direct) pair and the slot as a trailing Direct gc alloca.
define void @stack_address(i8 addrspace(1)* %obj, i8 addrspace(1)* %held) uwtable gc "statepoint-example" {
  %slot = alloca i8 addrspace(1)*
  store i8 addrspace(1)* %held, i8 addrspace(1)** %slot
  %sa = addrspacecast i8 addrspace(1)** %slot to i8 addrspace(1)*
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 13, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(i8 addrspace(1)* %obj, i8 addrspace(1)* %sa) ]
  %sa.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 1, i32 1)
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 0)
  call void @fx_use(i8 addrspace(1)* %sa.r)
  call void @fx_use(i8 addrspace(1)* %obj.r)
  %v = load i8 addrspace(1)*, i8 addrspace(1)** %slot
  call void @fx_use(i8 addrspace(1)* %v)
  ret void
}

; A derived pointer into a stack slot: a (Direct, Indirect) pair.
define void @stack_derived(i64 %n, i8 addrspace(1)* %obj, i8 addrspace(1)* %held) uwtable gc "statepoint-example" {
  %slot = alloca [2 x i8 addrspace(1)*]
  %s0 = bitcast [2 x i8 addrspace(1)*]* %slot to i8 addrspace(1)**
  store i8 addrspace(1)* %held, i8 addrspace(1)** %s0
  %sa = addrspacecast i8 addrspace(1)** %s0 to i8 addrspace(1)*
  %d = getelementptr i8, i8 addrspace(1)* %sa, i64 %n
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 15, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(i8 addrspace(1)* %sa, i8 addrspace(1)* %d, i8 addrspace(1)* %obj) ]
  %d.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 1)
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 2, i32 2)
  call void @fx_use(i8 addrspace(1)* %obj.r)
  call void @fx_use(i8 addrspace(1)* %d.r)
  ret void
}

; A vector of 256 gc pointers live across a call: one root location of 2048 bytes, 256 slots.
define void @pointer_vector(<256 x i8 addrspace(1)*>* %p) uwtable gc "statepoint-example" {
  %v = load <256 x i8 addrspace(1)*>, <256 x i8 addrspace(1)*>* %p
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 16, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(<256 x i8 addrspace(1)*> %v) ]
  %v.r = call <256 x i8 addrspace(1)*> @llvm.experimental.gc.relocate.v256p1i8(token %tok, i32 0, i32 0)
  call void @fx_use_vec(<256 x i8 addrspace(1)*> %v.r)
  ret void
}

; A derived pointer of a null base (an offset carried as a pointer).
define void @null_base(i64 %n, i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %d = getelementptr i8, i8 addrspace(1)* null, i64 %n
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 14, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(i8 addrspace(1)* null, i8 addrspace(1)* %d, i8 addrspace(1)* %obj) ]
  %d.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 1)
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 2, i32 2)
  call void @fx_use(i8 addrspace(1)* %d.r)
  call void @fx_use(i8 addrspace(1)* %obj.r)
  ret void
}
