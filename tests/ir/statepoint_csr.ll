; GC pointers kept in callee-saved registers across calls (llc -max-registers-for-gc-values=4
; -fixup-allow-gcptr-in-csr): records hold Register locations (rbx, rbp, r12-r15) that a walker
; must resolve through the save slots of the frames below.
target triple = "x86_64-unknown-linux-gnu"

declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)
declare i8 addrspace(1)* @fx_new()

define i8 addrspace(1)* @csr_roots(i8 addrspace(1)* %a, i8 addrspace(1)* %b, i8 addrspace(1)* %c) uwtable gc "statepoint-example" {
  call void @fx_call()
  %n = call i8 addrspace(1)* @fx_new()
  call void @fx_use(i8 addrspace(1)* %a)
  call void @fx_use(i8 addrspace(1)* %b)
  call void @fx_use(i8 addrspace(1)* %c)
  ret i8 addrspace(1)* %n
}

; Six GC pointers live at once: more than four, so some stay in stack slots.
define void @csr_mixed(i8 addrspace(1)* %a, i8 addrspace(1)* %b, i8 addrspace(1)* %c,
                       i8 addrspace(1)* %d, i8 addrspace(1)* %e, i8 addrspace(1)* %f) uwtable gc "statepoint-example" {
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %a)
  call void @fx_use(i8 addrspace(1)* %b)
  call void @fx_use(i8 addrspace(1)* %c)
  call void @fx_use(i8 addrspace(1)* %d)
  call void @fx_use(i8 addrspace(1)* %e)
  call void @fx_use(i8 addrspace(1)* %f)
  ret void
}
