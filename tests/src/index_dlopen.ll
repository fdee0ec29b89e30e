; A managed function in a shared object that the registry tests dlopen and dlclose.
define void @gcwalk_test_dl_callee() noinline uwtable {
  ret void
}

define i64 @idx_dl_function(i8 addrspace(1)* %a) uwtable gc "statepoint-example" {
entry:
  call void @gcwalk_test_dl_callee()
  %p = bitcast i8 addrspace(1)* %a to i64 addrspace(1)*
  %v = load i64, i64 addrspace(1)* %p
  ret i64 %v
}
