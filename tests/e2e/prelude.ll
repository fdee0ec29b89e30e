; Shared prelude of the end-to-end IR programs (prepended to each at build time): the runtime's
; declarations and field access helpers. The helpers hold no state across a call, so they are
; "gc-leaf-function": calls to them are not safepoints.
; Object layout: reference fields first (8 bytes each), then data; an object's address is that of
; its first field. `word` and `set_word` take a byte offset from the first field.

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-f80:128-n8:16:32:64-S128"
target triple = "x86_64-pc-linux-gnu"

declare i8 addrspace(1)* @gcwalk_rt_alloc(i64, i64)
declare void @gcwalk_rt_safepoint()
declare void @gcwalk_rt_collect()

define internal i8 addrspace(1)* @ref(i8 addrspace(1)* %o, i64 %i) #90 {
  %f = bitcast i8 addrspace(1)* %o to i8 addrspace(1)* addrspace(1)*
  %p = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 %i
  %v = load i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %p, align 8
  ret i8 addrspace(1)* %v
}

define internal void @set_ref(i8 addrspace(1)* %o, i64 %i, i8 addrspace(1)* %v) #90 {
  %f = bitcast i8 addrspace(1)* %o to i8 addrspace(1)* addrspace(1)*
  %p = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 %i
  store i8 addrspace(1)* %v, i8 addrspace(1)* addrspace(1)* %p, align 8
  ret void
}

define internal i64 @word(i8 addrspace(1)* %o, i64 %off) #90 {
  %b = getelementptr inbounds i8, i8 addrspace(1)* %o, i64 %off
  %p = bitcast i8 addrspace(1)* %b to i64 addrspace(1)*
  %v = load i64, i64 addrspace(1)* %p, align 8
  ret i64 %v
}

define internal void @set_word(i8 addrspace(1)* %o, i64 %off, i64 %v) #90 {
  %b = getelementptr inbounds i8, i8 addrspace(1)* %o, i64 %off
  %p = bitcast i8 addrspace(1)* %b to i64 addrspace(1)*
  store i64 %v, i64 addrspace(1)* %p, align 8
  ret void
}

; A new object with one data word (after %nrefs null references) set to %v.
define internal i8 addrspace(1)* @box(i64 %nrefs, i64 %v) #91 gc "statepoint-example" {
  %o = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 %nrefs, i64 8)
  %off = shl i64 %nrefs, 3
  call void @set_word(i8 addrspace(1)* %o, i64 %off, i64 %v)
  ret i8 addrspace(1)* %o
}

attributes #90 = { "gc-leaf-function" uwtable }
attributes #91 = { uwtable }

; ---- the test program ---------------------------------------------------------------------------
