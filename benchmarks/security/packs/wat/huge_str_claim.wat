;; A str32 header claiming 4 GiB of text that is not there.
(module ;; @base ;; @alloc
  (data (i32.const 16) "\81\a2ok\db\ff\ff\ff\ffab")
  (func (export "corral_call") (param i32 i32) (result i64) (i64.const 0x100000000b)))
