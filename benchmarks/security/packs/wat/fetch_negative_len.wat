;; corral.fetch called with a negative length.
(module (import "corral" "fetch" (func $fetch (param i32 i32) (result i64))) ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $fetch (i32.const 64) (i32.const -1))))
