;; corral_call with the wrong signature: refused at load.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32) (result i32) (i32.const 0)))
