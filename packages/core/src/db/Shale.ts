/**
 * The Promise API, for callers that do not use Effect:
 *
 * ```ts
 * import { Shale } from "@shale/core"
 * await using db = await Shale.open("mydb", { store: Shale.stores.resolve("./data") })
 * await db.put(key, value)                        // durable when the promise resolves (as SlateDB)
 * await db.put(key, value, { awaitDurable: false })
 * const v = await db.get(key)                     // Uint8Array | undefined
 * for await (const kv of db.scan({ start, end })) { ... }
 * // closed when `db` goes out of scope (or: await db.close(); a second close does nothing)
 * ```
 *
 * It is the `Db` service (Db.ts) run from Promises, with no behaviour of its own: `Shale.open` builds
 * `Db.layer` over the given store layer in a scope it keeps, every method runs the matching `Db`
 * operation, and `close()` runs `Db.close` and then releases the scope. Failures reject with the same
 * tagged error instances the Effect API fails with (`ClosedError`, `InvalidError`, ...), so
 * `err instanceof ClosedError && err.reason === "fenced"` works.
 *
 * `Shale.openReadOnly(path, { store, checkpointId? })` is `openReadOnly` (ReadOnlyDb.ts) the same way: a
 * view with `get`, `getKeyValue`, `scan`, `scanPrefix` and `close` that never writes to the store.
 *
 * Scans return async iterables that read lazily: rows are fetched in chunks as the loop advances, and
 * leaving the loop early (`break`, `return`, a throw) releases the scan.
 *
 * Log records of the engine go where `options.logger` says (ShaleLogger.ts; default: warnings and errors
 * on stderr, never stdout): every operation of the handle, and the background fibers started when it
 * opened, run with that logging context.
 */
import { Cause, ConfigProvider, Context, Effect, Exit, Layer, Scope, Stream, Tracer } from "effect"
import { type DbError, InvalidError } from "../errors.ts"
import { makeMemory, ObjectStore } from "../objectstore/ObjectStore.ts"
import type { RetryOptions } from "../objectstore/RetryingObjectStore.ts"
import { type LoadOptions, Settings, type SettingsInput } from "../Settings.ts"
import { loggingContext, type LoggingOptions } from "../ShaleLogger.ts"
import { type MetricSample, snapshotUnsafe, withOwnRegistry } from "../Metrics.ts"
import { layerForLocation, layerFromUrl, type StoreUrlError } from "../objectstore/StoreUrl.ts"
import type { Change, ChangesOptions } from "../wal/ChangeStream.ts"
import { Db } from "./Db.ts"
import { Later, ReadNow, type ReadNowHooks } from "./Reader.ts"
import { openReadOnly as openReadOnlyView, type ReadOnlyDb } from "./ReadOnlyDb.ts"
import type { TransactionOptions } from "./Transaction.ts"
import { ShaleSnapshot, ShaleTransaction } from "./ShaleTransaction.ts"
import {
  type CheckpointCreated,
  type CheckpointOptions,
  type DbStatus,
  type FlushType,
  type KeyRange,
  type KeyValue,
  type MergeOperator,
  type MergeOptions,
  type PutOptions,
  type ReadOptions,
  type ScanOptions,
  WriteBatch,
  type WriteHandle,
  type WriteOptions
} from "./DbApi.ts"

export interface ShaleOpenOptions<E = unknown> extends LoggingOptions {
  /** Where the database lives: `Shale.stores.resolve(url)`, `Shale.stores.memory()`, or any store layer. */
  readonly store: Layer.Layer<ObjectStore, E>
  /** Any subset of the settings (SlateDB's defaults otherwise). */
  readonly settings?: SettingsInput
  /** Retry policy of the engine's store wrapper. */
  readonly storeRetry?: RetryOptions
  /** Folds merge operands on writes, flushes, compactions and reads (`Db.Options.mergeOperator`). */
  readonly mergeOperator?: MergeOperator
  /**
   * Where this database's spans and metrics go: a layer providing a tracer and/or metric exporters, e.g.
   * `Otlp.layerJson({ baseUrl })` from `effect/observability` with an `HttpClient`. It is built in the
   * database's own context before it opens (so its metrics exporter reads this database's registry) and
   * released after it closes. With a tracer, point reads go through the Effect path, so they get spans.
   */
  readonly telemetry?: Layer.Layer<never, unknown>
}

/**
 * Runs `effect` and settles a Promise with its outcome, like `Effect.runPromise` (a failure rejects with
 * the error itself), but without the extra promise hop when the effect completes synchronously, which
 * most puts and gets do (the fiber runs until its first asynchronous step before `runFork` returns).
 */
const run = <A, E>(context: Context.Context<never>, effect: Effect.Effect<A, E>): Promise<A> => {
  const fiber = Effect.runForkWith(context)(effect)
  const done = fiber.pollUnsafe()
  if (done !== undefined) return settle(done)
  return new Promise<A>((resolve, reject) => {
    fiber.addObserver((exit) => (Exit.isSuccess(exit) ? resolve(exit.value) : reject(Cause.squash(exit.cause))))
  })
}

const settle = <A, E>(exit: Exit.Exit<A, E>): Promise<A> =>
  Exit.isSuccess(exit) ? Promise.resolve(exit.value) : Promise.reject(Cause.squash(exit.cause))

/**
 * A point read: through the engine's synchronous hook `now` when there is one (settled at once, or by
 * running the rest of the read), else by running `slow`. A throw rejects, as a defect of the Effect would.
 */
const pointRead = <A>(
  context: Context.Context<never>,
  now: ((key: Uint8Array, options?: ReadOptions) => A | undefined | Later<A | undefined>) | undefined,
  slow: (key: Uint8Array, options?: ReadOptions) => Effect.Effect<A | undefined, DbError>,
  key: Uint8Array,
  options: ReadOptions | undefined
): Promise<A | undefined> => {
  if (now === undefined) return run(context, slow(key, options))
  try {
    const r = now(key, options)
    return r instanceof Later ? run(context, r.effect) : Promise.resolve(r)
  } catch (e) {
    return Promise.reject(e)
  }
}


/** An open database, driven by Promises. */
export class ShaleDb implements AsyncDisposable {
  readonly #db: Db["Service"]
  readonly #now: ReadNowHooks | undefined
  readonly #scope: Scope.Closeable
  /** The logging context every operation runs with (ShaleLogger.ts). */
  readonly #context: Context.Context<never>
  #released = false
  #closing: Promise<void> | undefined

  constructor(db: Db["Service"], scope: Scope.Closeable, context: Context.Context<never> = Context.empty()) {
    this.#db = db
    // With a tracer installed (`telemetry`), point reads take the Effect path, which makes their spans.
    this.#now = Context.get(context, Tracer.Tracer) === Tracer.nativeTracer ? db[ReadNow] : undefined
    this.#scope = scope
    this.#context = context
  }

  /** The Effect service behind this handle (to mix both APIs). */
  get service(): Db["Service"] {
    return this.#db
  }

  put(key: Uint8Array, value: Uint8Array, options?: PutOptions): Promise<WriteHandle> {
    return run(this.#context, this.#db.put(key, value, options))
  }

  delete(key: Uint8Array, options?: WriteOptions): Promise<WriteHandle> {
    return run(this.#context, this.#db.delete(key, options))
  }

  /** Writes a merge operand for `key` (`Db.merge`): folded by the merge operator the database was opened with. */
  merge(key: Uint8Array, operand: Uint8Array, options?: MergeOptions): Promise<WriteHandle> {
    return run(this.#context, this.#db.merge(key, operand, options))
  }

  /** Writes the batch atomically. The batch is consumed: writing it again rejects with `InvalidError`. */
  write(batch: WriteBatch, options?: WriteOptions): Promise<WriteHandle> {
    return run(this.#context, this.#db.write(batch, options))
  }

  /**
   * `Db.get`. Gets mostly answer from memory (memtables, cached blocks), so this calls the engine's
   * synchronous half of `get` directly and settles at once; only a read that needs the store (or fails)
   * runs as an Effect, the same one `Db.get` runs. Same answers and errors, no fiber per call.
   */
  get(key: Uint8Array, options?: ReadOptions): Promise<Uint8Array | undefined> {
    return pointRead(this.#context, this.#now?.get, this.#db.get, key, options)
  }

  getKeyValue(key: Uint8Array, options?: ReadOptions): Promise<KeyValue | undefined> {
    return pointRead(this.#context, this.#now?.getKeyValue, this.#db.getKeyValue, key, options)
  }

  /** Rows of `range` in key order (`options.order`), read lazily. */
  scan(range: KeyRange = {}, options?: ScanOptions): AsyncIterable<KeyValue> {
    return Stream.toAsyncIterableWith(this.#db.scan(range, options), this.#context)
  }

  /** Rows whose key starts with `prefix`, read lazily. */
  scanPrefix(prefix: Uint8Array, options?: ScanOptions): AsyncIterable<KeyValue> {
    return Stream.toAsyncIterableWith(this.#db.scanPrefix(prefix, options), this.#context)
  }

  flush(options?: { readonly type?: FlushType }): Promise<void> {
    return run(this.#context, this.#db.flush(options))
  }

  /** `Db.changes`: durable rows in seq order from `options.fromSeq` (default: from now on), following the WAL. */
  changes(options?: ChangesOptions): AsyncIterable<Change> {
    return Stream.toAsyncIterableWith(this.#db.changes(options), this.#context)
  }

  status(): Promise<DbStatus> {
    return run(this.#context, this.#db.status)
  }

  /**
   * SlateDB's metrics of this database (its own registry: the counts of this handle only, its compactor
   * and collector included), now: `{ name, labels, value }` sorted by name (docs/design/observability.md).
   */
  metrics(): Array<MetricSample> {
    return snapshotUnsafe(this.#context)
  }

  /** `Db.snapshot`: reads at the last committed seq until `release()` (ShaleTransaction.ts). */
  snapshot(): Promise<ShaleSnapshot> {
    return this.#handle((scope) => Scope.provide(this.#db.snapshot(), scope), ShaleSnapshot)
  }

  /** `Db.begin`: a transaction at the last committed seq, ended by `commit()` or `rollback()`. */
  begin(options?: TransactionOptions): Promise<ShaleTransaction> {
    return this.#handle((scope) => Scope.provide(this.#db.begin(options), scope), ShaleTransaction)
  }

  /** A scoped handle in a scope of its own, which the Promise handle then owns. */
  #handle<A, H>(
    make: (scope: Scope.Closeable) => Effect.Effect<A, DbError>,
    Handle: new(a: A, scope: Scope.Closeable, run: <B, E>(e: Effect.Effect<B, E>) => Promise<B>, context: Context.Context<never>) => H
  ): Promise<H> {
    const runner = <B, E>(e: Effect.Effect<B, E>) => run(this.#context, e)
    return run(this.#context, Effect.map(inNewScope(make), ([a, scope]) => new Handle(a, scope, runner, this.#context)))
  }

  /** Pins the current state in a checkpoint (`Db.createCheckpoint`); resolves with its id and manifest. */
  createCheckpoint(options?: CheckpointOptions): Promise<CheckpointCreated> {
    return run(this.#context, this.#db.createCheckpoint(options))
  }

  /**
   * Closes cleanly (flushes the WAL, writes the final manifest) and releases the engine. The first call
   * settles with the outcome of closing (a database that was fenced rejects with its `ClosedError`); later
   * calls, and `await using`'s dispose after an explicit close, do nothing but wait for the first.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing.then(() => undefined, () => undefined)
    const release = Effect.suspend(() => {
      if (this.#released) return Effect.void
      this.#released = true
      return Scope.close(this.#scope, Exit.void)
    })
    this.#closing = run(this.#context, this.#db.close.pipe(Effect.ensuring(release)))
    return this.#closing
  }

  /** `await using db = await Shale.open(...)` closes the database at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

export interface ShaleReadOnlyOptions<E = unknown> extends LoggingOptions {
  /** Where the database lives (as `Shale.open`'s `store`). */
  readonly store: Layer.Layer<ObjectStore, E>
  /** Any subset of the settings (the view uses the block cache size). */
  readonly settings?: SettingsInput
  /** Read at this checkpoint of the latest manifest instead of the latest state. */
  readonly checkpointId?: string
  /** Read at this manifest version instead of the latest state. */
  readonly manifestId?: number
  /** Retry policy of the store wrapper. */
  readonly storeRetry?: RetryOptions
  /** Folds merge operands on reads (docs/design/merge.md); without one, a read that meets an operand fails. */
  readonly mergeOperator?: MergeOperator
}

/** A read-only view of a database, driven by Promises (`Shale.openReadOnly`; ReadOnlyDb.ts says what it sees). */
export class ShaleReadOnlyDb implements AsyncDisposable {
  readonly #view: ReadOnlyDb
  readonly #scope: Scope.Closeable
  readonly #context: Context.Context<never>
  #closing: Promise<void> | undefined

  constructor(view: ReadOnlyDb, scope: Scope.Closeable, context: Context.Context<never> = Context.empty()) {
    this.#view = view
    this.#scope = scope
    this.#context = context
  }

  /** The Effect view behind this handle. */
  get service(): ReadOnlyDb {
    return this.#view
  }

  /** The manifest version the view reads. */
  get manifestId(): number {
    return this.#view.manifestId
  }

  /** The checkpoint it reads at, if opened with one. */
  get checkpointId(): string | undefined {
    return this.#view.checkpointId
  }

  /** The highest visible seq. */
  get seq(): number {
    return this.#view.seq
  }

  /** SlateDB's metrics of this view (its store requests, block cache, filters), now (as `ShaleDb.metrics`). */
  metrics(): Array<MetricSample> {
    return snapshotUnsafe(this.#context)
  }

  get(key: Uint8Array, options?: ReadOptions): Promise<Uint8Array | undefined> {
    return pointRead(this.#context, this.#view[ReadNow].get, this.#view.get, key, options)
  }

  getKeyValue(key: Uint8Array, options?: ReadOptions): Promise<KeyValue | undefined> {
    return pointRead(this.#context, this.#view[ReadNow].getKeyValue, this.#view.getKeyValue, key, options)
  }

  /** Rows of `range` in key order (`options.order`), read lazily. */
  scan(range: KeyRange = {}, options?: ScanOptions): AsyncIterable<KeyValue> {
    return Stream.toAsyncIterableWith(this.#view.scan(range, options), this.#context)
  }

  /** Rows whose key starts with `prefix`, read lazily. */
  scanPrefix(prefix: Uint8Array, options?: ScanOptions): AsyncIterable<KeyValue> {
    return Stream.toAsyncIterableWith(this.#view.scanPrefix(prefix, options), this.#context)
  }

  /** Drops the view (later reads reject with `ClosedError("clean")`); later calls do nothing. Writes nothing. */
  close(): Promise<void> {
    this.#closing ??= run(this.#context, Effect.andThen(this.#view.close, Scope.close(this.#scope, Exit.void)))
    return this.#closing
  }

  /** `await using view = await Shale.openReadOnly(...)` closes the view at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/** Why `Shale.open`'s arguments are unacceptable, or undefined. */
const openProblem = (path: unknown, options: unknown): string | undefined => {
  if (typeof path !== "string") return `path must be a string, got ${path === null ? "null" : typeof path}`
  if (typeof options !== "object" || options === null) {
    return `options must be an object with a store (e.g. { store: Shale.stores.memory() }), got ${options === null ? "null" : typeof options}`
  }
  const store = (options as { store?: unknown }).store
  if (!Layer.isLayer(store)) return "options.store must be a store layer (Shale.stores.memory(), Shale.stores.local(dir), ...)"
  const settings = (options as { settings?: unknown }).settings
  if (settings !== undefined && (typeof settings !== "object" || settings === null || Array.isArray(settings))) {
    return "options.settings must be an object"
  }
  return undefined
}

/**
 * What the Promise API runs its effects with: the logging options, and the environment as it is now.
 * Effect's default `ConfigProvider` copies the environment the first time any `Config` is read in the
 * process; a Promise caller expects `SHALE_*`, `SLATEDB_*` and `AWS_*` variables to be read when it opens
 * a database or loads settings, so each call takes a fresh copy.
 */
const runContext = (options: LoggingOptions): Context.Context<never> =>
  withOwnRegistry(Context.add(loggingContext(options), ConfigProvider.ConfigProvider, ConfigProvider.fromEnv()))

/**
 * Runs `build` in a new scope and returns its value with the scope (which the caller then owns); the scope
 * is closed at once if `build` fails.
 */
export const inNewScope = <A, E>(
  build: (scope: Scope.Closeable) => Effect.Effect<A, E>
): Effect.Effect<readonly [A, Scope.Closeable], E> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const exit = yield* Effect.exit(build(scope))
    if (Exit.isFailure(exit)) {
      yield* Scope.close(scope, exit)
      return yield* Effect.failCause(exit.cause)
    }
    return [exit.value, scope] as const
  })

/**
 * How the Promise API opens a handle over `options.store`: checks the arguments (as `Shale.open` does: an
 * `InvalidError` rejects), builds the store layer in a new scope, and makes the handle from the store, that
 * scope (which the handle then owns) and the context its operations run with; a failure closes the scope.
 */
export const openOnStore = <H, E, E2>(
  path: string,
  options: LoggingOptions & { readonly store: Layer.Layer<ObjectStore, E> },
  make: (store: ObjectStore["Service"], scope: Scope.Closeable, context: Context.Context<never>) => Effect.Effect<H, E2>
): Promise<H> => {
  const problem = openProblem(path, options)
  if (problem !== undefined) return Promise.reject(new InvalidError({ message: problem }))
  const context = runContext(options)
  return Effect.runPromiseWith(context)(
    Effect.map(
      inNewScope((scope) =>
        Effect.flatMap(Layer.buildWithScope(options.store, scope), (services) =>
          make(Context.get(services, ObjectStore), scope, context))
      ),
      ([handle]) => handle
    )
  )
}

/**
 * The context a database's operations run with: the current one, plus the services of `telemetry` (a
 * tracer, metric exporters) built in it (so they read its registry), in `scope`, before the database opens.
 */
const withTelemetry = (telemetry: Layer.Layer<never, unknown> | undefined, scope: Scope.Scope) =>
  Effect.flatMap(Effect.context<never>(), (context) =>
    telemetry === undefined
      ? Effect.succeed(context)
      : Effect.map(Layer.buildWithScope(telemetry, scope), (services) => Context.merge(context, services)))

/** Opens (or creates) the database at `path` in `options.store`. Rejects with a `DbError` or a store error. */
const open = <E>(path: string, options: ShaleOpenOptions<E>): Promise<ShaleDb> => {
  const problem = openProblem(path, options)
  if (problem !== undefined) return Promise.reject(new InvalidError({ message: problem }))
  return Effect.runPromiseWith(runContext(options))(
    Effect.map(
      inNewScope((scope) =>
        Effect.flatMap(withTelemetry(options.telemetry, scope), (context) =>
          Layer.buildWithScope(
            Db.layer({
              path,
              ...(options.settings === undefined ? {} : { settings: options.settings }),
              ...(options.storeRetry === undefined ? {} : { storeRetry: options.storeRetry }),
              ...(options.mergeOperator === undefined ? {} : { mergeOperator: options.mergeOperator })
            }).pipe(Layer.provide(options.store)),
            scope
          ).pipe(Effect.map((services) => new ShaleDb(Context.get(services, Db), scope, context)), Effect.provideContext(context)))
      ),
      ([db]) => db
    ) as Effect.Effect<ShaleDb, DbError | E>
  )
}

/**
 * Opens a read-only view of the database at `path` in `options.store` (ReadOnlyDb.ts): the latest state,
 * or a checkpoint's. It writes nothing and creates nothing; rejects with a `DbError` or a store error.
 */
const openReadOnly = <E>(path: string, options: ShaleReadOnlyOptions<E>): Promise<ShaleReadOnlyDb> =>
  openOnStore(path, options, (store, scope, context) =>
    openReadOnlyView({
      root: path,
      ...(options.settings === undefined ? {} : { settings: options.settings }),
      ...(options.checkpointId === undefined ? {} : { checkpointId: options.checkpointId }),
      ...(options.manifestId === undefined ? {} : { manifestId: options.manifestId }),
      ...(options.storeRetry === undefined ? {} : { storeRetry: options.storeRetry }),
      ...(options.mergeOperator === undefined ? {} : { mergeOperator: options.mergeOperator })
    }).pipe(
      Effect.provideService(ObjectStore, store),
      Scope.provide(scope),
      Effect.map((view) => new ShaleReadOnlyDb(view, scope, context))
    ))

/**
 * `Settings.load` without Effect: SlateDB's defaults, then the settings file (`options.file`, or the first
 * of `SlateDb.json`, `.toml`, `.yaml`, `.yml` found in `options.dir`, default the current directory), then
 * `SLATEDB_*` and `SHALE_*` environment variables. Rejects with an `InvalidError` listing every problem.
 */
const loadSettings = (options: LoadOptions & LoggingOptions = {}): Promise<Settings> =>
  Effect.runPromiseWith(runContext(options))(
    Effect.flatMap(
      Effect.promise(() => import("@effect/platform-node/NodeFileSystem")),
      (NodeFileSystem) => Settings.load(options).pipe(Effect.provide(NodeFileSystem.layer))
    )
  )

/** The Promise API's entry point. */
export const Shale = {
  open,
  openReadOnly,
  loadSettings,
  /** Ready-made store layers. */
  stores: {
    /**
     * A new in-memory store (gone when the process ends). Every database opened on the returned value
     * shares it, so closing and opening again finds the data.
     */
    memory: (): Layer.Layer<ObjectStore> => Layer.succeed(ObjectStore, makeMemory()),
    /** A directory on the local disk (created if missing), in SlateDB's `file://` layout (Node only). */
    local: (dir: string): Layer.Layer<ObjectStore, StoreUrlError> => layerForLocation({ _tag: "Local", dir }),
    /**
     * The store a URL names, as SlateDB's `ObjectStore.resolve`: a directory path or `file:///abs/dir`,
     * `memory:` (a new store, reopenable as `memory()`), `s3://bucket/prefix` (needs `@shale/s3`; endpoint
     * and credentials from `SHALE_S3_ENDPOINT`, `AWS_*`). A bad URL rejects `open` with `InvalidError`.
     */
    resolve: (url: string): Layer.Layer<ObjectStore, StoreUrlError> => layerFromUrl(url)
  },
  WriteBatch
} as const
