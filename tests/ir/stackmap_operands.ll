; Stack maps (llvm.experimental.stackmap) with every operand kind LLVM emits: small and large
; constants (Constant / ConstantIndex), values in registers, values spilled across a call
; (Indirect), allocas (Direct), 16-byte vectors, i128 constants and several records per function.
target triple = "x86_64-unknown-linux-gnu"

declare void @llvm.experimental.stackmap(i64, i32, ...)
declare void @fx_call()
declare void @fx_sink(i8*)

; Constants only: small (Constant), negative, and over 32 bits (ConstantIndex), deduplicated.
define void @sm_constants() uwtable {
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 1, i32 0, i64 0, i64 7, i64 -1, i64 2147483647, i64 4294967296, i64 -4294967297, i64 4294967296, i32 -5, i8 3, i128 5)
  call void @fx_call()
  ret void
}

; Values live in registers at a stack map with no call in between.
define i64 @sm_registers(i64 %a, i64 %b, i32 %c, double %d) uwtable {
  %s = add i64 %a, %b
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 2, i32 0, i64 %a, i64 %b, i32 %c, i64 %s, double %d)
  ret i64 %s
}

; Values that live across a call end up in stack slots (Indirect), allocas are Direct,
; vectors take 16 bytes.
define i64 @sm_stack(i64 %a, i64 %b, <4 x i32>* %vp, <2 x double>* %wp) uwtable {
  %slot = alloca i64
  %buf = alloca [4 x i64]
  %v = load volatile <4 x i32>, <4 x i32>* %vp
  %w = load volatile <2 x double>, <2 x double>* %wp
  %p = bitcast i64* %slot to i8*
  call void @fx_sink(i8* %p)
  %q = bitcast [4 x i64]* %buf to i8*
  call void @fx_sink(i8* %q)
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 3, i32 0, i64 %a, i64 %b, <4 x i32> %v, <2 x double> %w, i64* %slot, [4 x i64]* %buf)
  call void @fx_call()
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 4, i32 8, i64 %a, i64 1099511627776, i64* %slot)
  %r = add i64 %a, %b
  ret i64 %r
}

; A function with a stack map that records no locations, and a shadow of 16 bytes.
define void @sm_empty() uwtable {
  call void (i64, i32, ...) @llvm.experimental.stackmap(i64 18446744073709551615, i32 16)
  ret void
}
