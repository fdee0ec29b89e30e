; Statepoints with deopt bundles, rewritten by RS4GC: deopt values of every kind (small and
; large constants, integers and doubles live across the call, GC pointers, a null GC pointer)
; followed by the (base, derived) pairs of the GC pointers live across each call.
target triple = "x86_64-unknown-linux-gnu"

declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)
declare i8 addrspace(1)* @fx_new()

; One GC pointer live across two calls, one of them with a deopt state.
define i8 addrspace(1)* @sp_simple(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void @fx_call()
  call void @fx_call() [ "deopt"(i32 1, i32 2) ]
  ret i8 addrspace(1)* %obj
}

; A deopt bundle with constants small and over 32 bits, a GC pointer that is also live,
; one only in the deopt state, a null GC pointer, an integer and a double.
define i64 @sp_deopt(i8 addrspace(1)* %a, i8 addrspace(1)* %b, i64 %n, double %d) uwtable gc "statepoint-example" {
  %x = add i64 %n, 1
  call void @fx_call() [ "deopt"(i64 -1, i64 4294967296, i64 281474976710656, i8 addrspace(1)* %a, i8 addrspace(1)* %b, i8 addrspace(1)* null, i64 %x, double %d, i32 7) ]
  call void @fx_use(i8 addrspace(1)* %a)
  %y = mul i64 %x, %n
  ret i64 %y
}

; Several GC pointers live across calls returning GC pointers; a pointer made by one call is
; live across the next.
define i8 addrspace(1)* @sp_many(i8 addrspace(1)* %a, i8 addrspace(1)* %b, i8 addrspace(1)* %c) uwtable gc "statepoint-example" {
  %n1 = call i8 addrspace(1)* @fx_new() [ "deopt"(i8 addrspace(1)* %c) ]
  call void @fx_use(i8 addrspace(1)* %a)
  %n2 = call i8 addrspace(1)* @fx_new()
  call void @fx_use(i8 addrspace(1)* %b)
  call void @fx_use(i8 addrspace(1)* %n1)
  call void @fx_use(i8 addrspace(1)* %c)
  ret i8 addrspace(1)* %n2
}
