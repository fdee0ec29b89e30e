; Patchpoints (llvm.experimental.patchpoint): with the anyreg calling convention the arguments
; and the result are recorded as registers, and the registers live after the patchpoint are
; recorded as live-outs.
target triple = "x86_64-unknown-linux-gnu"

declare void @llvm.experimental.patchpoint.void(i64, i32, i8*, i32, ...)
declare i64 @llvm.experimental.patchpoint.i64(i64, i32, i8*, i32, ...)
declare void @fx_call()

; anyregcc: result and both arguments in registers, plus two stack map operands.
define i64 @pp_anyreg(i64 %a, i64 %b, i64 %c, i64 %d) uwtable {
  %r = call anyregcc i64 (i64, i32, i8*, i32, ...) @llvm.experimental.patchpoint.i64(i64 10, i32 15, i8* inttoptr (i64 4660 to i8*), i32 2, i64 %a, i64 %b, i64 %c, i64 4294967297)
  %s = add i64 %r, %c
  %t = add i64 %s, %d
  %u = mul i64 %t, %a
  %w = xor i64 %u, %b
  ret i64 %w
}

; The C calling convention with a null target: no call is emitted, only 15 nop bytes;
; values live after it are live-outs.
define i64 @pp_ccc(i64 %a, i64 %b, i64 %c) uwtable {
  %x = mul i64 %a, %b
  %y = xor i64 %b, %c
  call void (i64, i32, i8*, i32, ...) @llvm.experimental.patchpoint.void(i64 11, i32 15, i8* null, i32 0, i64 %x)
  %z = add i64 %x, %y
  %q = mul i64 %z, %c
  ret i64 %q
}
