;; A well-behaved module; attacks change only its manifest.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x2000000005)))
