; Roots in callee-saved registers: compiled with llc -max-registers-for-gc-values=4
; -fixup-allow-gcptr-in-csr, so statepoint records name Register R#3/6/12-15 locations. Their
; values live in the registers (or in a callee's save slot) during the collection, and are
; relocated there; the outer function keeps its own roots in registers across the inner calls.

define internal i64 @csr_inner(i64 %seed) #91 gc "statepoint-example" {
entry:
  %a = call i8 addrspace(1)* @box(i64 0, i64 %seed)
  %b = call i8 addrspace(1)* @box(i64 0, i64 1)
  %c = call i8 addrspace(1)* @box(i64 1, i64 2)
  call void @set_ref(i8 addrspace(1)* %c, i64 0, i8 addrspace(1)* %a)
  %d = call i8 addrspace(1)* @box(i64 0, i64 3)
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %x = call i8 addrspace(1)* @box(i64 0, i64 %i)      ; a, b, c, d live across
  %xv = call i64 @word(i8 addrspace(1)* %x, i64 0)
  %acc1 = add i64 %acc, %xv
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, 5
  br i1 %more, label %loop, label %done
done:
  %av = call i64 @word(i8 addrspace(1)* %a, i64 0)
  %bv = call i64 @word(i8 addrspace(1)* %b, i64 0)
  %cv = call i64 @word(i8 addrspace(1)* %c, i64 8)
  %ca = call i8 addrspace(1)* @ref(i8 addrspace(1)* %c, i64 0)
  %cav = call i64 @word(i8 addrspace(1)* %ca, i64 0)
  %dv = call i64 @word(i8 addrspace(1)* %d, i64 0)
  %s1 = add i64 %av, %bv
  %s2 = add i64 %s1, %cv
  %s3 = add i64 %s2, %cav
  %s4 = add i64 %s3, %dv
  %s5 = add i64 %s4, %acc1
  ret i64 %s5                                       ; 2 seed + 16
}

define internal i64 @csr_outer(i64 %seed) #91 gc "statepoint-example" {
  %p = call i8 addrspace(1)* @box(i64 0, i64 100)
  %q = call i8 addrspace(1)* @box(i64 1, i64 200)
  call void @set_ref(i8 addrspace(1)* %q, i64 0, i8 addrspace(1)* %p)
  %r1 = call i64 @csr_inner(i64 %seed)               ; p, q live across (in registers)
  %r2 = call i64 @csr_inner(i64 %r1)
  %pv = call i64 @word(i8 addrspace(1)* %p, i64 0)
  %qp = call i8 addrspace(1)* @ref(i8 addrspace(1)* %q, i64 0)
  %same = icmp eq i8 addrspace(1)* %qp, %p
  %qv = call i64 @word(i8 addrspace(1)* %q, i64 8)
  %s1 = add i64 %r2, %pv
  %s2 = add i64 %s1, %qv
  %res = select i1 %same, i64 %s2, i64 -1
  ret i64 %res
}

define i64 @e2e_csr(i64 %rounds) #91 gc "statepoint-example" {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %r = call i64 @csr_outer(i64 %i)
  %acc1 = add i64 %acc, %r
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %rounds
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc1
}
