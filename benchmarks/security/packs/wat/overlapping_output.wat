;; The output is the request buffer itself: the host reads its own request back.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
            (i64.extend_i32_u (local.get $n)))))
