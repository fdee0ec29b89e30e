; A managed program built against an installed gcwalk: a list of 1000 objects kept alive across
; allocations that each may move every object; returns the sum of the values it stored.
declare i8 addrspace(1)* @gcwalk_rt_alloc(i64, i64)

define i64 @managed_list_sum(i64 %n) uwtable gc "statepoint-example" {
entry:
  br label %build
build:
  %i = phi i64 [ 0, %entry ], [ %i1, %build ]
  %head = phi i8 addrspace(1)* [ null, %entry ], [ %node, %build ]
  %node = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 1, i64 8)
  %next = bitcast i8 addrspace(1)* %node to i8 addrspace(1)* addrspace(1)*
  store i8 addrspace(1)* %head, i8 addrspace(1)* addrspace(1)* %next
  %vp8 = getelementptr i8, i8 addrspace(1)* %node, i64 8
  %vp = bitcast i8 addrspace(1)* %vp8 to i64 addrspace(1)*
  store i64 %i, i64 addrspace(1)* %vp
  %i1 = add i64 %i, 1
  %more = icmp ult i64 %i1, %n
  br i1 %more, label %build, label %sum
sum:
  %p = phi i8 addrspace(1)* [ %node, %build ], [ %p.next, %sum.body ]
  %acc = phi i64 [ 0, %build ], [ %acc1, %sum.body ]
  %done = icmp eq i8 addrspace(1)* %p, null
  br i1 %done, label %exit, label %sum.body
sum.body:
  %v8 = getelementptr i8, i8 addrspace(1)* %p, i64 8
  %v = bitcast i8 addrspace(1)* %v8 to i64 addrspace(1)*
  %val = load i64, i64 addrspace(1)* %v
  %acc1 = add i64 %acc, %val
  %pn = bitcast i8 addrspace(1)* %p to i8 addrspace(1)* addrspace(1)*
  %p.next = load i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %pn
  br label %sum
exit:
  ret i64 %acc
}
