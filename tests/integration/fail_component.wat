;; A component of the world guest-sdk/wit/sluice.wit, written by hand, that
;; calls the host's `fail` (twice, the first reason standing) in `process`
;; when a record's first key starts with `f`, and drops every record:
;; tests/integration/hostile_modules.rs runs it.
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
  (import "sluice:transform/host@1.0.0" (instance $host
    (export "fail" (func (param "reason" string)))))
  (alias export $host "fail" (func $fail))
  (core module $memory (memory (export "memory") 1))
  (core instance $memory (instantiate $memory))
  (core func $fail (canon lower (func $fail) (memory (core memory $memory "memory"))))
  (core module $m
    (import "host" "memory" (memory 1))
    (import "host" "fail" (func $fail (param i32 i32)))
    (data (i32.const 64) "the first record\n\1b[31mcannot go on")
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
    (func (export "process") (param $list i32) (param $n i32) (result i32)
      (local $out i32)
      (if (i32.eq (i32.load8_u offset=2 (i32.load (local.get $list))) (i32.const 102)) (then
        (call $fail (i32.const 64) (i32.const 34))
        (call $fail (i32.const 64) (i32.const 9))))
      (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $n) (i32.const 12))))
      (memory.fill (local.get $out) (i32.const 0) (i32.mul (local.get $n) (i32.const 12)))
      (i32.store (i32.const 32) (local.get $out))
      (i32.store (i32.const 36) (local.get $n))
      (i32.const 32)))
  (core instance $i (instantiate $m
    (with "host" (instance (export "memory" (memory $memory "memory")) (export "fail" (func $fail))))))
  (func (export "init") (param "config" (list (tuple string string))) (result (result (error string)))
    (canon lift (core func $i "init") (memory (core memory $memory "memory")) (realloc (core func $i "realloc"))))
  (func (export "process") (param "records" (list string)) (result (list $outcome))
    (canon lift (core func $i "process") (memory (core memory $memory "memory")) (realloc (core func $i "realloc")))))
