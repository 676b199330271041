;; corral_call returns a pointer far past the end of memory.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x7fffff0000000010)))
