;; Refused at load: has no switchyard_step export.
(module
  (memory (export "memory") 1)
  (func (export "switchyard_abi_v1"))
  (func (export "switchyard_alloc") (param i32) (result i32) (i32.const 1024)))
