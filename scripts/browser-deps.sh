#!/usr/bin/env bash
# Installs what the browser tests need: Debian's Chromium and, from npm,
# the playwright-core version pinned in internal/browser/package-lock.json.
# Does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${NANOEDGE_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get install -y --no-install-recommends chromium ||
		{ $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium; }
fi

lock=internal/browser/package-lock.json
stamp=internal/browser/node_modules/.installed-lock
if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
	(cd internal/browser && npm ci --no-audit --no-fund)
	cp "$lock" "$stamp"
fi
