; Two managed objects in one executable (this one and two_objects_b.ll): ping here and pong there
; call each other, each frame holding an object across the call into the other file.

declare i64 @pong(i64, i8 addrspace(1)*)

define i64 @ping(i64 %n, i8 addrspace(1)* %prev) #91 gc "statepoint-example" {
entry:
  %mine = call i8 addrspace(1)* @box(i64 1, i64 %n)
  call void @set_ref(i8 addrspace(1)* %mine, i64 0, i8 addrspace(1)* %prev)
  %stop = icmp eq i64 %n, 0
  br i1 %stop, label %bottom, label %deeper
bottom:
  call void @gcwalk_rt_collect()
  br label %done
deeper:
  %n1 = sub i64 %n, 1
  %r = call i64 @pong(i64 %n1, i8 addrspace(1)* %mine)
  br label %done
done:
  %below = phi i64 [ 0, %bottom ], [ %r, %deeper ]
  %v = call i64 @word(i8 addrspace(1)* %mine, i64 8)
  %p = call i8 addrspace(1)* @ref(i8 addrspace(1)* %mine, i64 0)
  %isnull = icmp eq i8 addrspace(1)* %p, null
  br i1 %isnull, label %last, label %link
link:
  %pv = call i64 @word(i8 addrspace(1)* %p, i64 8)
  br label %last
last:
  %prevv = phi i64 [ 0, %done ], [ %pv, %link ]
  %v2 = mul i64 %v, 2
  %s = add i64 %below, %v2
  %t = add i64 %s, %prevv
  ret i64 %t
}

define i64 @e2e_two_objects(i64 %n) #91 gc "statepoint-example" {
  %r = call i64 @ping(i64 %n, i8 addrspace(1)* null)
  ret i64 %r
}
