; ---- the test program ---------------------------------------------------------------------------
; Drives llvm_emits.ll (hand-written statepoints) from RS4GC-compiled code: makes the objects,
; calls each function, and sums what they return.

declare i64 @em_vector(i8 addrspace(1)*)
declare i64 @em_stack_address(i8 addrspace(1)*)
declare i64 @em_null_base(i64, i8 addrspace(1)*)
declare i64 @em_big_deopt(<1024 x i64>*, i8 addrspace(1)*)

; An object with 256 reference fields, field k a box holding k + 1.
define internal i8 addrspace(1)* @boxes256() #91 gc "statepoint-example" {
entry:
  %arr = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 256, i64 0)
  br label %fill
fill:
  %k = phi i64 [ 0, %entry ], [ %k1, %fill ]
  %k1 = add i64 %k, 1
  %b = call i8 addrspace(1)* @box(i64 0, i64 %k1)
  call void @set_ref(i8 addrspace(1)* %arr, i64 %k, i8 addrspace(1)* %b)
  %more = icmp ult i64 %k1, 256
  br i1 %more, label %fill, label %done
done:
  ret i8 addrspace(1)* %arr
}

define i64 @e2e_llvm_emits(i64 %rounds, <1024 x i64>* %buf) #91 gc "statepoint-example" {
entry:
  br label %round
round:
  %i = phi i64 [ 0, %entry ], [ %i1, %round ]
  %acc = phi i64 [ 0, %entry ], [ %acc4, %round ]
  %arr = call i8 addrspace(1)* @boxes256()
  %s1 = call i64 @em_vector(i8 addrspace(1)* %arr)
  %o1 = call i8 addrspace(1)* @box(i64 0, i64 1000)
  %s2 = call i64 @em_stack_address(i8 addrspace(1)* %o1)
  %o2 = call i8 addrspace(1)* @box(i64 0, i64 2000)
  %s3 = call i64 @em_null_base(i64 12345, i8 addrspace(1)* %o2)
  %o3 = call i8 addrspace(1)* @box(i64 0, i64 3000)
  %s4 = call i64 @em_big_deopt(<1024 x i64>* %buf, i8 addrspace(1)* %o3)
  %acc1 = add i64 %acc, %s1
  %acc2 = add i64 %acc1, %s2
  %acc3 = add i64 %acc2, %s3
  %acc4 = add i64 %acc3, %s4
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %rounds
  br i1 %more, label %round, label %done
done:
  ret i64 %acc4
}
