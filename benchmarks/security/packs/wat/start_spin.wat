;; A start function that never returns: it runs at instantiation, under fuel.
(module ;; @base ;; @alloc
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x2000000005)))
