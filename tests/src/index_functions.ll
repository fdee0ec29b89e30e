; Managed functions linked into the index tests: statepoints with two, zero and one live GC roots.
declare void @gcwalk_test_callee()
declare i8 addrspace(1)* @gcwalk_test_make()

define i64 @idx_two_roots(i8 addrspace(1)* %a, i8 addrspace(1)* %b) uwtable gc "statepoint-example" {
entry:
  call void @gcwalk_test_callee()
  %pa = bitcast i8 addrspace(1)* %a to i64 addrspace(1)*
  %va = load i64, i64 addrspace(1)* %pa
  call void @gcwalk_test_callee()
  %pb = bitcast i8 addrspace(1)* %b to i64 addrspace(1)*
  %vb = load i64, i64 addrspace(1)* %pb
  %s = add i64 %va, %vb
  ret i64 %s
}

define i64 @idx_no_roots(i64 %x) uwtable gc "statepoint-example" {
entry:
  call void @gcwalk_test_callee()
  %y = add i64 %x, 1
  ret i64 %y
}

define i8 addrspace(1)* @idx_make_pair() uwtable gc "statepoint-example" {
entry:
  %a = call i8 addrspace(1)* @gcwalk_test_make()
  %b = call i8 addrspace(1)* @gcwalk_test_make()
  %pb = bitcast i8 addrspace(1)* %b to i8 addrspace(1)* addrspace(1)*
  store i8 addrspace(1)* %a, i8 addrspace(1)* addrspace(1)* %pb
  ret i8 addrspace(1)* %b
}
