/**
 * Streaming, atomically published output file.
 *
 * Bytes go to `<path>.tmp-<pid>` through a file descriptor and an internal buffer
 * (64 KiB by default) with synchronous `fs.writeSync` — no promise per packet.
 * `commit()` flushes, optionally fsyncs, closes and renames the temp file onto `path`,
 * so `path` either does not exist or holds a complete file. `abort()` closes and
 * deletes the temp file.
 *
 * Every open file sits in a process-wide registry: when a run fails half-way the CLI
 * calls {@link commitAllOpen} (or {@link abortAllOpen}) so no temp file stays behind
 * and the captures gathered so far are published. Writers that keep whole records in
 * one synchronous call (as the pcap writers do) therefore never publish a torn record.
 *
 * Contract: methods throw `Error` when called after commit/abort (except that
 * commit/abort on an already finished file are no-ops returning the same result).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEFAULT_BUFFER_SIZE = 64 * 1024;

export interface AtomicFileOptions {
  /** fsync the file (and its directory) before publishing. Default false. */
  fsync?: boolean;
  /** Internal buffer size in bytes. Default 64 KiB. */
  bufferSize?: number;
  /** Create the parent directory when missing. Default true. */
  mkdir?: boolean;
}

export type AtomicFileState = 'open' | 'committed' | 'aborted';

/**
 * Where the pcap/pcapng writers put bytes: a buffer they fill in place after
 * `reserve(n)` (then `advance(n)`), plus bulk `write`, padding and UTF-8 strings.
 * `buf`/`view` must be re-read after every `reserve` (a growable sink may replace them).
 */
export interface ByteSink {
  readonly buf: Uint8Array;
  readonly view: DataView;
  /** The largest `n` one `reserve(n)` accepts (writers fill bigger records piecewise). */
  readonly maxReserve: number;
  reserve(n: number): number;
  advance(n: number): void;
  write(src: Uint8Array, off?: number, len?: number): void;
  zeros(n: number): void;
  /** Writes `s` as UTF-8; `byteLen` must equal `Buffer.byteLength(s, 'utf8')`. */
  writeUtf8(s: string, byteLen: number): void;
}

/** Growable in-memory {@link ByteSink}; `bytes()` returns what was written. */
export class MemorySink implements ByteSink {
  buf: Uint8Array;
  view: DataView;
  readonly maxReserve = Number.MAX_SAFE_INTEGER;
  private pos = 0;
  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  reserve(n: number): number {
    if (this.pos + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
      next.set(this.buf.subarray(0, this.pos));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    return this.pos;
  }
  advance(n: number): void {
    this.pos += n;
  }
  write(src: Uint8Array, off = 0, len = src.length - off): void {
    const at = this.reserve(len);
    this.buf.set(src.subarray(off, off + len), at);
    this.pos += len;
  }
  zeros(n: number): void {
    const at = this.reserve(n);
    this.buf.fill(0, at, at + n);
    this.pos += n;
  }
  writeUtf8(s: string, byteLen: number): void {
    const at = this.reserve(byteLen);
    Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).write(s, at, byteLen, 'utf8');
    this.pos += byteLen;
  }
  /** Copy of the bytes written so far. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

const registry = new Set<AtomicFile>();

export class AtomicFile implements ByteSink {
  /** Final path, published by commit(). */
  readonly path: string;
  /** Temp path `<path>.tmp-<pid>` written until commit(). */
  readonly tmpPath: string;
  /**
   * The internal buffer. Callers that want to write without an intermediate copy call
   * {@link reserve}, fill `buf`/`view` at the returned offset, then {@link advance}.
   */
  readonly buf: Uint8Array;
  /** DataView over {@link buf}. */
  readonly view: DataView;
  /** The buffer size: the largest single {@link reserve}. */
  readonly maxReserve: number;
  private readonly nodeBuf: Buffer;
  private fd: number;
  private pos = 0;
  private flushed = 0;
  private readonly fsyncOnCommit: boolean;
  private _state: AtomicFileState = 'open';

  constructor(filePath: string, opts: AtomicFileOptions = {}) {
    const size = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(size) || size < 64) throw new RangeError(`AtomicFile: bufferSize ${size} too small`);
    this.path = path.resolve(filePath);
    this.tmpPath = `${this.path}.tmp-${process.pid}`;
    for (const f of registry) {
      if (f.tmpPath === this.tmpPath) throw new Error(`AtomicFile: ${this.path} is already open for writing`);
    }
    if (opts.mkdir !== false) fs.mkdirSync(path.dirname(this.path), { recursive: true });
    this.fsyncOnCommit = opts.fsync ?? false;
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.maxReserve = size;
    this.nodeBuf = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.fd = fs.openSync(this.tmpPath, 'w');
    registry.add(this);
  }

  get state(): AtomicFileState {
    return this._state;
  }

  /** Bytes accepted so far (flushed + buffered). */
  get size(): number {
    return this.flushed + this.pos;
  }

  /**
   * Makes room for `n` contiguous bytes in {@link buf} (flushing if needed) and returns
   * their offset. `n` must not exceed the buffer size. Nothing counts as written until
   * {@link advance}.
   */
  reserve(n: number): number {
    this.checkOpen();
    if (n > this.buf.length) throw new RangeError(`AtomicFile: reserve(${n}) exceeds buffer size ${this.buf.length}`);
    if (this.pos + n > this.buf.length) this.flush();
    return this.pos;
  }

  /** Marks `n` bytes after the current position (previously reserved) as written. */
  advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError('AtomicFile: advance beyond reserved space');
    this.pos += n;
  }

  /** Appends `len` bytes of `src` from `off`. Large writes bypass the buffer. */
  write(src: Uint8Array, off = 0, len = src.length - off): void {
    this.checkOpen();
    if (off < 0 || len < 0 || off + len > src.length) throw new RangeError('AtomicFile: write out of bounds');
    if (this.pos + len <= this.buf.length) {
      this.buf.set(src.subarray(off, off + len), this.pos);
      this.pos += len;
      return;
    }
    this.flush();
    if (len >= this.buf.length) {
      this.writeFully(src, off, len);
      this.flushed += len;
    } else {
      this.buf.set(src.subarray(off, off + len), 0);
      this.pos = len;
    }
  }

  /** Appends `n` zero bytes (padding). */
  zeros(n: number): void {
    const at = this.reserve(n);
    this.buf.fill(0, at, at + n);
    this.pos += n;
  }

  /** Appends `s` as UTF-8 without an intermediate copy; `byteLen` = `Buffer.byteLength(s, 'utf8')`. */
  writeUtf8(s: string, byteLen: number): void {
    if (byteLen > this.buf.length) {
      const b = Buffer.from(s, 'utf8');
      this.write(b, 0, b.length);
      return;
    }
    const at = this.reserve(byteLen);
    if (byteLen === s.length && byteLen <= 256) {
      // As many bytes as characters: all ASCII, one byte each (a short one is copied in JS, not by a call into C++).
      const b = this.buf;
      for (let i = 0; i < byteLen; i++) b[at + i] = s.charCodeAt(i);
    } else {
      this.nodeBuf.write(s, at, byteLen, 'utf8');
    }
    this.pos += byteLen;
  }

  /** Writes the buffered bytes to the temp file. */
  flush(): void {
    this.checkOpen();
    if (this.pos === 0) return;
    this.writeFully(this.buf, 0, this.pos);
    this.flushed += this.pos;
    this.pos = 0;
  }

  /** Flushes, optionally fsyncs, closes and renames onto {@link path}. Returns the final path. */
  commit(): string {
    if (this._state === 'committed') return this.path;
    if (this._state === 'aborted') throw new Error(`AtomicFile: ${this.path} was aborted`);
    try {
      this.flush();
      if (this.fsyncOnCommit) fs.fsyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = -1;
      fs.renameSync(this.tmpPath, this.path);
    } catch (e) {
      this.abort();
      throw e;
    }
    this._state = 'committed';
    registry.delete(this);
    if (this.fsyncOnCommit) fsyncDir(path.dirname(this.path));
    return this.path;
  }

  /** Closes and deletes the temp file; the final path is left untouched. Never throws for I/O. */
  abort(): void {
    if (this._state !== 'open') return;
    this._state = 'aborted';
    registry.delete(this);
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = -1;
    }
    try {
      fs.unlinkSync(this.tmpPath);
    } catch {
      /* already gone */
    }
  }

  private writeFully(src: Uint8Array, off: number, len: number): void {
    let done = 0;
    while (done < len) done += fs.writeSync(this.fd, src, off + done, len - done);
  }

  private checkOpen(): void {
    if (this._state !== 'open') throw new Error(`AtomicFile: ${this.path} is ${this._state}`);
  }
}

function fsyncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* not supported on every platform/filesystem */
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** Files currently open (not yet committed or aborted), in opening order. */
export function openFiles(): readonly AtomicFile[] {
  return [...registry];
}

/**
 * Commits every open file (e.g. from the CLI's failure path). Files whose commit fails
 * are aborted (temp file removed). Returns the paths published.
 */
export function commitAllOpen(): string[] {
  const out: string[] = [];
  for (const f of [...registry]) {
    try {
      out.push(f.commit());
    } catch {
      f.abort();
    }
  }
  return out;
}

/** Aborts every open file, deleting all temp files. */
export function abortAllOpen(): void {
  for (const f of [...registry]) f.abort();
}

/**
 * Installs a `process.on('exit')` listener that commits every still-open file, for runs
 * ending through `process.exit()` (uncaught exceptions should call {@link commitAllOpen}
 * from the CLI's handler). Returns a function removing the listener.
 */
export function commitOpenOnExit(): () => void {
  const onExit = (): void => {
    commitAllOpen();
  };
  process.on('exit', onExit);
  return () => {
    process.off('exit', onExit);
  };
}
