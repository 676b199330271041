;; {"err": {}}: an error without kind or message.
(module ;; @base ;; @alloc
  (data (i32.const 16) "\81\a3err\80")
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x1000000006)))
