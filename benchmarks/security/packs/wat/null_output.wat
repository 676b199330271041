;; The output pointer is null.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 8)))
