;; Refused at load: switchyard_step takes one parameter instead of two.
(module
  (memory (export "memory") 1)
  (func (export "switchyard_abi_v1"))
  (func (export "switchyard_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "switchyard_step") (param i32) (result i32) (i32.const 0)))
