;; corral.fetch called with bytes that are not MessagePack; the guest returns the reply.
(module (import "corral" "fetch" (func $fetch (param i32 i32) (result i64))) ;; @base ;; @alloc
  (data (i32.const 16) "\c1\c1\ff\00")
  (func (export "corral_call") (param i32 i32) (result i64)
    (call $fetch (i32.const 16) (i32.const 4))))
