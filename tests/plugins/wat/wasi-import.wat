;; Refused at load: imports WASI's fd_write, which the host does not provide.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "switchyard_abi_v1"))
  (func (export "switchyard_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "switchyard_step") (param i32 i32) (result i32) (i32.const 0)))
