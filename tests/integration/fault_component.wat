;; A component of the world guest-sdk/wit/sluice.wit, written by hand, that
;; breaks on demand: tests/integration/test_cmd.rs runs it under the limits.
(component
  (import "sluice:transform/types@1.0.0" (instance $types
    (type $message' (record
      (field "key" (option (list u8)))
      (field "value" (option (list u8)))
      (field "headers" (list (tuple string (option (list u8)))))
      (field "timestamp-ms" (option s64))
      (field "topic" (option string))
      (field "partition" (option s32))))
    (export "message" (type $message (eq $message')))
    (type $outcome' (variant (case "drop") (case "emit" (list $message)) (case "error" string)))
    (export "outcome" (type (eq $outcome')))))
  (alias export $types "outcome" (type $outcome))
  (core module $m
    (memory (export "memory") 1)
    (data (i32.const 64) "the record asked to fail")
    (global $next (mut i32) (i32.const 4096))
    (func $alloc (export "realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
                             (i32.sub (i32.const 0) (local.get $align))))
      (global.set $next (i32.add (local.get $p) (local.get $size)))
      (block $ok
        (loop $grow
          (br_if $ok (i32.le_u (global.get $next) (i32.mul (memory.size) (i32.const 65536))))
          (drop (memory.grow (i32.const 1)))
          (br $grow)))
      (local.get $p))
    (func (export "init") (param i32 i32) (result i32) (i32.const 16))
    ;; The first letter of each record's first key picks what happens:
    ;; t traps, l loops, g grows memory without end, c returns one outcome
    ;; too many, e is an error outcome; anything else is dropped.
    (func $letter (param $list i32) (param $i i32) (result i32)
      (i32.load8_u offset=2 (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 3))))))
    (func (export "process") (param $list i32) (param $n i32) (result i32)
      (local $i i32) (local $c i32) (local $count i32) (local $out i32)
      (local.set $count (local.get $n))
      (block $done (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (call $letter (local.get $list) (local.get $i)))
        (if (i32.eq (local.get $c) (i32.const 116)) (then unreachable))
        (if (i32.eq (local.get $c) (i32.const 108)) (then (loop $spin (br $spin))))
        (if (i32.eq (local.get $c) (i32.const 103)) (then (loop $bomb (drop (memory.grow (i32.const 16))) (br $bomb))))
        (if (i32.eq (local.get $c) (i32.const 99)) (then (local.set $count (i32.add (local.get $n) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
      (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $count) (i32.const 12))))
      (memory.fill (local.get $out) (i32.const 0) (i32.mul (local.get $count) (i32.const 12)))
      (local.set $i (i32.const 0))
      (block $done (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eq (call $letter (local.get $list) (local.get $i)) (i32.const 101)) (then
          (i32.store8 (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 12))) (i32.const 2))
          (i32.store offset=4 (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 12))) (i32.const 64))
          (i32.store offset=8 (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 12))) (i32.const 24))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
      (i32.store (i32.const 32) (local.get $out))
      (i32.store (i32.const 36) (local.get $count))
      (i32.const 32)))
  (core instance $i (instantiate $m))
  (func (export "init") (param "config" (list (tuple string string))) (result (result (error string)))
    (canon lift (core func $i "init") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (func (export "process") (param "records" (list string)) (result (list $outcome))
    (canon lift (core func $i "process") (memory (core memory $i "memory")) (realloc (core func $i "realloc")))))
