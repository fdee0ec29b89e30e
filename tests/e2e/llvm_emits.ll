; What LLVM emits on purpose, under the moving runtime: statepoints written by hand, as a front end
; that manages its own safepoints would (no RS4GC: it crashes on an addrspacecast of an alloca),
; each calling gcwalk_rt_collect, so that every object moves while these values are live:
;   em_vector        a <256 x ptr> vector of objects: one root location of 2048 bytes, 256 slots
;   em_stack_address the address of a stack slot as a gc-live value ((Direct, Direct) pair) and a
;                    pointer derived from it ((Direct, Indirect)): never moved; the slot itself
;                    is a gc alloca (trailing Direct) whose object is relocated
;   em_null_base     a value derived from a null base ((Constant 0, Indirect), or
;                    (Constant 0, Register) when compiled for roots in registers): never moved
;   em_big_deopt     deopt operands of 8192 and 792 bytes beside a gc pointer
; Objects are those of prelude.ll: a box holds its value in data word 0.
target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-f80:128-n8:16:32:64-S128"
target triple = "x86_64-pc-linux-gnu"

declare void @gcwalk_rt_collect()
declare token @llvm.experimental.gc.statepoint.p0f_isVoidf(i64, i32, void ()*, i32, i32, ...)
declare i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token, i32, i32)
declare <256 x i8 addrspace(1)*> @llvm.experimental.gc.relocate.v256p1i8(token, i32, i32)

define internal i64 @value_of(i8 addrspace(1)* %box) {
  %p = bitcast i8 addrspace(1)* %box to i64 addrspace(1)*
  %v = load i64, i64 addrspace(1)* %p, align 8
  ret i64 %v
}

; The sum of the values of the 256 boxes in the reference fields of %arr, read through a vector
; of their addresses that was live (and relocated) across a collection.
define i64 @em_vector(i8 addrspace(1)* %arr) uwtable gc "statepoint-example" {
entry:
  %vp = bitcast i8 addrspace(1)* %arr to <256 x i8 addrspace(1)*> addrspace(1)*
  %v = load <256 x i8 addrspace(1)*>, <256 x i8 addrspace(1)*> addrspace(1)* %vp, align 8
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 1, i32 0, void ()* elementtype(void ()) @gcwalk_rt_collect, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(<256 x i8 addrspace(1)*> %v) ]
  %v.r = call <256 x i8 addrspace(1)*> @llvm.experimental.gc.relocate.v256p1i8(token %tok, i32 0, i32 0)
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %sum = phi i64 [ 0, %entry ], [ %sum1, %loop ]
  %e = extractelement <256 x i8 addrspace(1)*> %v.r, i64 %i
  %x = call i64 @value_of(i8 addrspace(1)* %e)
  %sum1 = add i64 %sum, %x
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, 256
  br i1 %more, label %loop, label %done
done:
  ret i64 %sum1
}

; The value of %obj, kept only in a stack slot whose address (and an address derived from it) is
; live across a collection; -1 if either address changed.
define i64 @em_stack_address(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %slot = alloca [2 x i8 addrspace(1)*], align 8
  %s0 = bitcast [2 x i8 addrspace(1)*]* %slot to i8 addrspace(1)**
  store i8 addrspace(1)* %obj, i8 addrspace(1)** %s0, align 8
  %sa = addrspacecast i8 addrspace(1)** %s0 to i8 addrspace(1)*
  %d = getelementptr i8, i8 addrspace(1)* %sa, i64 8
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 2, i32 0, void ()* elementtype(void ()) @gcwalk_rt_collect, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(i8 addrspace(1)* %sa, i8 addrspace(1)* %d) ]
  %sa.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 0)
  %d.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 1)
  %before = ptrtoint i8 addrspace(1)** %s0 to i64
  %after = ptrtoint i8 addrspace(1)* %sa.r to i64
  %dafter = ptrtoint i8 addrspace(1)* %d.r to i64
  %dist = sub i64 %dafter, %after
  %same = icmp eq i64 %before, %after
  %apart = icmp eq i64 %dist, 8
  %ok = and i1 %same, %apart
  %o = load i8 addrspace(1)*, i8 addrspace(1)** %s0, align 8
  %x = call i64 @value_of(i8 addrspace(1)* %o)
  %r = select i1 %ok, i64 %x, i64 -1
  ret i64 %r
}

; The value of %obj after a collection, with null + %n live beside it; -1 if that value changed.
define i64 @em_null_base(i64 %n, i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %d = getelementptr i8, i8 addrspace(1)* null, i64 %n
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 3, i32 0, void ()* elementtype(void ()) @gcwalk_rt_collect, i32 0, i32 0, i32 0, i32 0) [ "gc-live"(i8 addrspace(1)* null, i8 addrspace(1)* %d, i8 addrspace(1)* %obj) ]
  %d.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 1)
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 2, i32 2)
  %k = ptrtoint i8 addrspace(1)* %d.r to i64
  %ok = icmp eq i64 %k, %n
  %x = call i64 @value_of(i8 addrspace(1)* %obj.r)
  %r = select i1 %ok, i64 %x, i64 -1
  ret i64 %r
}

; The value of %obj after a collection whose deopt state holds 1024 + 99 words of %buf; plus
; word 1000 of that state, read back after the call.
define i64 @em_big_deopt(<1024 x i64>* %buf, i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %v = load <1024 x i64>, <1024 x i64>* %buf, align 8
  %wp = bitcast <1024 x i64>* %buf to <99 x i64>*
  %w = load <99 x i64>, <99 x i64>* %wp, align 8
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 4, i32 0, void ()* elementtype(void ()) @gcwalk_rt_collect, i32 0, i32 0, i32 0, i32 0) [ "deopt"(<1024 x i64> %v, <99 x i64> %w), "gc-live"(i8 addrspace(1)* %obj) ]
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 0)
  %x = call i64 @value_of(i8 addrspace(1)* %obj.r)
  %e = extractelement <1024 x i64> %v, i64 1000
  %r = add i64 %x, %e
  ret i64 %r
}
