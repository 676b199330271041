;; corral.fetch called with the MessagePack integer 42 instead of a request map.
(module (import "corral" "fetch" (func $fetch (param i32 i32) (result i64))) ;; @base ;; @alloc
  (data (i32.const 16) "\2a")
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $fetch (i32.const 16) (i32.const 1))))
