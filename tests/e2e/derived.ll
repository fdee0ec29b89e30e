; Real derived pointers across safepoints, both ways LLVM keeps them (docs/INTEGRATION.md): constant-offset
; GEPs kept live by opt -spp-rematerialization-threshold=0 with llc -disable-cgp-gc-opts (this file
; is compiled with both), and derived pointers carried by loop phis. They point into the middle of
; an object, one past its end, and before its first field; each is relocated as
; new base + (old derived - old base), then used (loads, stores, differences).

; Pointers to reference field 5, to the data word after the 8 references, one past the end of the
; object and before its first field (at its header), held across allocations.
define internal i64 @gep_pairs() #91 gc "statepoint-example" {
  %arr = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 8, i64 8)
  %f = bitcast i8 addrspace(1)* %arr to i8 addrspace(1)* addrspace(1)*
  %mid = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 5
  %end = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 8
  %past = getelementptr inbounds i8, i8 addrspace(1)* %arr, i64 72
  %before = getelementptr i8, i8 addrspace(1)* %arr, i64 -8
  %x = call i8 addrspace(1)* @box(i64 0, i64 41)          ; collection: arr, mid, end, before move
  store i8 addrspace(1)* %x, i8 addrspace(1)* addrspace(1)* %mid, align 8
  %y = call i8 addrspace(1)* @box(i64 0, i64 1)           ; collection: x now reachable through arr
  %endw = bitcast i8 addrspace(1)* addrspace(1)* %end to i64 addrspace(1)*
  %data = load i64, i64 addrspace(1)* %endw, align 8       ; the data word after the 8 references (0)
  %got = call i8 addrspace(1)* @ref(i8 addrspace(1)* %arr, i64 5)
  %gv = call i64 @word(i8 addrspace(1)* %got, i64 0)
  %yv = call i64 @word(i8 addrspace(1)* %y, i64 0)
  ; distances between the relocated pointers must be unchanged
  %ia = ptrtoint i8 addrspace(1)* %arr to i64
  %ie = ptrtoint i8 addrspace(1)* addrspace(1)* %end to i64
  %ib = ptrtoint i8 addrspace(1)* %before to i64
  %ip = ptrtoint i8 addrspace(1)* %past to i64
  %de = sub i64 %ie, %ia
  %db = sub i64 %ia, %ib
  %dp = sub i64 %ip, %ia
  %ok_e = icmp eq i64 %de, 64
  %ok_b = icmp eq i64 %db, 8
  %ok_p = icmp eq i64 %dp, 72
  %ok_d = icmp eq i64 %data, 0
  %ok1 = and i1 %ok_e, %ok_b
  %ok2 = and i1 %ok1, %ok_p
  %ok = and i1 %ok2, %ok_d
  %sum = add i64 %gv, %yv
  %res = select i1 %ok, i64 %sum, i64 -1
  ret i64 %res                                             ; 42
}

; Fills the 16 reference fields of an array through a cursor carried by a loop phi (a derived
; pointer, from field 0 up to one past the end), allocating in every iteration; then sums the
; values through a second phi cursor that walks the data words of each element.
define internal i64 @phi_cursor() #91 gc "statepoint-example" {
entry:
  %arr = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 16, i64 0)
  %f = bitcast i8 addrspace(1)* %arr to i8 addrspace(1)* addrspace(1)*
  %end = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 16
  br label %fill
fill:
  %cur = phi i8 addrspace(1)* addrspace(1)* [ %f, %entry ], [ %next, %fill ]
  %i = phi i64 [ 1, %entry ], [ %i1, %fill ]
  %e = call i8 addrspace(1)* @box(i64 0, i64 %i)
  store i8 addrspace(1)* %e, i8 addrspace(1)* addrspace(1)* %cur, align 8
  %next = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %cur, i64 1
  %i1 = add i64 %i, 1
  %more = icmp ne i8 addrspace(1)* addrspace(1)* %next, %end
  br i1 %more, label %fill, label %sum
sum:
  %scur = phi i8 addrspace(1)* addrspace(1)* [ %f, %fill ], [ %snext, %sum ]
  %acc = phi i64 [ 0, %fill ], [ %acc1, %sum ]
  %k = phi i64 [ 1, %fill ], [ %k1, %sum ]
  call void @gcwalk_rt_safepoint()                        ; scur and end live across it
  %el = load i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %scur, align 8
  %v = call i64 @word(i8 addrspace(1)* %el, i64 0)
  %vk = mul i64 %v, %k
  %acc1 = add i64 %acc, %vk
  %snext = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %scur, i64 1
  %k1 = add i64 %k, 1
  %smore = icmp ne i8 addrspace(1)* addrspace(1)* %snext, %end
  br i1 %smore, label %sum, label %done
done:
  ret i64 %acc1                                            ; sum of k * k for k = 1..16 = 1496
}

define i64 @e2e_derived(i64 %rounds) #91 gc "statepoint-example" {
entry:
  br label %loop
loop:
  %r = phi i64 [ 0, %entry ], [ %r1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc2, %loop ]
  %a = call i64 @gep_pairs()
  %b = call i64 @phi_cursor()
  %ab = mul i64 %a, 100000
  %acc1 = add i64 %acc, %ab
  %acc2 = add i64 %acc1, %b
  %r1 = add i64 %r, 1
  %more = icmp ult i64 %r1, %rounds
  br i1 %more, label %loop, label %done
done:
  ret i64 %acc2
}
