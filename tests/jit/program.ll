; The managed program compiled at run time by ORC (prelude prepended at build time; RS4GC runs
; in-process before the module is added): JIT code calling AOT managed code that calls JIT code
; back, a derived pointer carried by a loop phi in a JIT frame, and JIT roots live across every
; allocation (each one a moving collection under GCWALK_STRESS=1).

declare i64 @aot_apply(i64 (i8 addrspace(1)*, i64)*, i8 addrspace(1)*, i64)

; Called back from aot_apply: %o (from a JIT frame further out) is live across an allocation.
define i64 @jit_leaf(i8 addrspace(1)* %o, i64 %k) #91 gc "statepoint-example" {
  %fresh = call i8 addrspace(1)* @box(i64 0, i64 %k)
  %a = call i64 @word(i8 addrspace(1)* %o, i64 0)
  %b = call i64 @word(i8 addrspace(1)* %fresh, i64 0)
  %s = add i64 %a, %b
  ret i64 %s
}

; Writes 0..n-1 into an object's n words through a pointer that walks them (a derived pointer,
; live with its base across the allocation of every iteration), then sums them: n(n-1)/2.
define i64 @jit_fill(i64 %n) #91 gc "statepoint-example" {
entry:
  %bytes = shl i64 %n, 3
  %arr = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 0, i64 %bytes)
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %p = phi i8 addrspace(1)* [ %arr, %entry ], [ %p1, %loop ]
  %tmp = call i8 addrspace(1)* @box(i64 0, i64 %i)
  %v = call i64 @word(i8 addrspace(1)* %tmp, i64 0)
  call void @set_word(i8 addrspace(1)* %p, i64 0, i64 %v)
  %p1 = getelementptr inbounds i8, i8 addrspace(1)* %p, i64 8
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %n
  br i1 %more, label %loop, label %sum
sum:
  %j = phi i64 [ 0, %loop ], [ %j1, %sum ]
  %acc = phi i64 [ 0, %loop ], [ %acc1, %sum ]
  %off = shl i64 %j, 3
  %w = call i64 @word(i8 addrspace(1)* %arr, i64 %off)
  %acc1 = add i64 %acc, %w
  %j1 = add i64 %j, 1
  %again = icmp ult i64 %j1, %n
  br i1 %again, label %sum, label %done
done:
  ret i64 %acc1
}

; A native JIT function (no gc, no stack maps) between managed frames: jit_entry's roots are
; found past its frame, which both walkers step by its .eh_frame (the fast walker by the rules
; registered for the object's native frames, libunwind through the registered unwind info).
define i64 @jit_native(i64 %k) #92 {
  %r = call i64 @jit_inner(i64 %k)
  %s = add i64 %r, 1
  ret i64 %s
}

define i64 @jit_inner(i64 %k) #91 gc "statepoint-example" {
  %o = call i8 addrspace(1)* @box(i64 0, i64 %k)
  call void @gcwalk_rt_collect()
  %v = call i64 @word(i8 addrspace(1)* %o, i64 0)
  ret i64 %v
}

attributes #92 = { noinline uwtable }

; 7 + 8 (two objects, the first live across the second's allocation: with GCWALK_TEST_SKIP_ROOT=1
; the first root any collection moves is this JIT frame's), then for k < n:
; aot_apply(jit_leaf, head, k) = (1000 + k) + k, then jit_fill(n), jit_native(n) = n + 1 (head
; live across it) and head's word again.
define i64 @jit_entry(i64 %n) #91 gc "statepoint-example" {
entry:
  %a = call i8 addrspace(1)* @box(i64 0, i64 7)
  %b = call i8 addrspace(1)* @box(i64 0, i64 8)
  %va = call i64 @word(i8 addrspace(1)* %a, i64 0)
  %vb = call i64 @word(i8 addrspace(1)* %b, i64 0)
  %ab = add i64 %va, %vb
  %head = call i8 addrspace(1)* @box(i64 0, i64 1000)
  br label %loop
loop:
  %k = phi i64 [ 0, %entry ], [ %k1, %loop ]
  %acc = phi i64 [ %ab, %entry ], [ %acc1, %loop ]
  %r = call i64 @aot_apply(i64 (i8 addrspace(1)*, i64)* @jit_leaf, i8 addrspace(1)* %head, i64 %k)
  %acc1 = add i64 %acc, %r
  %k1 = add i64 %k, 1
  %more = icmp ult i64 %k1, %n
  br i1 %more, label %loop, label %done
done:
  %f = call i64 @jit_fill(i64 %n)
  %nat = call i64 @jit_native(i64 %n)
  %h = call i64 @word(i8 addrspace(1)* %head, i64 0)
  %s1 = add i64 %acc1, %f
  %s2 = add i64 %s1, %h
  %s3 = add i64 %s2, %nat
  ret i64 %s3
}
