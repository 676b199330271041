;; The output starts inside memory and runs past its end.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x0003fff000100000)))
