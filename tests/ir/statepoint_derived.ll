; Derived pointers that stay derived across safepoints: constant-offset GEPs (kept live only with
; opt -spp-rematerialization-threshold=0 and llc -disable-cgp-gc-opts) and a pointer carried by
; a loop phi (derived whatever the flags), so records hold real (base, derived) pairs.
target triple = "x86_64-unknown-linux-gnu"

declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)

; Two interior pointers into one object, both used after the call.
define i64 @dp_gep(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  %f1 = getelementptr i8, i8 addrspace(1)* %obj, i64 16
  %f2 = getelementptr i8, i8 addrspace(1)* %obj, i64 40
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %f1)
  call void @fx_use(i8 addrspace(1)* %f2)
  call void @fx_use(i8 addrspace(1)* %obj)
  ret i64 0
}

; A cursor that walks an array: the phi is derived from %arr at every call in the loop.
define void @dp_loop(i64 addrspace(1)* %arr, i64 %n) uwtable gc "statepoint-example" {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i.next, %loop ]
  %cur = phi i64 addrspace(1)* [ %arr, %entry ], [ %next, %loop ]
  %p = bitcast i64 addrspace(1)* %cur to i8 addrspace(1)*
  call void @fx_use(i8 addrspace(1)* %p)
  %next = getelementptr i64, i64 addrspace(1)* %cur, i64 1
  %i.next = add i64 %i, 1
  %done = icmp eq i64 %i.next, %n
  br i1 %done, label %exit, label %loop
exit:
  ret void
}
