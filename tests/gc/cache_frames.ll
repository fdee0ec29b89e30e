; Managed frames for the WalkCache tests (test_walk_cache.cpp). The innermost frame calls
; gcwalk_safepoint_enter itself, so a walk starts at a managed frame. Below it: a frame with a
; dynamic alloca (CFA from RBP, not the standard frame-pointer shape), then a recursion that
; alternates frame-pointer frames (a step reads the saved RBP and the return address) with
; RSP-based ones (the return address only), then one of two outer callers with the same frame
; layout, so that the inner frames can stay at the same addresses while an outer one changes.
; Compiled with register GC roots allowed, so some roots live in callee-saved registers.
; wc_in_stub, wc_use and wc_native are C++ in test_walk_cache.cpp.
target triple = "x86_64-unknown-linux-gnu"

declare void @gcwalk_safepoint_enter(void (i8*, i8*)*, i8*)
declare void @wc_in_stub(i8*, i8*)
declare void @wc_use(i8 addrspace(1)*)
declare void @wc_sink(i8*)
declare void @wc_native(i8 addrspace(1)*, i8 addrspace(1)*, i64, i64)

define i64 @wc_leaf(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %x) uwtable gc "statepoint-example" {
  %a = mul i64 %x, 3
  %b = add i64 %x, 7
  call void @gcwalk_safepoint_enter(void (i8*, i8*)* @wc_in_stub, i8* null)
  call void @wc_use(i8 addrspace(1)* %obj)
  call void @wc_use(i8 addrspace(1)* %obj2)
  %s = add i64 %a, %b
  ret i64 %s
}

define void @wc_dyn(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n) uwtable gc "statepoint-example" {
  %buf = alloca i8, i64 %n, align 16
  call void @wc_sink(i8* %buf)
  %r = call i64 @wc_leaf(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n)
  call void @wc_use(i8 addrspace(1)* %obj2)
  ret void
}

define void @wc_fp(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n) uwtable "frame-pointer"="all" gc "statepoint-example" {
entry:
  %z = icmp eq i64 %n, 0
  br i1 %z, label %leaf, label %deeper
leaf:
  call void @wc_dyn(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 24)
  br label %done
deeper:
  %m = sub i64 %n, 1
  call void @wc_nofp(i8 addrspace(1)* %obj2, i8 addrspace(1)* %obj, i64 %m)
  br label %done
done:
  call void @wc_use(i8 addrspace(1)* %obj)
  call void @wc_use(i8 addrspace(1)* %obj2)
  ret void
}

define void @wc_nofp(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n) uwtable gc "statepoint-example" {
entry:
  %z = icmp eq i64 %n, 0
  br i1 %z, label %leaf, label %deeper
leaf:
  call void @wc_dyn(i8 addrspace(1)* %obj2, i8 addrspace(1)* %obj, i64 40)
  br label %done
deeper:
  %m = sub i64 %n, 1
  call void @wc_fp(i8 addrspace(1)* %obj2, i8 addrspace(1)* %obj, i64 %m)
  br label %done
done:
  call void @wc_use(i8 addrspace(1)* %obj2)
  call void @wc_use(i8 addrspace(1)* %obj)
  ret void
}

define void @wc_outer_a(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n) uwtable gc "statepoint-example" {
  call void @wc_fp(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n)
  call void @wc_use(i8 addrspace(1)* %obj)
  ret void
}

define void @wc_outer_b(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n) uwtable gc "statepoint-example" {
  call void @wc_fp(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n)
  call void @wc_use(i8 addrspace(1)* %obj)
  ret void
}

; A chain of frame-pointer frames that hold nothing: two words each (the saved RBP and the return
; address), so a cache checks them as one long run of adjacent words.
define void @wc_fpchain(i64 %n) uwtable "frame-pointer"="all" gc "statepoint-example" {
entry:
  %z = icmp eq i64 %n, 0
  br i1 %z, label %leaf, label %deeper
leaf:
  %r = call i64 @wc_leaf(i8 addrspace(1)* null, i8 addrspace(1)* null, i64 1)
  ret void
deeper:
  %m = sub i64 %n, 1
  call void @wc_fpchain(i64 %m)
  ret void
}

; which: 0 = wc_outer_a, 1 = wc_outer_b, 2 = wc_outer_a through the C++ frame wc_native,
; 3 = the frame-pointer chain wc_fpchain.
define void @wc_top(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 %which) uwtable gc "statepoint-example" {
entry:
  switch i64 %which, label %a [ i64 1, label %b
                                i64 2, label %native
                                i64 3, label %chain ]
a:
  call void @wc_outer_a(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n)
  br label %done
b:
  call void @wc_outer_b(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n)
  br label %done
native:
  call void @wc_native(i8 addrspace(1)* %obj, i8 addrspace(1)* %obj2, i64 %n, i64 0)
  br label %done
chain:
  call void @wc_fpchain(i64 %n)
  br label %done
done:
  call void @wc_use(i8 addrspace(1)* %obj2)
  ret void
}
