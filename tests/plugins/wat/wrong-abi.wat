;; Refused at load: marks itself as ABI v2.
(module
  (memory (export "memory") 1)
  (func (export "switchyard_abi_v2"))
  (func (export "switchyard_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "switchyard_step") (param i32 i32) (result i32) (i32.const 0)))
