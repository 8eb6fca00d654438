/**
 * Snapshots and transactions for Promise callers (`await db.snapshot()`, `await db.begin(options)` on a
 * `ShaleDb`): the Effect handles of Transaction.ts, each in a scope of its own that the Promise handle owns.
 *
 * ```ts
 * await using snap = await db.snapshot()          // released at the end of the block (or: snap.release())
 * await snap.get(key)                             // as of snap.seq
 *
 * const txn = await db.begin({ isolation: "serializable" })
 * const n = Number(dec.decode(await txn.get(key) ?? enc.encode("0")))
 * await txn.put(key, enc.encode(String(n + 1)))
 * await txn.commit()                              // rejects with TransactionError on a conflict
 * ```
 *
 * A snapshot's `release()` is idempotent (reads after it reject with `InvalidError`). A transaction's
 * `commit()` and `rollback()` end it; every later call rejects with `InvalidError("transaction has already
 * been completed")`. `await using txn = await db.begin()` rolls back a transaction still open at the end of
 * the block.
 */
import { type Context, Effect, Exit, Scope, Stream } from "effect"
import type { KeyRange, KeyValue, ReadOptions, ScanOptions, Ttl, WriteHandle, WriteOptions } from "./DbApi.ts"
import type { IsolationLevel, Snapshot, SnapshotReads, Transaction } from "./Transaction.ts"

/** Runs an Effect of the handle's database as a Promise (Shale.ts's `run`, with its context). */
export type Runner = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

/** The reads of a snapshot or a transaction, driven by Promises. */
class ShaleReads {
  readonly #reads: SnapshotReads
  protected readonly run: Runner
  readonly #context: Context.Context<never>

  constructor(reads: SnapshotReads, run: Runner, context: Context.Context<never>) {
    this.#reads = reads
    this.run = run
    this.#context = context
  }

  /** The seq it reads at (a transaction's: its snapshot's, SlateDB's `seqnum`). */
  get seq(): number {
    return this.#reads.seq
  }

  get(key: Uint8Array, options?: ReadOptions): Promise<Uint8Array | undefined> {
    return this.run(this.#reads.get(key, options))
  }

  getKeyValue(key: Uint8Array, options?: ReadOptions): Promise<KeyValue | undefined> {
    return this.run(this.#reads.getKeyValue(key, options))
  }

  /** Rows of `range` as of `seq` (a transaction's: with its writes, as of this call, laid over them). */
  scan(range: KeyRange = {}, options?: ScanOptions): AsyncIterable<KeyValue> {
    return Stream.toAsyncIterableWith(this.#reads.scan(range, options), this.#context)
  }

  scanPrefix(prefix: Uint8Array, options?: ScanOptions): AsyncIterable<KeyValue> {
    return Stream.toAsyncIterableWith(this.#reads.scanPrefix(prefix, options), this.#context)
  }
}

/** A snapshot, driven by Promises. */
export class ShaleSnapshot extends ShaleReads implements AsyncDisposable {
  readonly #scope: Scope.Closeable
  #released: Promise<void> | undefined

  constructor(snapshot: Snapshot, scope: Scope.Closeable, run: Runner, context: Context.Context<never>) {
    super(snapshot, run, context)
    this.#scope = scope
  }

  /** Lets flushes and compaction drop what only this snapshot read; later calls do nothing. */
  release(): Promise<void> {
    this.#released ??= this.run(Scope.close(this.#scope, Exit.void))
    return this.#released
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release()
  }
}

/** A transaction, driven by Promises. */
export class ShaleTransaction extends ShaleReads implements AsyncDisposable {
  readonly #txn: Transaction
  readonly #scope: Scope.Closeable

  constructor(txn: Transaction, scope: Scope.Closeable, run: Runner, context: Context.Context<never>) {
    super(txn, run, context)
    this.#txn = txn
    this.#scope = scope
  }

  /** A UUID. */
  get id(): string {
    return this.#txn.id
  }

  get isolation(): IsolationLevel {
    return this.#txn.isolation
  }

  /** Whether it can still be used. */
  get isActive(): boolean {
    return this.#txn.isActive
  }

  put(key: Uint8Array, value: Uint8Array, options?: { readonly ttl?: Ttl }): Promise<void> {
    return this.run(this.#txn.put(key, value, options))
  }

  delete(key: Uint8Array): Promise<void> {
    return this.run(this.#txn.delete(key))
  }
  /** A merge operand for `key`, written with the commit (`Transaction.merge`). */
  merge(key: Uint8Array, operand: Uint8Array, options?: { readonly ttl?: Ttl }): Promise<void> {
    return this.run(this.#txn.merge(key, operand, options))
  }


  markRead(keys: Iterable<Uint8Array>): Promise<void> {
    return this.run(this.#txn.markRead(keys))
  }

  unmarkWrite(keys: Iterable<Uint8Array>): Promise<void> {
    return this.run(this.#txn.unmarkWrite(keys))
  }

  /** Writes the transaction atomically: its handle, undefined if it wrote nothing; `TransactionError` on a conflict. */
  commit(options?: WriteOptions): Promise<WriteHandle | undefined> {
    return this.run(this.#txn.commit(options).pipe(Effect.ensuring(Scope.close(this.#scope, Exit.void))))
  }

  rollback(): Promise<void> {
    return this.run(this.#txn.rollback.pipe(Effect.ensuring(Scope.close(this.#scope, Exit.void))))
  }

  /** `await using txn = await db.begin()`: rolls back if still open. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.run(Scope.close(this.#scope, Exit.void))
  }
}
