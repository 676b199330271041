;; The output is bytes MessagePack never uses (0xc1).
(module ;; @base ;; @alloc
  (data (i32.const 16) "\c1\c1\ff\00")
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x1000000004)))
