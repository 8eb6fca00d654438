/**
 * Cheap copies of small byte arrays. The engine copies every key and value it is given (the caller may
 * reuse its buffers) and every value it returns (so callers cannot change stored bytes), and
 * `Uint8Array.prototype.slice` costs a fresh `ArrayBuffer` each time (~0.3 µs, more under GC pressure).
 * Like Node's `Buffer` pool, small copies are carved out of a shared slab instead (~0.05 µs).
 *
 * - Copies of at most `maxPooled` bytes are views into the current slab; larger ones get their own buffer.
 * - A view is a plain `Uint8Array` (not a `Buffer`); its `byteOffset` may be non-zero and its `buffer` is
 *   shared with other copies, which therefore stay in memory together.
 */
export class ByteSlab {
  readonly #slabSize: number
  readonly #maxPooled: number
  #buffer: ArrayBuffer
  #bytes: Uint8Array
  #offset = 0
  /**
   * Whether the slab remembers its last two copies, newest first (`madeRecently`): only where asked, so that
   * other slabs neither pay for it nor keep a large copy (a value put last) alive after its owner is gone.
   */
  readonly #tracks: boolean
  #last: Uint8Array | undefined = undefined
  #beforeLast: Uint8Array | undefined = undefined

  constructor(slabSize: number, maxPooled: number, options: { readonly tracksRecent?: boolean } = {}) {
    this.#slabSize = slabSize
    this.#maxPooled = maxPooled
    this.#tracks = options.tracksRecent === true
    this.#buffer = new ArrayBuffer(slabSize)
    this.#bytes = new Uint8Array(this.#buffer)
  }

  /** A copy of `src`. */
  copy(src: Uint8Array): Uint8Array {
    return this.copyPrefix(src, src.length)
  }

  /** A copy of `src[0..n)` (a reused key buffer's key). */
  copyPrefix(src: Uint8Array, n: number): Uint8Array {
    const copy = this.#copyPrefix(src, n)
    if (this.#tracks) {
      this.#beforeLast = this.#last
      this.#last = copy
    }
    return copy
  }

  /**
   * Whether `bytes` is one of the last two copies this slab made (always false for a slab made without
   * `tracksRecent`). A copy is its own memory, never handed out again by the slab: whoever knows nobody
   * else was given it may hand it on instead of copying it again (db/DbIterator.ts, for the keys of the
   * rows scans build from SST blocks).
   */
  madeRecently(bytes: Uint8Array): boolean {
    return bytes === this.#last || bytes === this.#beforeLast
  }

  #copyPrefix(src: Uint8Array, n: number): Uint8Array {
    if (n > this.#maxPooled) return src.slice(0, n)
    let offset = this.#offset
    if (offset + n > this.#slabSize) {
      this.#buffer = new ArrayBuffer(this.#slabSize)
      this.#bytes = new Uint8Array(this.#buffer)
      offset = 0
    }
    const bytes = this.#bytes
    if (n <= 32) for (let i = 0; i < n; i++) bytes[offset + i] = src[i]!
    else bytes.set(n === src.length ? src : src.subarray(0, n), offset)
    // Keep views 8-byte aligned, as Node's pool does.
    this.#offset = (offset + n + 7) & ~7
    return new Uint8Array(this.#buffer, offset, n)
  }
}

/** For the write path: keys and values that live together in a memtable until it is flushed. */
export const writeSlab = (): ByteSlab => new ByteSlab(256 * 1024, 8 * 1024)

/**
 * For values handed to callers, and the keys of the rows scans and compactions build from SST blocks
 * (`format/Block.ts`): small slabs, so that one kept value pins little memory.
 */
export const readSlab = (options: { readonly tracksRecent?: boolean } = {}): ByteSlab =>
  new ByteSlab(16 * 1024, 2 * 1024, options)
