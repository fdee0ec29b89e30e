; GC pointers passed as stack arguments: @many takes ten objects, so four of them arrive on the
; stack (in the caller's outgoing argument area, which llc may fill with pushes). The callee keeps
; them live across allocations; the caller keeps its own copies live across the call.

define internal i64 @many(i8 addrspace(1)* %p0, i8 addrspace(1)* %p1, i8 addrspace(1)* %p2,
                          i8 addrspace(1)* %p3, i8 addrspace(1)* %p4, i8 addrspace(1)* %p5,
                          i8 addrspace(1)* %p6, i8 addrspace(1)* %p7, i8 addrspace(1)* %p8,
                          i8 addrspace(1)* %p9) #91 gc "statepoint-example" {
  %x = call i8 addrspace(1)* @box(i64 0, i64 1000)
  %y = call i8 addrspace(1)* @box(i64 0, i64 2000)
  %v0 = call i64 @word(i8 addrspace(1)* %p0, i64 0)
  %v1 = call i64 @word(i8 addrspace(1)* %p1, i64 0)
  %v2 = call i64 @word(i8 addrspace(1)* %p2, i64 0)
  %v3 = call i64 @word(i8 addrspace(1)* %p3, i64 0)
  %v4 = call i64 @word(i8 addrspace(1)* %p4, i64 0)
  %v5 = call i64 @word(i8 addrspace(1)* %p5, i64 0)
  %v6 = call i64 @word(i8 addrspace(1)* %p6, i64 0)
  %v7 = call i64 @word(i8 addrspace(1)* %p7, i64 0)
  %v8 = call i64 @word(i8 addrspace(1)* %p8, i64 0)
  %v9 = call i64 @word(i8 addrspace(1)* %p9, i64 0)
  %xv = call i64 @word(i8 addrspace(1)* %x, i64 0)
  %yv = call i64 @word(i8 addrspace(1)* %y, i64 0)
  ; weights tell the arguments apart: sum of (k + 1) * v_k
  %w1 = mul i64 %v1, 2
  %w2 = mul i64 %v2, 3
  %w3 = mul i64 %v3, 4
  %w4 = mul i64 %v4, 5
  %w5 = mul i64 %v5, 6
  %w6 = mul i64 %v6, 7
  %w7 = mul i64 %v7, 8
  %w8 = mul i64 %v8, 9
  %w9 = mul i64 %v9, 10
  %s1 = add i64 %v0, %w1
  %s2 = add i64 %s1, %w2
  %s3 = add i64 %s2, %w3
  %s4 = add i64 %s3, %w4
  %s5 = add i64 %s4, %w5
  %s6 = add i64 %s5, %w6
  %s7 = add i64 %s6, %w7
  %s8 = add i64 %s7, %w8
  %s9 = add i64 %s8, %w9
  %sx = add i64 %s9, %xv
  %sy = add i64 %sx, %yv
  ret i64 %sy
}

define internal i64 @caller(i64 %seed) #91 gc "statepoint-example" {
  %a0 = call i8 addrspace(1)* @box(i64 0, i64 %seed)
  %s1 = add i64 %seed, 1
  %a1 = call i8 addrspace(1)* @box(i64 0, i64 %s1)
  %s2 = add i64 %seed, 2
  %a2 = call i8 addrspace(1)* @box(i64 0, i64 %s2)
  %s3 = add i64 %seed, 3
  %a3 = call i8 addrspace(1)* @box(i64 0, i64 %s3)
  %s4 = add i64 %seed, 4
  %a4 = call i8 addrspace(1)* @box(i64 0, i64 %s4)
  %s5 = add i64 %seed, 5
  %a5 = call i8 addrspace(1)* @box(i64 0, i64 %s5)
  %s6 = add i64 %seed, 6
  %a6 = call i8 addrspace(1)* @box(i64 0, i64 %s6)
  %s7 = add i64 %seed, 7
  %a7 = call i8 addrspace(1)* @box(i64 0, i64 %s7)
  %s8 = add i64 %seed, 8
  %a8 = call i8 addrspace(1)* @box(i64 0, i64 %s8)
  %s9 = add i64 %seed, 9
  %a9 = call i8 addrspace(1)* @box(i64 0, i64 %s9)
  %r = call i64 @many(i8 addrspace(1)* %a0, i8 addrspace(1)* %a1, i8 addrspace(1)* %a2,
                      i8 addrspace(1)* %a3, i8 addrspace(1)* %a4, i8 addrspace(1)* %a5,
                      i8 addrspace(1)* %a6, i8 addrspace(1)* %a7, i8 addrspace(1)* %a8,
                      i8 addrspace(1)* %a9)
  ; after the call the caller reads its own (relocated) copies again
  %c0 = call i64 @word(i8 addrspace(1)* %a0, i64 0)
  %c9 = call i64 @word(i8 addrspace(1)* %a9, i64 0)
  %t = add i64 %r, %c0
  %u = add i64 %t, %c9
  ret i64 %u
}

define i64 @e2e_stack_args(i64 %rounds) #91 gc "statepoint-example" {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %seed = mul i64 %i, 10
  %r = call i64 @caller(i64 %seed)
  %acc1 = add i64 %acc, %r
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %rounds
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc1
}
