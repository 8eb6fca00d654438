/**
 * Writes a compaction job's output SSTs (CompactionJob.ts): rows go into an SST builder; `finish` closes
 * the SST, writes it create-only as `compacted/<ULID>.sst` and says what was written (`WrittenSst`).
 *
 * Memory: where the store can take a stream (`ObjectStore.putStream`: a local directory), the SST's put
 * starts with its first row and its finished blocks are handed over about every `STREAM_BATCH_BYTES`
 * (at most `STREAM_QUEUE` batches wait for the disk): a job holds a few MiB of output, not a whole SST
 * (up to `maxSstSizeBytes`). Elsewhere the SST is built in memory and put from its chunks (no copy of the
 * whole where the store has `putChunks`). If the job is interrupted, the put in flight is interrupted with
 * it and removes its temp file.
 */
import { type Cause, Effect, Exit, Fiber, Queue, type Scope, Stream } from "effect"
import { DataError, type DbError } from "../errors.ts"
import { compactedSstPath } from "../format/Paths.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import { SsTableBuilder, type SsTableBuilderOptions } from "../format/SsTableBuilder.ts"
import type { SstHandle } from "../manifest/Manifest.ts"
import { type ObjectStore, type PutResult, putChunks } from "../objectstore/ObjectStore.ts"
import type { ObjectStoreError } from "../objectstore/ObjectStoreError.ts"
import { toDbError } from "../objectstore/StoreErrors.ts"
import { makeUlidAtLeast } from "../Ulid.ts"

/**
 * An output SST just written (by this thread or a compaction worker): its handle and path, its size and
 * its tail (filter, index, info, footer), from which the table store opens its handle without a request.
 */
export interface WrittenSst {
  readonly handle: SstHandle
  readonly path: string
  readonly size: number
  readonly tail: Uint8Array
}

/** Finished blocks are handed to a streaming put once this many bytes are waiting. */
const STREAM_BATCH_BYTES = 1024 * 1024
/** Batches that may wait for the streaming put (then the job waits for the disk). */
const STREAM_QUEUE = 4

/**
 * The tail of an encoded SST (its last `chunks`, `size` bytes in all): from its filter or index, whichever
 * comes first, to its end, as one new array.
 */
const tailOf = (chunks: ReadonlyArray<Uint8Array>, size: number, info: SstHandle["info"]): Uint8Array => {
  const start = info.filterLen > 0 ? Math.min(info.filterOffset, info.indexOffset) : info.indexOffset
  const tail = new Uint8Array(size - start)
  let at = size
  for (const c of chunks) at -= c.length
  for (const c of chunks) {
    const end = at + c.length
    if (end > start) tail.set(at >= start ? c : c.subarray(start - at), Math.max(0, at - start))
    at = end
  }
  return tail
}

interface StreamingPut {
  readonly id: string
  readonly path: string
  readonly queue: Queue.Queue<ReadonlyArray<Uint8Array>, Cause.Done>
  readonly fiber: Fiber.Fiber<PutResult, ObjectStoreError>
}

export class OutputWriter {
  readonly #store: ObjectStore["Service"]
  readonly #root: string
  readonly #options: SsTableBuilderOptions
  readonly #scope: Scope.Scope
  /** The compaction's ULID time: no output is named older than its compaction (`makeUlidAtLeast`). */
  readonly #floorMs: number
  #builder: SsTableBuilder
  #put: StreamingPut | undefined = undefined

  constructor(store: ObjectStore["Service"], root: string, options: SsTableBuilderOptions, scope: Scope.Scope, floorMs = 0) {
    this.#store = store
    this.#root = root
    this.#options = options
    this.#scope = scope
    this.#floorMs = floorMs
    this.#builder = new SsTableBuilder(options)
  }

  /** Rows in the current SST. */
  get numRows(): number {
    return this.#builder.numRows
  }

  /** Bytes of finished data blocks in the current SST. */
  get dataSize(): number {
    return this.#builder.dataSize
  }

  /** Adds `row`; a row the builder refuses (out of order, malformed) means corrupt sources. */
  add(row: RowEntry): DataError | undefined {
    try {
      this.#builder.add(row)
      return undefined
    } catch (e) {
      return new DataError({ message: `compaction input is not a valid sorted sequence of rows: ${String(e)}`, cause: e })
    }
  }

  /** Whether `handOver` has blocks to hand to the streaming put (checked after each row: cheap). */
  get hasBatch(): boolean {
    return this.#store.putStream !== undefined && this.#builder.untakenSize >= STREAM_BATCH_BYTES
  }

  /** Hands the finished blocks to the streaming put (starting it with the SST's first batch). */
  get handOver(): Effect.Effect<void, DbError> {
    return Effect.gen({ self: this }, function*() {
      const put = this.#put ?? (yield* this.#startPut)
      const offered = yield* Queue.offer(put.queue, this.#builder.takeFinishedChunks())
      // The put ended early (it failed): its error, now rather than at the end of the SST.
      if (!offered) yield* Effect.asVoid(this.#join(put))
    })
  }

  get #startPut(): Effect.Effect<StreamingPut> {
    return Effect.gen({ self: this }, function*() {
      const id = yield* makeUlidAtLeast(this.#floorMs)
      const path = compactedSstPath(this.#root, id)
      const queue = yield* Queue.bounded<ReadonlyArray<Uint8Array>, Cause.Done>(STREAM_QUEUE)
      const write = this.#store.putStream!(path, Stream.fromQueue(queue), { mode: "create" }).pipe(
        Effect.onExit(() => Queue.shutdown(queue))
      )
      const put: StreamingPut = { id, path, queue, fiber: yield* Effect.forkIn(write, this.#scope) }
      this.#put = put
      return put
    })
  }

  #join(put: StreamingPut): Effect.Effect<PutResult, DbError> {
    return Effect.flatMap(Fiber.await(put.fiber), (exit) =>
      Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.mapError(exit, toDbError))
  }

  /** Closes the current SST, writes it (or ends its streaming put), starts the next one. */
  get finish(): Effect.Effect<WrittenSst, DbError> {
    return Effect.gen({ self: this }, function*() {
      const table = this.#builder.finish()
      this.#builder = new SsTableBuilder(this.#options)
      const put = this.#put
      this.#put = undefined
      let id: string
      let path: string
      if (put !== undefined) {
        id = put.id
        path = put.path
        yield* Queue.offer(put.queue, table.chunks)
        yield* Queue.end(put.queue)
        yield* this.#join(put)
      } else {
        id = yield* makeUlidAtLeast(this.#floorMs)
        path = compactedSstPath(this.#root, id)
        yield* putChunks(this.#store, path, table.chunks, { mode: "create" }).pipe(Effect.mapError(toDbError))
      }
      const handle: SstHandle = { id, info: table.info, formatVersion: table.formatVersion }
      return { handle, path, size: table.size, tail: tailOf(table.chunks, table.size, table.info) }
    })
  }
}
