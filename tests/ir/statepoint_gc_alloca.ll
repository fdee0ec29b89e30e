; Statepoints written by hand (no RS4GC), as a front end that manages its own safepoints would:
; a custom record ID and patch bytes, transition-free calls with deopt operands, and stack slots
; holding GC pointers passed as gc-live allocas (trailing Direct locations in the record).
target triple = "x86_64-unknown-linux-gnu"

declare token @llvm.experimental.gc.statepoint.p0f_isVoidf(i64, i32, void ()*, i32, i32, ...)
declare i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token, i32, i32)
declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)

define void @ga_slots(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %slot1 = alloca i8 addrspace(1)*
  %slot2 = alloca i8 addrspace(1)*
  store i8 addrspace(1)* %obj, i8 addrspace(1)** %slot1
  store i8 addrspace(1)* null, i8 addrspace(1)** %slot2
  %tok = call token (i64, i32, void ()*, i32, i32, ...) @llvm.experimental.gc.statepoint.p0f_isVoidf(i64 77, i32 0, void ()* elementtype(void ()) @fx_call, i32 0, i32 0, i32 0, i32 0) [ "deopt"(i64 3, i64 8589934592), "gc-live"(i8 addrspace(1)* %obj, i8 addrspace(1)** %slot1, i8 addrspace(1)** %slot2) ]
  %obj.r = call i8 addrspace(1)* @llvm.experimental.gc.relocate.p1i8(token %tok, i32 0, i32 0)
  call void @fx_use(i8 addrspace(1)* %obj.r)
  %v = load i8 addrspace(1)*, i8 addrspace(1)** %slot1
  call void @fx_use(i8 addrspace(1)* %v)
  ret void
}
