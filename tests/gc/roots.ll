; Managed code for the root tests, compiled three ways (tests/gc/CMakeLists.txt): plain (every root
; in a stack slot), with real derived pairs, and with roots in callee-saved registers. Objects come
; from rt_alloc; rt_collect moves every object (test_roots.cpp); values read after it prove that
; every root was relocated.
target triple = "x86_64-unknown-linux-gnu"

declare i8 addrspace(1)* @rt_alloc(i64)
declare void @rt_collect()
declare i64 @rt_native(i64)
declare i8 addrspace(1)* @rt_null()

; Two objects holding a and b across a collection; returns a + b read after it.
define i64 @gr_sum(i64 %a, i64 %b) uwtable gc "statepoint-example" {
  %o1 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p1 = bitcast i8 addrspace(1)* %o1 to i64 addrspace(1)*
  store i64 %a, i64 addrspace(1)* %p1
  %o2 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p2 = bitcast i8 addrspace(1)* %o2 to i64 addrspace(1)*
  store i64 %b, i64 addrspace(1)* %p2
  call void @rt_collect()
  %v1 = load i64, i64 addrspace(1)* %p1
  %v2 = load i64, i64 addrspace(1)* %p2
  %s = add i64 %v1, %v2
  ret i64 %s
}

; An object holding a and a null GC pointer (from the runtime: llc cannot know it is null) live
; across a collection; returns a + 1 when the null is still null after it.
define i64 @gr_null(i64 %a) uwtable gc "statepoint-example" {
  %o = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p = bitcast i8 addrspace(1)* %o to i64 addrspace(1)*
  store i64 %a, i64 addrspace(1)* %p
  %n = call i8 addrspace(1)* @rt_null()
  call void @rt_collect()
  %v = load i64, i64 addrspace(1)* %p
  %isnull = icmp eq i8 addrspace(1)* %n, null
  %one = zext i1 %isnull to i64
  %s = add i64 %v, %one
  ret i64 %s
}

; A pointer to field 2 of an object (derived) and the object itself, live across a collection;
; returns a + 7.
define i64 @gr_derived(i64 %a) uwtable gc "statepoint-example" {
  %o = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p = bitcast i8 addrspace(1)* %o to i64 addrspace(1)*
  %f = getelementptr i64, i64 addrspace(1)* %p, i64 2
  store i64 %a, i64 addrspace(1)* %f
  store i64 7, i64 addrspace(1)* %p
  call void @rt_collect()
  %v = load i64, i64 addrspace(1)* %f
  %w = load i64, i64 addrspace(1)* %p
  %s = add i64 %v, %w
  ret i64 %s
}

; Holds an object holding a while native code (rt_native) calls back into gr_sum(b, b), which
; collects; returns a + 2b.
define i64 @gr_outer(i64 %a, i64 %b) uwtable gc "statepoint-example" {
  %o = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p = bitcast i8 addrspace(1)* %o to i64 addrspace(1)*
  store i64 %a, i64 addrspace(1)* %p
  %r = call i64 @rt_native(i64 %b)
  %v = load i64, i64 addrspace(1)* %p
  %s = add i64 %r, %v
  ret i64 %s
}

; Six objects live at once (a .. a+5): more than four, so with register roots some stay in
; registers and some in stack slots; collects through %collect (rt_collect, or a collector that
; captures the context without the stub); returns 6a + 15.
define i64 @gr_many(i64 %a, void ()* %collect) uwtable gc "statepoint-example" {
  %o0 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %o1 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %o2 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %o3 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %o4 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %o5 = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p0 = bitcast i8 addrspace(1)* %o0 to i64 addrspace(1)*
  %p1 = bitcast i8 addrspace(1)* %o1 to i64 addrspace(1)*
  %p2 = bitcast i8 addrspace(1)* %o2 to i64 addrspace(1)*
  %p3 = bitcast i8 addrspace(1)* %o3 to i64 addrspace(1)*
  %p4 = bitcast i8 addrspace(1)* %o4 to i64 addrspace(1)*
  %p5 = bitcast i8 addrspace(1)* %o5 to i64 addrspace(1)*
  %a1 = add i64 %a, 1
  %a2 = add i64 %a, 2
  %a3 = add i64 %a, 3
  %a4 = add i64 %a, 4
  %a5 = add i64 %a, 5
  store i64 %a, i64 addrspace(1)* %p0
  store i64 %a1, i64 addrspace(1)* %p1
  store i64 %a2, i64 addrspace(1)* %p2
  store i64 %a3, i64 addrspace(1)* %p3
  store i64 %a4, i64 addrspace(1)* %p4
  store i64 %a5, i64 addrspace(1)* %p5
  call void %collect()
  %v0 = load i64, i64 addrspace(1)* %p0
  %v1 = load i64, i64 addrspace(1)* %p1
  %v2 = load i64, i64 addrspace(1)* %p2
  %v3 = load i64, i64 addrspace(1)* %p3
  %v4 = load i64, i64 addrspace(1)* %p4
  %v5 = load i64, i64 addrspace(1)* %p5
  %s1 = add i64 %v0, %v1
  %s2 = add i64 %s1, %v2
  %s3 = add i64 %s2, %v3
  %s4 = add i64 %s3, %v4
  %s5 = add i64 %s4, %v5
  ret i64 %s5
}

; n + 1 frames, each holding its own object (holding k), collecting at the bottom; returns the
; sum 0 + 1 + ... + n read after the collection.
define i64 @gr_recurse(i64 %n) uwtable gc "statepoint-example" {
entry:
  %o = call i8 addrspace(1)* @rt_alloc(i64 32)
  %p = bitcast i8 addrspace(1)* %o to i64 addrspace(1)*
  store i64 %n, i64 addrspace(1)* %p
  %done = icmp eq i64 %n, 0
  br i1 %done, label %base, label %deeper
base:
  call void @rt_collect()
  br label %join
deeper:
  %m = sub i64 %n, 1
  %r = call i64 @gr_recurse(i64 %m)
  br label %join
join:
  %below = phi i64 [ 0, %base ], [ %r, %deeper ]
  %v = load i64, i64 addrspace(1)* %p
  %s = add i64 %below, %v
  ret i64 %s
}
