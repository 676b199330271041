;; A valid {"ok": nil} followed by one more byte.
(module ;; @base ;; @alloc
  (data (i32.const 16) "\81\a2ok\c0\c0")
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x1000000006)))
