; Frames whose stack map offsets need care: a dynamic alloca (Stack Size = UINT64_MAX, locations
; relative to RBP) and calls that pass stack arguments with push (call-frame optimisation: the
; offsets at those call sites include the pushed bytes).
target triple = "x86_64-unknown-linux-gnu"

declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)
declare void @fx_sink(i8*)
declare void @fx_take10(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64)

; Dynamic alloca of %n bytes with a GC pointer live across calls.
define void @fr_dynamic_alloca(i8 addrspace(1)* %obj, i64 %n) uwtable gc "statepoint-example" {
  %buf = alloca i8, i64 %n, align 16
  call void @fx_sink(i8* %buf)
  call void @fx_use(i8 addrspace(1)* %obj)
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Ten integer arguments: four go on the stack, pushed right before the call.
define void @fr_pushed_args(i8 addrspace(1)* %obj, i64 %x) uwtable gc "statepoint-example" {
  call void @fx_take10(i64 %x, i64 1, i64 2, i64 3, i64 4, i64 5, i64 6, i64 7, i64 8, i64 9)
  call void @fx_use(i8 addrspace(1)* %obj)
  call void @fx_take10(i64 9, i64 8, i64 7, i64 6, i64 5, i64 4, i64 3, i64 2, i64 1, i64 %x)
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}
