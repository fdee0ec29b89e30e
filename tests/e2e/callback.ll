; A native frame between managed frames: managed_level calls the C function native_level (a
; statepoint: it is not a gc-leaf), which calls managed_level again, and so on. Each managed frame
; holds an object across the call through C; the bottom collects.

declare i64 @native_level(i64)

define i64 @managed_level(i64 %d) #91 gc "statepoint-example" {
entry:
  %mine = call i8 addrspace(1)* @box(i64 0, i64 %d)
  %stop = icmp eq i64 %d, 0
  br i1 %stop, label %bottom, label %deeper
bottom:
  call void @gcwalk_rt_collect()
  br label %done
deeper:
  %d1 = sub i64 %d, 1
  %r = call i64 @native_level(i64 %d1)
  br label %done
done:
  %below = phi i64 [ 0, %bottom ], [ %r, %deeper ]
  %v = call i64 @word(i8 addrspace(1)* %mine, i64 0)
  %v5 = mul i64 %v, 5
  %s = add i64 %below, %v5
  ret i64 %s
}
