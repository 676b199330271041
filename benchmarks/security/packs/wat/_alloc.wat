  (func (export "corral_alloc") (param i32) (result i32) (call $bump (local.get 0)))
