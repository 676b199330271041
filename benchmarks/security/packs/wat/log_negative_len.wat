;; corral.log called with a negative length, then a normal answer.
(module (import "corral" "log" (func $log (param i32 i32 i32))) ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 64) (i32.const -5))
    (i64.const 0x2000000005)))
