;; Grows a table 10,000 slots at a time until refused; answers ok only if the host's
;; 100,000-element cap held.
(module ;; @base ;; @alloc
  (table $t 1 funcref)
  (func (export "corral_call") (param i32 i32) (result i64)
    (block $done (loop $grow
      (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 10000)) (i32.const -1)))
      (br $grow)))
    (if (i32.gt_u (table.size $t) (i32.const 100000)) (then unreachable))
    (i64.const 0x2000000005)))
