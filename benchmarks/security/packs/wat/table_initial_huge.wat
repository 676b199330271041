;; A table declared with ten million elements: refused at instantiation.
(module ;; @base ;; @alloc
  (table 10000000 funcref)
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x2000000005)))
