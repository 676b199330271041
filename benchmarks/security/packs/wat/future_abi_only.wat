;; Declares only ABI v9: refused at load.
(module
  (memory (export "memory") 1)
  (func (export "corral_abi_v9"))
  (func (export "corral_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0)))
