;; Tries to remember something between steps: a global and a byte of memory,
;; both set by every step. A step that finds either already set says
;; "stale", which must never happen: every step runs in a fresh instance.
;; An input of 301 to 600 bytes makes the step trap after setting both; a
;; longer one makes it grow its memory (and answer as usual).
(module
  (import "switchyard:host/v1" "output" (func $output (param i32 i32)))
  (memory (export "memory") 1)
  (global $seen (mut i32) (i32.const 0))
  (global $next (mut i32) (i32.const 4096))
  (func (export "switchyard_abi_v1"))
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
  (data (i32.const 16) "{\"actions\":[{\"type\":\"say\",\"text\":\"fresh\"}],\"exit\":\"done\"}")
  (data (i32.const 128) "{\"actions\":[{\"type\":\"say\",\"text\":\"stale\"}],\"exit\":\"done\"}")
  (func (export "switchyard_step") (param $ptr i32) (param $len i32) (result i32)
    (local $stale i32)
    (local.set $stale (i32.or (global.get $seen) (i32.load8_u (i32.const 1024))))
    (global.set $seen (i32.const 1))
    (i32.store8 (i32.const 1024) (i32.const 1))
    (if (i32.gt_u (local.get $len) (i32.const 600))
      (then (drop (memory.grow (i32.const 4))))
      (else (if (i32.gt_u (local.get $len) (i32.const 300)) (then unreachable))))
    (if (local.get $stale)
      (then (call $output (i32.const 128) (i32.const 57)))
      (else (call $output (i32.const 16) (i32.const 57))))
    (i32.const 0)))
