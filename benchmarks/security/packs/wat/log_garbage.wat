;; corral.log with an unknown level and bytes that are not UTF-8, then a normal answer.
(module (import "corral" "log" (func $log (param i32 i32 i32))) ;; @base ;; @alloc
  (data (i32.const 16) "\c1\ff\fe\00")
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $log (i32.const 0x7fffffff) (i32.const 16) (i32.const 4))
    (call $log (i32.const -1) (i32.const 16) (i32.const 4))
    (i64.const 0x2000000005)))
