;; Hostile: never returns. The epoch deadline must stop it (cpu-limit).
(module
  (import "switchyard:host/v1" "output" (func $output (param i32 i32)))
  (import "switchyard:host/v1" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 4096))
  (func (export "switchyard_abi_v1"))
  ;; A bump allocator: the instance is thrown away after the step.
  (func (export "switchyard_alloc") (param $len i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $next))
    (global.set $next (i32.add (local.get $ptr) (local.get $len)))
    (block $enough
      (loop $grow
        (br_if $enough (i32.le_u (global.get $next) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (local.get $ptr))
  (func (export "switchyard_step") (param $ptr i32) (param $len i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
