; Call sites whose CFI the frame-rule evaluator must refuse, and one it must accept that LLVM's
; own DWARF rows (the dump tool's old translation) did not: each function changes one column with
; an inline .cfi directive before its calls, so the row in force at both of its call sites has
; it. Linked into a shared object of its own by tests/dump (the other fixtures have no refused
; site), never run.
target triple = "x86_64-unknown-linux-gnu"

declare void @fx_call()
declare void @fx_use(i8 addrspace(1)*)

; Accepted: an ordinary frame.
define void @cr_plain(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Accepted: the CFA based on a callee-saved register (rbx) rather than RSP or RBP.
define void @cr_cfa_rbx(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void asm sideeffect ".cfi_def_cfa rbx, 16", ""() "gc-leaf-function"
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Refused: a callee-saved register (rbx) undefined.
define void @cr_undefined_rbx(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void asm sideeffect ".cfi_undefined rbx", ""() "gc-leaf-function"
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Refused: the CFA as a DWARF expression (DW_CFA_def_cfa_expression: DW_OP_breg7 16).
define void @cr_cfa_expression(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void asm sideeffect ".cfi_escape 0x0f, 0x02, 0x77, 0x10", ""() "gc-leaf-function"
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Refused: a callee-saved register (r12) kept in another register (DW_CFA_register).
define void @cr_register_rule(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void asm sideeffect ".cfi_register r12, rax", ""() "gc-leaf-function"
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Refused: the return address saved somewhere other than CFA-8.
define void @cr_return_address(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void asm sideeffect ".cfi_offset rip, -24", ""() "gc-leaf-function"
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}

; Refused: a callee-saved register (rbp) saved above the CFA.
define void @cr_saved_above_cfa(i8 addrspace(1)* %obj) uwtable gc "statepoint-example" {
  call void asm sideeffect ".cfi_offset rbp, 8", ""() "gc-leaf-function"
  call void @fx_call()
  call void @fx_use(i8 addrspace(1)* %obj)
  ret void
}
