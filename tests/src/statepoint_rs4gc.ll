; Statepoint fixture rewritten by RS4GC: deopt bundles with a large constant and a null pointer,
; a derived pointer kept live across a call, and a derived pointer carried by a loop phi.
target triple = "x86_64-unknown-linux-gnu"

declare void @safepoint()
declare i8 addrspace(1)* @alloc()

define i8 addrspace(1)* @keep(i8 addrspace(1)* %a, i8 addrspace(1)* %b, i64 %x) uwtable gc "statepoint-example" {
entry:
  %d = getelementptr i8, i8 addrspace(1)* %a, i64 16
  call void @safepoint() [ "deopt"(i32 1, i64 %x, i64 4294967296, i8 addrspace(1)* null, i8 addrspace(1)* %b) ]
  %v = load i8, i8 addrspace(1)* %d
  %c = call i8 addrspace(1)* @alloc() [ "deopt"(i32 2) ]
  store i8 %v, i8 addrspace(1)* %c
  ret i8 addrspace(1)* %b
}

define i8 addrspace(1)* @loop(i8 addrspace(1)* %a, i64 %n) uwtable gc "statepoint-example" {
entry:
  br label %l
l:
  %p = phi i8 addrspace(1)* [ %a, %entry ], [ %q, %l ]
  %i = phi i64 [ 0, %entry ], [ %j, %l ]
  call void @safepoint()
  %q = getelementptr i8, i8 addrspace(1)* %p, i64 8
  %j = add i64 %i, 1
  %done = icmp eq i64 %j, %n
  br i1 %done, label %e, label %l
e:
  ret i8 addrspace(1)* %q
}
