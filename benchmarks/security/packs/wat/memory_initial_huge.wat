;; Memory declared at 256 MiB, over the 64 MiB cap: refused at instantiation.
(module
  (memory (export "memory") 4096)
  (func (export "corral_abi_v1"))
  (func (export "corral_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0)))
