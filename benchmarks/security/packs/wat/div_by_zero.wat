;; An integer division by zero.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param $p i32) (param $n i32) (result i64)
    (i64.extend_i32_u (i32.div_u (local.get $n) (i32.sub (local.get $n) (local.get $n))))))
