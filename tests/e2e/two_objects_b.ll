; The second managed object of the two-object test: pong allocates and calls back into ping.

declare i64 @ping(i64, i8 addrspace(1)*)

define i64 @pong(i64 %n, i8 addrspace(1)* %prev) #91 gc "statepoint-example" {
  %mine = call i8 addrspace(1)* @box(i64 1, i64 %n)
  call void @set_ref(i8 addrspace(1)* %mine, i64 0, i8 addrspace(1)* %prev)
  %r = call i64 @ping(i64 %n, i8 addrspace(1)* %mine)
  %v = call i64 @word(i8 addrspace(1)* %mine, i64 8)
  %pv = call i64 @word(i8 addrspace(1)* %prev, i64 8)
  %v3 = mul i64 %v, 3
  %s = add i64 %r, %v3
  %t = add i64 %s, %pv
  ret i64 %t
}
