package browser

import "embed"

// Files holds the host's ES modules: sw.js, register.js, host.js, abi.js
// and wasi.js. Workers serve them under /.nanoedge/browser/.
//
//go:embed *.js
var Files embed.FS
