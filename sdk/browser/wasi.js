// The WASI preview 1 imports a Go wasip1 handler module needs, as a
// Nanoedge worker provides them: clocks, random bytes, stdout and stderr
// to the console, clock sleeps, proc_exit; no arguments, no environment,
// no preopened directories, no files.

const ERRNO_SUCCESS = 0;
const ERRNO_BADF = 8;
const ERRNO_INVAL = 28;
const ERRNO_NOSYS = 52;

// Exit is thrown by proc_exit; the host discards the instance.
export class Exit extends Error {
  constructor(code) {
    super(`guest called proc_exit(${code})`);
    this.code = code;
  }
}

// sleep blocks the calling thread: a guest's time.Sleep is synchronous.
function sleep(ms) {
  if (ms <= 0) return;
  if (typeof SharedArrayBuffer !== "undefined" && typeof Atomics.wait === "function") {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      return;
    } catch {
      // Atomics.wait is not allowed on this thread: spin instead.
    }
  }
  const end = performance.now() + ms;
  while (performance.now() < end);
}

export class WASI {
  constructor({ stdout = (line) => console.log(line), stderr = (line) => console.warn(line) } = {}) {
    this.memory = null;
    this.out = { 1: new LineWriter(stdout), 2: new LineWriter(stderr) };
    const mem = () => new DataView(this.memory.buffer);
    const bytes = () => new Uint8Array(this.memory.buffer);
    const zeroSizes = (countPtr, sizePtr) => {
      mem().setUint32(countPtr, 0, true);
      mem().setUint32(sizePtr, 0, true);
      return ERRNO_SUCCESS;
    };
    this.imports = {
      args_get: () => ERRNO_SUCCESS,
      args_sizes_get: zeroSizes,
      environ_get: () => ERRNO_SUCCESS,
      environ_sizes_get: zeroSizes,
      clock_res_get: (id, resPtr) => {
        mem().setBigUint64(resPtr, 1000n, true);
        return ERRNO_SUCCESS;
      },
      clock_time_get: (id, _precision, timePtr) => {
        let ns;
        if (id === 0) ns = BigInt(Date.now()) * 1000000n; // realtime
        else if (id === 1) ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)); // monotonic
        else return ERRNO_INVAL;
        mem().setBigUint64(timePtr, ns, true);
        return ERRNO_SUCCESS;
      },
      random_get: (ptr, len) => {
        const b = bytes().subarray(ptr, ptr + len);
        for (let off = 0; off < len; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(off + 65536, len)));
        return ERRNO_SUCCESS;
      },
      fd_write: (fd, iovs, iovsLen, nwrittenPtr) => {
        const w = this.out[fd];
        if (!w) return ERRNO_BADF;
        const view = mem();
        let n = 0;
        for (let i = 0; i < iovsLen; i++) {
          const ptr = view.getUint32(iovs + 8 * i, true);
          const len = view.getUint32(iovs + 8 * i + 4, true);
          w.write(bytes().slice(ptr, ptr + len));
          n += len;
        }
        view.setUint32(nwrittenPtr, n, true);
        return ERRNO_SUCCESS;
      },
      fd_read: (fd, _iovs, _iovsLen, nreadPtr) => {
        if (fd !== 0) return ERRNO_BADF;
        mem().setUint32(nreadPtr, 0, true); // stdin is empty
        return ERRNO_SUCCESS;
      },
      fd_close: () => ERRNO_SUCCESS,
      fd_fdstat_get: (fd, statPtr) => {
        if (fd > 2) return ERRNO_BADF;
        const view = mem();
        view.setUint8(statPtr, 2); // character device
        view.setUint16(statPtr + 2, 0, true);
        view.setBigUint64(statPtr + 8, 0n, true);
        view.setBigUint64(statPtr + 16, 0n, true);
        return ERRNO_SUCCESS;
      },
      fd_fdstat_set_flags: () => ERRNO_NOSYS,
      fd_prestat_get: () => ERRNO_BADF, // no preopened directories
      fd_prestat_dir_name: () => ERRNO_BADF,
      fd_seek: () => ERRNO_BADF,
      fd_readdir: () => ERRNO_BADF, // no directories
      fd_filestat_get: () => ERRNO_BADF,
      path_readlink: () => ERRNO_BADF,
      path_open: () => ERRNO_NOSYS,
      path_filestat_get: () => ERRNO_NOSYS,
      sched_yield: () => ERRNO_SUCCESS,
      proc_exit: (code) => {
        throw new Exit(code);
      },
      poll_oneoff: (inPtr, outPtr, nsubs, neventsPtr) => {
        const view = mem();
        const now = (clock) => (clock === 0 ? BigInt(Date.now()) * 1000000n
          : BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)));
        // Each clock subscription's wait, relative; the shortest is slept.
        const waits = [];
        for (let i = 0; i < nsubs; i++) {
          const sub = inPtr + 48 * i;
          if (view.getUint8(sub + 8) !== 0) {
            waits.push(null);
            continue;
          }
          let t = view.getBigUint64(sub + 24, true);
          if (view.getUint16(sub + 40, true) & 1) { // absolute deadline
            const n = now(view.getUint32(sub + 16, true));
            t = t > n ? t - n : 0n;
          }
          waits.push(t);
        }
        const clocks = waits.filter((t) => t !== null);
        const shortest = clocks.length ? clocks.reduce((a, b) => (b < a ? b : a)) : null;
        if (shortest !== null) sleep(Number(shortest / 1000000n));
        let events = 0;
        for (let i = 0; i < nsubs; i++) {
          const t = waits[i];
          if (t !== null && t > shortest) continue; // not due yet
          const sub = inPtr + 48 * i;
          const ev = outPtr + 32 * events++;
          view.setBigUint64(ev, view.getBigUint64(sub, true), true); // userdata
          view.setUint16(ev + 8, t === null ? ERRNO_BADF : ERRNO_SUCCESS, true); // no fds to wait on
          view.setUint8(ev + 10, view.getUint8(sub + 8));
        }
        view.setUint32(neventsPtr, events, true);
        return ERRNO_SUCCESS;
      },
    };
  }

  // flush writes out partial lines, after a request.
  flush() {
    this.out[1].flush();
    this.out[2].flush();
  }
}

// LineWriter hands whole lines to fn, as the worker logs guest output.
class LineWriter {
  constructor(fn) {
    this.fn = fn;
    this.buf = "";
    this.dec = new TextDecoder();
  }
  write(b) {
    this.buf += this.dec.decode(b, { stream: true });
    let i;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      this.fn(this.buf.slice(0, i));
      this.buf = this.buf.slice(i + 1);
    }
  }
  flush() {
    if (this.buf) this.fn(this.buf);
    this.buf = "";
  }
}
