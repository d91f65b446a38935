;; A Nanoedge handler in the WebAssembly text format, against
;; docs/abi.md alone: no imports at all, a fixed answer. Build:
;;   wat2wasm handler.wat -o handler.wasm
(module
  (memory (export "memory") 1)

  ;; The request buffer starts at 64 KiB - 16 KiB; requests larger than
  ;; 16 KiB grow memory first.
  (global $request (mut i32) (i32.const 49152))

  ;; The response, encoded once: status 200, one header, the body.
  ;; u32 status | u32 pairs | u32 len "Content-Type" | u32 len value | u32 len body
  (data (i32.const 1024)
    "\c8\00\00\00"                             ;; 200
    "\01\00\00\00"                             ;; one header
    "\0c\00\00\00" "Content-Type"
    "\19\00\00\00" "text/plain; charset=utf-8"
    "\0f\00\00\00" "Hello from WAT\n")

  (func (export "nanoedge_abi_version") (result i32) (i32.const 1))

  (func (export "nanoedge_alloc") (param $size i32) (result i32)
    ;; Grow until the buffer at $request fits $size bytes.
    (block $done
      (loop $grow
        (br_if $done (i32.le_u
          (i32.add (global.get $request) (local.get $size))
          (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow (i32.const 1)))
        (br $grow)))
    (global.get $request))

  (func (export "nanoedge_handle") (param $ptr i32) (param $len i32) (result i64)
    ;; ptr << 32 | len of the response: 1024, 4+4+4+12+4+25+4+15 = 72 bytes.
    (i64.or
      (i64.shl (i64.const 1024) (i64.const 32))
      (i64.const 72))))
