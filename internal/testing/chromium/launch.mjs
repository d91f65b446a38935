// Shared by the browser test scripts: starts Debian's Chromium headless
// with the flags a machine without outside network needs.
import { chromium } from "playwright-core";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.NANOEDGE_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// fail prints why and exits non-zero, so the Go test shows the reason.
export function fail(msg) {
  console.error(msg);
  process.exit(1);
}
