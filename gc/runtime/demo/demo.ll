; The demo's managed program: binary trees, lists, strings of character objects and a hash map of
; string keys, all in the moving heap of libgcwalk-runtime. Compiled at build time by
; opt-14 -passes=rewrite-statepoints-for-gc and llc-14 -O2 -relocation-model=pic: every call from a
; `gc "statepoint-example"` function (to the runtime or to another managed function) is a
; statepoint, so any allocation may move every object and rewrite every live reference below.
;
; Object layouts (the runtime puts its header before the first field):
;   tree node  refs [left, right]       data [value: i64]          gcwalk_rt_alloc(2, 8)
;   list cell  refs [next]              data [value: i64]          gcwalk_rt_alloc(1, 8)
;   char       refs []                  data [code: i64]           gcwalk_rt_alloc(0, 8)
;   string     refs [chars]             data [length: i64]         gcwalk_rt_alloc(1, 8)
;   chars      refs [char 0 .. n-1]                                gcwalk_rt_alloc(n, 0)
;   map entry  refs [key string, next]  data [value: i64]          gcwalk_rt_alloc(2, 8)
;   buckets    refs [entry chain 0 .. 63]                          gcwalk_rt_alloc(64, 0)

target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:64-f80:128-n8:16:32:64-S128"
target triple = "x86_64-pc-linux-gnu"

declare i8 addrspace(1)* @gcwalk_rt_alloc(i64, i64)
declare void @gcwalk_rt_safepoint()

; ---- field access: plain code that never reaches a safepoint ("gc-leaf-function") -------------

define internal i8 addrspace(1)* @ref(i8 addrspace(1)* %o, i64 %i) #1 {
  %f = bitcast i8 addrspace(1)* %o to i8 addrspace(1)* addrspace(1)*
  %p = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 %i
  %v = load i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %p, align 8
  ret i8 addrspace(1)* %v
}

define internal void @set_ref(i8 addrspace(1)* %o, i64 %i, i8 addrspace(1)* %v) #1 {
  %f = bitcast i8 addrspace(1)* %o to i8 addrspace(1)* addrspace(1)*
  %p = getelementptr inbounds i8 addrspace(1)*, i8 addrspace(1)* addrspace(1)* %f, i64 %i
  store i8 addrspace(1)* %v, i8 addrspace(1)* addrspace(1)* %p, align 8
  ret void
}

; The i64 at byte offset %off from the first field.
define internal i64 @word(i8 addrspace(1)* %o, i64 %off) #1 {
  %b = getelementptr inbounds i8, i8 addrspace(1)* %o, i64 %off
  %p = bitcast i8 addrspace(1)* %b to i64 addrspace(1)*
  %v = load i64, i64 addrspace(1)* %p, align 8
  ret i64 %v
}

define internal void @set_word(i8 addrspace(1)* %o, i64 %off, i64 %v) #1 {
  %b = getelementptr inbounds i8, i8 addrspace(1)* %o, i64 %off
  %p = bitcast i8 addrspace(1)* %b to i64 addrspace(1)*
  store i64 %v, i64 addrspace(1)* %p, align 8
  ret void
}

define internal i64 @str_len(i8 addrspace(1)* %s) #1 {
  %n = call i64 @word(i8 addrspace(1)* %s, i64 8)
  ret i64 %n
}

define internal i8 addrspace(1)* @str_char_obj(i8 addrspace(1)* %s, i64 %i) #1 {
  %chars = call i8 addrspace(1)* @ref(i8 addrspace(1)* %s, i64 0)
  %c = call i8 addrspace(1)* @ref(i8 addrspace(1)* %chars, i64 %i)
  ret i8 addrspace(1)* %c
}

define internal void @str_set_char_obj(i8 addrspace(1)* %s, i64 %i, i8 addrspace(1)* %c) #1 {
  %chars = call i8 addrspace(1)* @ref(i8 addrspace(1)* %s, i64 0)
  call void @set_ref(i8 addrspace(1)* %chars, i64 %i, i8 addrspace(1)* %c)
  ret void
}

define internal i64 @str_char(i8 addrspace(1)* %s, i64 %i) #1 {
  %c = call i8 addrspace(1)* @str_char_obj(i8 addrspace(1)* %s, i64 %i)
  %code = call i64 @word(i8 addrspace(1)* %c, i64 0)
  ret i64 %code
}

; h = h * 31 + code over the characters.
define internal i64 @str_hash(i8 addrspace(1)* %s) #1 {
entry:
  %n = call i64 @str_len(i8 addrspace(1)* %s)
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %body ]
  %h = phi i64 [ 0, %entry ], [ %h1, %body ]
  %more = icmp ult i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %code = call i64 @str_char(i8 addrspace(1)* %s, i64 %i)
  %h31 = mul i64 %h, 31
  %h1 = add i64 %h31, %code
  %i1 = add i64 %i, 1
  br label %loop
done:
  ret i64 %h
}

define internal i1 @str_eq(i8 addrspace(1)* %a, i8 addrspace(1)* %b) #1 {
entry:
  %na = call i64 @str_len(i8 addrspace(1)* %a)
  %nb = call i64 @str_len(i8 addrspace(1)* %b)
  %same = icmp eq i64 %na, %nb
  br i1 %same, label %loop, label %no
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %next ]
  %more = icmp ult i64 %i, %na
  br i1 %more, label %cmp, label %yes
cmp:
  %ca = call i64 @str_char(i8 addrspace(1)* %a, i64 %i)
  %cb = call i64 @str_char(i8 addrspace(1)* %b, i64 %i)
  %eq = icmp eq i64 %ca, %cb
  %i1 = add i64 %i, 1
  br i1 %eq, label %next, label %no
next:
  br label %loop
yes:
  ret i1 true
no:
  ret i1 false
}

; ---- trees -------------------------------------------------------------------------------------

; A complete tree of the given depth; node values: root %value, children 2v-1 and 2v.
define i8 addrspace(1)* @tree_build(i64 %depth, i64 %value) #0 gc "statepoint-example" {
entry:
  %leaf = icmp eq i64 %depth, 0
  br i1 %leaf, label %make, label %children
children:
  %d1 = sub i64 %depth, 1
  %v2 = shl i64 %value, 1
  %v21 = sub i64 %v2, 1
  %l = call i8 addrspace(1)* @tree_build(i64 %d1, i64 %v21)
  %r = call i8 addrspace(1)* @tree_build(i64 %d1, i64 %v2)
  br label %make
make:
  %lp = phi i8 addrspace(1)* [ null, %entry ], [ %l, %children ]
  %rp = phi i8 addrspace(1)* [ null, %entry ], [ %r, %children ]
  %n = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 2, i64 8)
  call void @set_ref(i8 addrspace(1)* %n, i64 0, i8 addrspace(1)* %lp)
  call void @set_ref(i8 addrspace(1)* %n, i64 1, i8 addrspace(1)* %rp)
  call void @set_word(i8 addrspace(1)* %n, i64 16, i64 %value)
  ret i8 addrspace(1)* %n
}

; value + check(left) - check(right); null: 0.
define i64 @tree_check(i8 addrspace(1)* %t) #0 gc "statepoint-example" {
entry:
  %isnull = icmp eq i8 addrspace(1)* %t, null
  br i1 %isnull, label %zero, label %node
zero:
  ret i64 0
node:
  %v = call i64 @word(i8 addrspace(1)* %t, i64 16)
  %l = call i8 addrspace(1)* @ref(i8 addrspace(1)* %t, i64 0)
  %cl = call i64 @tree_check(i8 addrspace(1)* %l)
  %r = call i8 addrspace(1)* @ref(i8 addrspace(1)* %t, i64 1)
  %cr = call i64 @tree_check(i8 addrspace(1)* %r)
  %a = add i64 %v, %cl
  %b = sub i64 %a, %cr
  ret i64 %b
}

; A long-lived tree of %max_depth, then 2^(max_depth - d) short-lived trees of each depth
; d = 4, 6, .., max_depth; the sum of their checks, plus 7 times the long-lived tree's check.
define i64 @demo_trees(i64 %max_depth) #0 gc "statepoint-example" {
entry:
  %long = call i8 addrspace(1)* @tree_build(i64 %max_depth, i64 1)
  br label %depths
depths:
  %d = phi i64 [ 4, %entry ], [ %d2, %depth_done ]
  %total = phi i64 [ 0, %entry ], [ %total_d, %depth_done ]
  %more_d = icmp sle i64 %d, %max_depth
  br i1 %more_d, label %depth_start, label %finish
depth_start:
  %shift = sub i64 %max_depth, %d
  %iters = shl i64 1, %shift
  br label %iter
iter:
  %i = phi i64 [ 1, %depth_start ], [ %i1, %iter ]
  %t_acc = phi i64 [ %total, %depth_start ], [ %t_acc1, %iter ]
  %t = call i8 addrspace(1)* @tree_build(i64 %d, i64 %i)
  %c = call i64 @tree_check(i8 addrspace(1)* %t)
  %t_acc1 = add i64 %t_acc, %c
  %i1 = add i64 %i, 1
  %more_i = icmp sle i64 %i1, %iters
  br i1 %more_i, label %iter, label %depth_done
depth_done:
  %total_d = phi i64 [ %t_acc1, %iter ]
  call void @gcwalk_rt_safepoint()
  %d2 = add i64 %d, 2
  br label %depths
finish:
  %lc = call i64 @tree_check(i8 addrspace(1)* %long)
  %lc7 = mul i64 %lc, 7
  %res = add i64 %total, %lc7
  ret i64 %res
}

; ---- lists -------------------------------------------------------------------------------------

; Builds n, n-1, .., 1 by prepending; then a reversed copy with values i*i + i; returns
; sum over positions p (from 1) of p * value.
define i64 @demo_lists(i64 %n) #0 gc "statepoint-example" {
entry:
  br label %build
build:
  %i = phi i64 [ 1, %entry ], [ %i1, %build_body ]
  %list = phi i8 addrspace(1)* [ null, %entry ], [ %cell, %build_body ]
  %more = icmp sle i64 %i, %n
  br i1 %more, label %build_body, label %reverse
build_body:
  %cell = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 1, i64 8)
  call void @set_ref(i8 addrspace(1)* %cell, i64 0, i8 addrspace(1)* %list)
  call void @set_word(i8 addrspace(1)* %cell, i64 8, i64 %i)
  %i1 = add i64 %i, 1
  br label %build
reverse:
  %p = phi i8 addrspace(1)* [ %list, %build ], [ %pnext, %rev_body ]
  %rev = phi i8 addrspace(1)* [ null, %build ], [ %rcell, %rev_body ]
  %pnull = icmp eq i8 addrspace(1)* %p, null
  br i1 %pnull, label %sum, label %rev_body
rev_body:
  %rcell = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 1, i64 8)
  %pv = call i64 @word(i8 addrspace(1)* %p, i64 8)
  %sq = mul i64 %pv, %pv
  %val = add i64 %sq, %pv
  call void @set_word(i8 addrspace(1)* %rcell, i64 8, i64 %val)
  call void @set_ref(i8 addrspace(1)* %rcell, i64 0, i8 addrspace(1)* %rev)
  %pnext = call i8 addrspace(1)* @ref(i8 addrspace(1)* %p, i64 0)
  br label %reverse
sum:
  %q = phi i8 addrspace(1)* [ %rev, %reverse ], [ %qnext, %sum_body ]
  %pos = phi i64 [ 1, %reverse ], [ %pos1, %sum_body ]
  %acc = phi i64 [ 0, %reverse ], [ %acc1, %sum_body ]
  %qnull = icmp eq i8 addrspace(1)* %q, null
  br i1 %qnull, label %done, label %sum_body
sum_body:
  %qv = call i64 @word(i8 addrspace(1)* %q, i64 8)
  %w = mul i64 %qv, %pos
  %acc1 = add i64 %acc, %w
  %pos1 = add i64 %pos, 1
  %qnext = call i8 addrspace(1)* @ref(i8 addrspace(1)* %q, i64 0)
  br label %sum
done:
  ret i64 %acc
}

; ---- strings -----------------------------------------------------------------------------------

define i8 addrspace(1)* @str_new(i64 %len) #0 gc "statepoint-example" {
  %s = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 1, i64 8)
  %chars = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 %len, i64 0)
  call void @set_ref(i8 addrspace(1)* %s, i64 0, i8 addrspace(1)* %chars)
  call void @set_word(i8 addrspace(1)* %s, i64 8, i64 %len)
  ret i8 addrspace(1)* %s
}

define i8 addrspace(1)* @char_new(i64 %code) #0 gc "statepoint-example" {
  %c = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 0, i64 8)
  call void @set_word(i8 addrspace(1)* %c, i64 0, i64 %code)
  ret i8 addrspace(1)* %c
}

; "k" followed by the decimal digits of %k.
define i8 addrspace(1)* @str_from_number(i64 %k) #0 gc "statepoint-example" {
entry:
  br label %count
count:
  %digits = phi i64 [ 1, %entry ], [ %digits1, %count ]
  %rest = phi i64 [ %k, %entry ], [ %rest1, %count ]
  %rest1 = udiv i64 %rest, 10
  %digits1 = add i64 %digits, 1
  %more = icmp ne i64 %rest1, 0
  br i1 %more, label %count, label %alloc
alloc:
  %len = add i64 %digits, 1
  %s = call i8 addrspace(1)* @str_new(i64 %len)
  %kc = call i8 addrspace(1)* @char_new(i64 107) ; 'k'
  call void @str_set_char_obj(i8 addrspace(1)* %s, i64 0, i8 addrspace(1)* %kc)
  br label %fill
fill:
  %pos = phi i64 [ %digits, %alloc ], [ %pos1, %fill ]
  %v = phi i64 [ %k, %alloc ], [ %v1, %fill ]
  %digit = urem i64 %v, 10
  %code = add i64 %digit, 48
  %c = call i8 addrspace(1)* @char_new(i64 %code)
  call void @str_set_char_obj(i8 addrspace(1)* %s, i64 %pos, i8 addrspace(1)* %c)
  %v1 = udiv i64 %v, 10
  %pos1 = sub i64 %pos, 1
  %again = icmp ne i64 %pos1, 0
  br i1 %again, label %fill, label %done
done:
  ret i8 addrspace(1)* %s
}

; A new string holding a's characters then b's (the character objects are shared).
define i8 addrspace(1)* @str_concat(i8 addrspace(1)* %a, i8 addrspace(1)* %b) #0 gc "statepoint-example" {
entry:
  %la = call i64 @str_len(i8 addrspace(1)* %a)
  %lb = call i64 @str_len(i8 addrspace(1)* %b)
  %len = add i64 %la, %lb
  %s = call i8 addrspace(1)* @str_new(i64 %len)
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %body ]
  %more = icmp ult i64 %i, %len
  br i1 %more, label %body, label %done
body:
  %in_a = icmp ult i64 %i, %la
  %j = sub i64 %i, %la
  %src = select i1 %in_a, i8 addrspace(1)* %a, i8 addrspace(1)* %b
  %k = select i1 %in_a, i64 %i, i64 %j
  %c = call i8 addrspace(1)* @str_char_obj(i8 addrspace(1)* %src, i64 %k)
  call void @str_set_char_obj(i8 addrspace(1)* %s, i64 %i, i8 addrspace(1)* %c)
  %i1 = add i64 %i, 1
  br label %loop
done:
  ret i8 addrspace(1)* %s
}

; Concatenates "k<i*i>" for i = 0 .. n-1; returns hash * 31 + length.
define i64 @demo_strings(i64 %n) #0 gc "statepoint-example" {
entry:
  %empty = call i8 addrspace(1)* @str_new(i64 0)
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %body ]
  %acc = phi i8 addrspace(1)* [ %empty, %entry ], [ %acc1, %body ]
  %more = icmp ult i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %sq = mul i64 %i, %i
  %piece = call i8 addrspace(1)* @str_from_number(i64 %sq)
  %acc1 = call i8 addrspace(1)* @str_concat(i8 addrspace(1)* %acc, i8 addrspace(1)* %piece)
  call void @gcwalk_rt_safepoint()
  %i1 = add i64 %i, 1
  br label %loop
done:
  %h = call i64 @str_hash(i8 addrspace(1)* %acc)
  %len = call i64 @str_len(i8 addrspace(1)* %acc)
  %h31 = mul i64 %h, 31
  %res = add i64 %h31, %len
  ret i64 %res
}

; ---- map ---------------------------------------------------------------------------------------

; The key of entry i: "k<(i * 7919) mod 100003>".
define i8 addrspace(1)* @map_key(i64 %i) #0 gc "statepoint-example" {
  %m = mul i64 %i, 7919
  %k = urem i64 %m, 100003
  %s = call i8 addrspace(1)* @str_from_number(i64 %k)
  ret i8 addrspace(1)* %s
}

; Inserts keys 0 .. n-1 with values i + 1 into 64 chained buckets, then looks up keys 0 .. 2n-1
; (freshly built strings, compared character by character); returns sum * 1000003 + found.
define i64 @demo_map(i64 %n) #0 gc "statepoint-example" {
entry:
  %buckets = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 64, i64 0)
  br label %insert
insert:
  %i = phi i64 [ 0, %entry ], [ %i1, %insert_body ]
  %more = icmp ult i64 %i, %n
  br i1 %more, label %insert_body, label %lookup
insert_body:
  %key = call i8 addrspace(1)* @map_key(i64 %i)
  %h = call i64 @str_hash(i8 addrspace(1)* %key)
  %b = and i64 %h, 63
  %e = call i8 addrspace(1)* @gcwalk_rt_alloc(i64 2, i64 8)
  %head = call i8 addrspace(1)* @ref(i8 addrspace(1)* %buckets, i64 %b)
  call void @set_ref(i8 addrspace(1)* %e, i64 0, i8 addrspace(1)* %key)
  call void @set_ref(i8 addrspace(1)* %e, i64 1, i8 addrspace(1)* %head)
  %val = add i64 %i, 1
  call void @set_word(i8 addrspace(1)* %e, i64 16, i64 %val)
  call void @set_ref(i8 addrspace(1)* %buckets, i64 %b, i8 addrspace(1)* %e)
  %i1 = add i64 %i, 1
  br label %insert
lookup:
  %n2 = shl i64 %n, 1
  br label %probe
probe:
  %j = phi i64 [ 0, %lookup ], [ %j1, %probe_next ]
  %sum = phi i64 [ 0, %lookup ], [ %sum1, %probe_next ]
  %found = phi i64 [ 0, %lookup ], [ %found1, %probe_next ]
  %more_j = icmp ult i64 %j, %n2
  br i1 %more_j, label %probe_body, label %done
probe_body:
  %pkey = call i8 addrspace(1)* @map_key(i64 %j)
  %ph = call i64 @str_hash(i8 addrspace(1)* %pkey)
  %pb = and i64 %ph, 63
  %first = call i8 addrspace(1)* @ref(i8 addrspace(1)* %buckets, i64 %pb)
  br label %chain
chain:
  %cur = phi i8 addrspace(1)* [ %first, %probe_body ], [ %cnext, %chain_next ]
  %end = icmp eq i8 addrspace(1)* %cur, null
  br i1 %end, label %miss, label %chain_body
chain_body:
  %ckey = call i8 addrspace(1)* @ref(i8 addrspace(1)* %cur, i64 0)
  %eq = call i1 @str_eq(i8 addrspace(1)* %ckey, i8 addrspace(1)* %pkey)
  br i1 %eq, label %hit, label %chain_next
chain_next:
  %cnext = call i8 addrspace(1)* @ref(i8 addrspace(1)* %cur, i64 1)
  br label %chain
hit:
  %cv = call i64 @word(i8 addrspace(1)* %cur, i64 16)
  %sum_hit = add i64 %sum, %cv
  %found_hit = add i64 %found, 1
  br label %probe_next
miss:
  br label %probe_next
probe_next:
  %sum1 = phi i64 [ %sum_hit, %hit ], [ %sum, %miss ]
  %found1 = phi i64 [ %found_hit, %hit ], [ %found, %miss ]
  %j1 = add i64 %j, 1
  br label %probe
done:
  %s = mul i64 %sum, 1000003
  %res = add i64 %s, %found
  ret i64 %res
}

attributes #0 = { uwtable }
attributes #1 = { "gc-leaf-function" uwtable }
