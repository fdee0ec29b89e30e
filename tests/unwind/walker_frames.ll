; Managed code for the walker tests: recursion to a chosen depth, a native frame between managed
; frames, a deopt bundle, and a call without a record (gc-leaf-function) inside a managed function.
; Every wt_* call ends in C++ (test_walker.cpp), which enters the safepoint stub and walks.
target triple = "x86_64-unknown-linux-gnu"

declare void @wt_safepoint()
declare void @wt_native(i64)
declare void @wt_leaf()

; n + 1 frames of wt_recurse, the innermost calling wt_safepoint.
define void @wt_recurse(i64 %n) uwtable gc "statepoint-example" {
entry:
  %done = icmp eq i64 %n, 0
  br i1 %done, label %base, label %deeper
base:
  call void @wt_safepoint()
  ret void
deeper:
  %m = sub i64 %n, 1
  call void @wt_recurse(i64 %m)
  ret void
}

; managed -> native (wt_native, C++) -> managed (wt_recurse).
define void @wt_through_native(i64 %n) uwtable gc "statepoint-example" {
  call void @wt_native(i64 %n)
  ret void
}

; Deopt values of three kinds: a runtime value, a constant over 32 bits, a small negative one.
define i64 @wt_deopt(i64 %x) uwtable gc "statepoint-example" {
  call void @wt_safepoint() [ "deopt"(i64 %x, i64 12345678901234, i32 -5) ]
  %y = add i64 %x, 1
  ret i64 %y
}

; The first call is a gc leaf: no statepoint, no record, but its return address lies inside a
; function that has records (the second call gives it one).
define void @wt_no_record() uwtable gc "statepoint-example" {
  call void @wt_leaf() "gc-leaf-function"
  call void @wt_safepoint()
  ret void
}

define void @wt_outer_no_record() uwtable gc "statepoint-example" {
  call void @wt_no_record()
  ret void
}
