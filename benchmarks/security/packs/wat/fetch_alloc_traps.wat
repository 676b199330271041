;; corral_alloc traps while the host is inside the fetch import.
(module (import "corral" "fetch" (func $fetch (param i32 i32) (result i64))) ;; @base
  (func (export "corral_alloc") (param $n i32) (result i32)
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (if (i32.gt_u (global.get $allocs) (i32.const 1)) (then unreachable))
    (call $bump (local.get $n)))
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $fetch (i32.const 64) (i32.const 23))))
