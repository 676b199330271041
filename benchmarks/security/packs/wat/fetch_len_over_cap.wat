;; corral.fetch called with a length of 2 GiB (over the input cap): refused unread.
(module (import "corral" "fetch" (func $fetch (param i32 i32) (result i64))) ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $fetch (i32.const 0) (i32.const 0x7fffffff))))
