; Frames whose size is not fixed: a dynamic alloca (stack size UINT64_MAX in the stack map, roots at
; RBP-relative locations) and an over-aligned alloca (the frame is realigned). Both hold roots
; across allocating calls and keep plain data in their allocas, checked after the collections.

define internal i64 @dynamic_alloca(i64 %n, i64 %seed) #91 gc "statepoint-example" {
entry:
  %buf = alloca i64, i64 %n, align 8
  %a = call i8 addrspace(1)* @box(i64 1, i64 %seed)
  br label %fill
fill:
  %i = phi i64 [ 0, %entry ], [ %i1, %fill ]
  %p = getelementptr inbounds i64, i64* %buf, i64 %i
  store i64 %i, i64* %p, align 8
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %n
  br i1 %more, label %fill, label %alloc
alloc:
  %b = call i8 addrspace(1)* @box(i64 0, i64 1000)   ; a is live across: relocated in this frame
  call void @set_ref(i8 addrspace(1)* %a, i64 0, i8 addrspace(1)* %b)
  %c = call i8 addrspace(1)* @box(i64 0, i64 1)      ; a and b live across
  br label %sum
sum:
  %j = phi i64 [ 0, %alloc ], [ %j1, %sum ]
  %acc = phi i64 [ 0, %alloc ], [ %acc1, %sum ]
  %q = getelementptr inbounds i64, i64* %buf, i64 %j
  %x = load i64, i64* %q, align 8
  %acc1 = add i64 %acc, %x
  %j1 = add i64 %j, 1
  %jmore = icmp ult i64 %j1, %n
  br i1 %jmore, label %sum, label %done
done:
  %av = call i64 @word(i8 addrspace(1)* %a, i64 8)
  %ab = call i8 addrspace(1)* @ref(i8 addrspace(1)* %a, i64 0)
  %same = icmp eq i8 addrspace(1)* %ab, %b
  %bv = call i64 @word(i8 addrspace(1)* %b, i64 0)
  %cv = call i64 @word(i8 addrspace(1)* %c, i64 0)
  %s1 = add i64 %acc1, %av
  %s2 = add i64 %s1, %bv
  %s3 = add i64 %s2, %cv
  %res = select i1 %same, i64 %s3, i64 -1
  ret i64 %res                                  ; n(n-1)/2 + seed + 1001
}

define internal i64 @over_aligned(i64 %seed) #91 gc "statepoint-example" {
  %buf = alloca [8 x i64], align 64
  %p0 = getelementptr inbounds [8 x i64], [8 x i64]* %buf, i64 0, i64 0
  %p7 = getelementptr inbounds [8 x i64], [8 x i64]* %buf, i64 0, i64 7
  store volatile i64 %seed, i64* %p0, align 64
  store volatile i64 7, i64* %p7, align 8
  %a = call i8 addrspace(1)* @box(i64 0, i64 %seed)
  %b = call i8 addrspace(1)* @box(i64 1, i64 20)
  call void @set_ref(i8 addrspace(1)* %b, i64 0, i8 addrspace(1)* %a)
  %c = call i8 addrspace(1)* @box(i64 0, i64 300)
  %x0 = load volatile i64, i64* %p0, align 64
  %x7 = load volatile i64, i64* %p7, align 8
  %addr = ptrtoint i64* %p0 to i64
  %mis = and i64 %addr, 63
  %aligned = icmp eq i64 %mis, 0
  %av = call i64 @word(i8 addrspace(1)* %a, i64 0)
  %ba = call i8 addrspace(1)* @ref(i8 addrspace(1)* %b, i64 0)
  %bav = call i64 @word(i8 addrspace(1)* %ba, i64 0)
  %bv = call i64 @word(i8 addrspace(1)* %b, i64 8)
  %cv = call i64 @word(i8 addrspace(1)* %c, i64 0)
  %s1 = add i64 %x0, %x7
  %s2 = add i64 %s1, %av
  %s3 = add i64 %s2, %bav
  %s4 = add i64 %s3, %bv
  %s5 = add i64 %s4, %cv
  %res = select i1 %aligned, i64 %s5, i64 -1
  ret i64 %res                                  ; 3 seed + 327
}

define i64 @e2e_dynamic_frames(i64 %rounds) #91 gc "statepoint-example" {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc2, %loop ]
  %n = add i64 %i, 3
  %d = call i64 @dynamic_alloca(i64 %n, i64 %i)
  %o = call i64 @over_aligned(i64 %i)
  %acc1 = add i64 %acc, %d
  %acc2 = add i64 %acc1, %o
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %rounds
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc2
}
