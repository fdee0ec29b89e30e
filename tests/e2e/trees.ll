; Trees built recursively: nodes refs [left, right], data [value]; heap numbering (root 1,
; children 2v and 2v+1). mirror() builds a mirrored copy recursively while the original subtree
; stays live in every frame across two allocating calls. check(t) = v + 3 check(l) - check(r).

define i8 addrspace(1)* @tree_build(i64 %depth, i64 %v) #91 gc "statepoint-example" {
entry:
  %leaf = icmp slt i64 %depth, 0
  br i1 %leaf, label %nil, label %node
nil:
  ret i8 addrspace(1)* null
node:
  %d1 = sub i64 %depth, 1
  %lv = shl i64 %v, 1
  %rv = add i64 %lv, 1
  %l = call i8 addrspace(1)* @tree_build(i64 %d1, i64 %lv)
  %r = call i8 addrspace(1)* @tree_build(i64 %d1, i64 %rv)
  %n = call i8 addrspace(1)* @box(i64 2, i64 %v)
  call void @set_ref(i8 addrspace(1)* %n, i64 0, i8 addrspace(1)* %l)
  call void @set_ref(i8 addrspace(1)* %n, i64 1, i8 addrspace(1)* %r)
  ret i8 addrspace(1)* %n
}

define i8 addrspace(1)* @tree_mirror(i8 addrspace(1)* %t) #91 gc "statepoint-example" {
entry:
  %isnull = icmp eq i8 addrspace(1)* %t, null
  br i1 %isnull, label %nil, label %node
nil:
  ret i8 addrspace(1)* null
node:
  %r = call i8 addrspace(1)* @ref(i8 addrspace(1)* %t, i64 1)
  %mr = call i8 addrspace(1)* @tree_mirror(i8 addrspace(1)* %r)
  %l = call i8 addrspace(1)* @ref(i8 addrspace(1)* %t, i64 0)
  %ml = call i8 addrspace(1)* @tree_mirror(i8 addrspace(1)* %l)
  %v = call i64 @word(i8 addrspace(1)* %t, i64 16)
  %n = call i8 addrspace(1)* @box(i64 2, i64 %v)
  call void @set_ref(i8 addrspace(1)* %n, i64 0, i8 addrspace(1)* %mr)
  call void @set_ref(i8 addrspace(1)* %n, i64 1, i8 addrspace(1)* %ml)
  ret i8 addrspace(1)* %n
}

define i64 @tree_check(i8 addrspace(1)* %t) #91 gc "statepoint-example" {
entry:
  %isnull = icmp eq i8 addrspace(1)* %t, null
  br i1 %isnull, label %zero, label %node
zero:
  ret i64 0
node:
  ; a poll per node: under GCWALK_STRESS=1 the walk sees the whole path to this node
  call void @gcwalk_rt_safepoint()
  %v = call i64 @word(i8 addrspace(1)* %t, i64 16)
  %l = call i8 addrspace(1)* @ref(i8 addrspace(1)* %t, i64 0)
  %cl = call i64 @tree_check(i8 addrspace(1)* %l)
  %r = call i8 addrspace(1)* @ref(i8 addrspace(1)* %t, i64 1)
  %cr = call i64 @tree_check(i8 addrspace(1)* %r)
  %cl3 = mul i64 %cl, 3
  %a = add i64 %v, %cl3
  %b = sub i64 %a, %cr
  ret i64 %b
}

; check(tree) * 1000003 + check(mirror(tree)), with the original checked again after mirroring.
define i64 @e2e_trees(i64 %depth) #91 gc "statepoint-example" {
  %t = call i8 addrspace(1)* @tree_build(i64 %depth, i64 1)
  %m = call i8 addrspace(1)* @tree_mirror(i8 addrspace(1)* %t)
  %ct = call i64 @tree_check(i8 addrspace(1)* %t)
  %cm = call i64 @tree_check(i8 addrspace(1)* %m)
  %hi = mul i64 %ct, 1000003
  %res = add i64 %hi, %cm
  ret i64 %res
}
