; Lists: cells refs [next], data [value]. Builds 1..n by prepending (list n..1), maps it to a new
; list of 3v+1 (reversing it), keeps the even values in a third list (reversing again), and
; returns sum over positions p (from 1) of p * value of that last list.

define internal i8 addrspace(1)* @cons(i64 %v, i8 addrspace(1)* %next) #91 gc "statepoint-example" {
  %c = call i8 addrspace(1)* @box(i64 1, i64 %v)
  call void @set_ref(i8 addrspace(1)* %c, i64 0, i8 addrspace(1)* %next)
  ret i8 addrspace(1)* %c
}

define i64 @e2e_lists(i64 %n) #91 gc "statepoint-example" {
entry:
  br label %build
build:
  %i = phi i64 [ 1, %entry ], [ %i1, %build_body ]
  %list = phi i8 addrspace(1)* [ null, %entry ], [ %cell, %build_body ]
  %more = icmp sle i64 %i, %n
  br i1 %more, label %build_body, label %map
build_body:
  %cell = call i8 addrspace(1)* @cons(i64 %i, i8 addrspace(1)* %list)
  %i1 = add i64 %i, 1
  br label %build
map:
  %p = phi i8 addrspace(1)* [ %list, %build ], [ %pnext, %map_body ]
  %mapped = phi i8 addrspace(1)* [ null, %build ], [ %mcell, %map_body ]
  %pnull = icmp eq i8 addrspace(1)* %p, null
  br i1 %pnull, label %filter, label %map_body
map_body:
  %pv = call i64 @word(i8 addrspace(1)* %p, i64 8)
  %v3 = mul i64 %pv, 3
  %v31 = add i64 %v3, 1
  %mcell = call i8 addrspace(1)* @cons(i64 %v31, i8 addrspace(1)* %mapped)
  %pnext = call i8 addrspace(1)* @ref(i8 addrspace(1)* %p, i64 0)
  br label %map
filter:
  %q = phi i8 addrspace(1)* [ %mapped, %map ], [ %qnext, %filter_next ]
  %kept = phi i8 addrspace(1)* [ null, %map ], [ %kept1, %filter_next ]
  %qnull = icmp eq i8 addrspace(1)* %q, null
  br i1 %qnull, label %sum, label %filter_body
filter_body:
  %qv = call i64 @word(i8 addrspace(1)* %q, i64 8)
  %odd = and i64 %qv, 1
  %even = icmp eq i64 %odd, 0
  br i1 %even, label %keep, label %filter_next
keep:
  %kcell = call i8 addrspace(1)* @cons(i64 %qv, i8 addrspace(1)* %kept)
  br label %filter_next
filter_next:
  %kept1 = phi i8 addrspace(1)* [ %kcell, %keep ], [ %kept, %filter_body ]
  %qnext = call i8 addrspace(1)* @ref(i8 addrspace(1)* %q, i64 0)
  br label %filter
sum:
  %s = phi i8 addrspace(1)* [ %kept, %filter ], [ %snext, %sum_body ]
  %pos = phi i64 [ 1, %filter ], [ %pos1, %sum_body ]
  %acc = phi i64 [ 0, %filter ], [ %acc1, %sum_body ]
  %snull = icmp eq i8 addrspace(1)* %s, null
  br i1 %snull, label %done, label %sum_body
sum_body:
  %sv = call i64 @word(i8 addrspace(1)* %s, i64 8)
  %w = mul i64 %sv, %pos
  %acc1 = add i64 %acc, %w
  %pos1 = add i64 %pos, 1
  %snext = call i8 addrspace(1)* @ref(i8 addrspace(1)* %s, i64 0)
  br label %sum
done:
  ret i64 %acc
}
