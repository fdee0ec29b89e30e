; Deep recursion: 10,000 managed frames, each holding two roots (the shared array and its own
; element) across the recursive call; at the bottom, collections walk every frame. Every frame then
; checks that its element, read through its relocated root, still holds the expected value.
; Elements: data [value]; the array: refs [16 elements].

define internal i64 @deep(i64 %d, i8 addrspace(1)* %arr) #91 gc "statepoint-example" {
entry:
  %bottom = icmp eq i64 %d, 0
  br i1 %bottom, label %base, label %rec
base:
  call void @gcwalk_rt_collect()
  %extra = call i8 addrspace(1)* @box(i64 0, i64 5)   ; another collection under GCWALK_STRESS
  call void @gcwalk_rt_collect()
  %ev = call i64 @word(i8 addrspace(1)* %extra, i64 0)
  ret i64 %ev
rec:
  %slot = urem i64 %d, 16
  %mine = call i8 addrspace(1)* @ref(i8 addrspace(1)* %arr, i64 %slot)
  %d1 = sub i64 %d, 1
  %below = call i64 @deep(i64 %d1, i8 addrspace(1)* %arr)
  %v = call i64 @word(i8 addrspace(1)* %mine, i64 0)
  %want = add i64 %slot, 100
  %good = icmp eq i64 %v, %want
  %mine_again = call i8 addrspace(1)* @ref(i8 addrspace(1)* %arr, i64 %slot)
  %same = icmp eq i8 addrspace(1)* %mine, %mine_again
  %both = and i1 %good, %same
  br i1 %both, label %ok, label %bad
ok:
  %r = add i64 %below, %v
  ret i64 %r
bad:
  ret i64 -1000000000
}

define i64 @e2e_deep(i64 %depth) #91 gc "statepoint-example" {
entry:
  %arr = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 16, i64 0)
  br label %fill
fill:
  %i = phi i64 [ 0, %entry ], [ %i1, %fill ]
  %v = add i64 %i, 100
  %e = call i8 addrspace(1)* @box(i64 0, i64 %v)
  call void @set_ref(i8 addrspace(1)* %arr, i64 %i, i8 addrspace(1)* %e)
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, 16
  br i1 %more, label %fill, label %go
go:
  %r = call i64 @deep(i64 %depth, i8 addrspace(1)* %arr)
  ret i64 %r
}
