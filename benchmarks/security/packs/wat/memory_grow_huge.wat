;; One memory.grow of 4 GiB: the host must refuse it (-1); the guest answers ok if so.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64)
    (if (i32.ne (memory.grow (i32.const 65535)) (i32.const -1)) (then unreachable))
    (i64.const 0x2000000005)))
