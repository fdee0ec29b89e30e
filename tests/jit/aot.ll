; AOT-compiled managed code (prelude prepended, opt + llc at build time, linked into the test
; executable) that JIT-compiled code calls, and that calls JIT-compiled code back.

; f(o, k) through a pointer to JIT code, with an AOT root (%keep) live across the call.
define i64 @aot_apply(i64 (i8 addrspace(1)*, i64)* %f, i8 addrspace(1)* %o, i64 %k) #91 gc "statepoint-example" {
  %keep = call i8 addrspace(1)* @box(i64 0, i64 %k)
  %r = call i64 %f(i8 addrspace(1)* %o, i64 %k)
  %v = call i64 @word(i8 addrspace(1)* %keep, i64 0)
  %s = add i64 %r, %v
  ret i64 %s
}

; n allocations, each linked to the previous one; returns the sum of their words (n(n-1)/2).
define i64 @aot_churn(i64 %n) #91 gc "statepoint-example" {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %prev = phi i8 addrspace(1)* [ null, %entry ], [ %o, %loop ]
  %o = call i8 addrspace(1)* @box(i64 1, i64 %i)
  call void @set_ref(i8 addrspace(1)* %o, i64 0, i8 addrspace(1)* %prev)
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %n
  br i1 %more, label %loop, label %sum
sum:
  %p = phi i8 addrspace(1)* [ %o, %loop ], [ %next, %sum ]
  %acc = phi i64 [ 0, %loop ], [ %acc1, %sum ]
  %w = call i64 @word(i8 addrspace(1)* %p, i64 8)
  %acc1 = add i64 %acc, %w
  %next = call i8 addrspace(1)* @ref(i8 addrspace(1)* %p, i64 0)
  %end = icmp eq i8 addrspace(1)* %next, null
  br i1 %end, label %done, label %sum
done:
  ret i64 %acc1
}
