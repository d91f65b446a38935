#!/usr/bin/env bash
# Installs what the tests need beyond Go, when it is missing:
#  - from Debian: chromium (browser tests), and clang, lld, wasi-libc and
#    libclang-rt-dev-wasm32 (a CGI handler written in C, built for
#    wasm32-wasi), wabt (wat2wasm: a handler in the WebAssembly text
#    format), prometheus (promtool checks metrics, rules), systemd
#    (systemd-analyze rates the units) and wrk (the external benchmark);
#  - from npm: the playwright-core version pinned in
#    internal/testing/chromium/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x "${NANOEDGE_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v clang >/dev/null || missing+=(clang)
command -v wasm-ld >/dev/null || missing+=(lld)
[ -f /usr/lib/wasm32-wasi/libc.a ] || missing+=(wasi-libc)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null || missing+=(libclang-rt-dev-wasm32)
command -v wat2wasm >/dev/null || missing+=(wabt)
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
		{ $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

lock=internal/testing/chromium/package-lock.json
stamp=internal/testing/chromium/node_modules/.installed-lock
if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
	(cd internal/testing/chromium && npm ci --no-audit --no-fund)
	cp "$lock" "$stamp"
fi
