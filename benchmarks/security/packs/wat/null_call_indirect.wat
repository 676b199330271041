;; call_indirect through an empty table slot.
(module ;; @base ;; @alloc
  (type $t (func (result i64)))
  (table 4 funcref)
  (func (export "corral_call") (param i32 i32) (result i64)
    (call_indirect (type $t) (i32.const 2))))
