;; 150,000 nested one-item arrays: a decoder that recurses would blow the host's stack.
(module ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64)
    (memory.fill (i32.const 0x10000) (i32.const 0x91) (i32.const 150000))
    (i32.store8 (i32.const 215536) (i32.const 0xc0))
    (i64.const 0x00010000000249f1)))
