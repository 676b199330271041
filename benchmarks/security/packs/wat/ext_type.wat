;; {"ok": <ext type 1>}: extension types are refused.
(module ;; @base ;; @alloc
  (data (i32.const 16) "\81\a2ok\d4\01\00")
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x1000000007)))
