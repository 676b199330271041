;; A load far outside linear memory.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64)
    (i64.load (i32.const 0xfffffff0))))
