// Package chromium runs the project's browser tests: Node.js scripts in this
// directory that drive Debian's Chromium through playwright-core. `make
// test-deps` installs both.
package chromium
