;; Imports WASI environ_get to read the host's environment: refused at load.
(module
  (import "wasi_snapshot_preview1" "environ_get" (func (param i32 i32) (result i32)))
  ;; @base ;; @alloc
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x2000000005)))
