; Deopt bundles: allocating calls carry "deopt" state with GC pointers (live only through the
; bundle in one case), a null GC pointer, small and large constants (ConstantIndex). The pointers in
; the bundle are relocated like any root; values read through them after the call must be intact.

define internal i64 @with_deopt(i64 %seed) #91 gc "statepoint-example" {
  %a = call i8 addrspace(1)* @box(i64 0, i64 %seed)
  %b = call i8 addrspace(1)* @box(i64 1, i64 7)
  call void @set_ref(i8 addrspace(1)* %b, i64 0, i8 addrspace(1)* %a)
  ; a and b are live after the call; the bundle also holds null and two large constants
  %c = call i8 addrspace(1)* @box(i64 0, i64 3) [ "deopt"(i8 addrspace(1)* %a, i64 81985529216486895, i8 addrspace(1)* null, i32 -5, i8 addrspace(1)* %b, i64 -9223372036854775807) ]
  call void @gcwalk_rt_safepoint() [ "deopt"(i8 addrspace(1)* %c, i8 addrspace(1)* %b, i64 4294967296) ]
  %av = call i64 @word(i8 addrspace(1)* %a, i64 0)
  %ba = call i8 addrspace(1)* @ref(i8 addrspace(1)* %b, i64 0)
  %bav = call i64 @word(i8 addrspace(1)* %ba, i64 0)
  %bv = call i64 @word(i8 addrspace(1)* %b, i64 8)
  %cv = call i64 @word(i8 addrspace(1)* %c, i64 0)
  %same = icmp eq i8 addrspace(1)* %ba, %a
  %s1 = add i64 %av, %bav
  %s2 = add i64 %s1, %bv
  %s3 = add i64 %s2, %cv
  %res = select i1 %same, i64 %s3, i64 -1
  ret i64 %res                                 ; 2 seed + 10
}

define i64 @e2e_deopt(i64 %rounds) #91 gc "statepoint-example" {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %r = call i64 @with_deopt(i64 %i) [ "deopt"(i64 %i, i64 1311768467463790320) ]
  %acc1 = add i64 %acc, %r
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %rounds
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc1
}
