/**
 * A retrying `ObjectStore` decorator, SlateDB's `RetryingObjectStore`: the engine wraps every store in it.
 *
 * - Only `StoreUnavailable` is retried. `ObjectAlreadyExists`, `ObjectNotFound`, `InvalidPath` and
 *   `StoreFailure` are returned at once.
 * - Backoff: the n-th retry (n = 0, 1, ...) waits `min(maxDelay, baseDelay * 2^n)` plus a jitter drawn
 *   uniformly from `[0, baseDelay)` (backon's jitter, which SlateDB uses), 100 ms → 1 s by default. Delays
 *   are `Effect.sleep`s on the Effect `Clock` and the jitter comes from the Effect `Random` service, so a
 *   run under `TestClock` and `Random.withSeed` is exactly reproducible.
 * - Attempts: unlimited by default, as in SlateDB (an outage stalls writers rather than failing them);
 *   `maxAttempts` caps the total number of attempts, after which the last `StoreUnavailable` is returned.
 * - Idempotent create-only puts: every `mode: "create"` put carries the user metadata `slatedbputid` = a
 *   fresh ULID. When a retry (never the first attempt) fails with `ObjectAlreadyExists`, the object is
 *   HEADed; if its `slatedbputid` is ours, an earlier attempt landed and only its response was lost, so the
 *   put succeeds. Without this a timeout after a successful WAL write would fence the writer itself.
 * - `list` resumes after a transient failure from just past the last path it emitted (listings are in
 *   ascending order), so a retried listing never repeats or skips an object.
 */
import { Duration, Effect, Layer, Random, Schedule, Stream } from "effect"
import { spanned } from "../Tracing.ts"
import { makeUlid } from "../Ulid.ts"
import { type ByteRange, type ListOptions, ObjectStore, type ObjectSummary, type PutOptions } from "./ObjectStore.ts"
import { isTransient, type ObjectStoreError } from "./ObjectStoreError.ts"

/** The user-metadata key that makes create-only puts idempotent (SlateDB's name, for compatibility). */
export const PUT_ID_METADATA_KEY = "slatedbputid"

export interface RetryOptions {
  /** The first retry's delay, and the width of the jitter (default 100 ms). */
  readonly baseDelay?: Duration.Input
  /** The cap on the exponential part of the delay (default 1 s). */
  readonly maxDelay?: Duration.Input
  /** Total attempts, the first included (default: unlimited, as SlateDB). */
  readonly maxAttempts?: number
}

/** The retry policy as a `Schedule` over store errors: it stops at once on a non-transient error. */
export const retrySchedule = (options: RetryOptions = {}): Schedule.Schedule<unknown, ObjectStoreError> => {
  const base = Duration.toMillis(Duration.fromInputUnsafe(options.baseDelay ?? "100 millis"))
  const max = Duration.toMillis(Duration.fromInputUnsafe(options.maxDelay ?? "1 second"))
  const schedule = Schedule.exponential(Duration.millis(base), 2).pipe(
    Schedule.setInputType<ObjectStoreError>(),
    Schedule.while(({ input }) => isTransient(input)),
    Schedule.modifyDelay(({ duration }) =>
      Random.next.pipe(Effect.map((r) => Duration.millis(Math.min(max, Duration.toMillis(duration)) + Math.floor(r * base)))))
  )
  const attempts = options.maxAttempts
  return attempts === undefined || !Number.isFinite(attempts)
    ? schedule
    : schedule.pipe(Schedule.upTo({ times: Math.max(0, Math.floor(attempts) - 1) }))
}

/** Wraps `store` so that transient failures are retried (see the module comment). */
export const withRetries = (store: ObjectStore["Service"], options: RetryOptions = {}): ObjectStore["Service"] => {
  const schedule = retrySchedule(options)
  // The first attempt runs bare: the schedule's driver (a closure per combinator) is built only after a
  // failure, by a retry whose first attempt replays that failure. Attempts, delays and the draws from
  // `Random` are the same as `Effect.retry(effect, schedule)`'s; a request that succeeds pays nothing.
  const retry = <A>(effect: Effect.Effect<A, ObjectStoreError>) =>
    Effect.catch(effect, (first) => {
      let replayed = false
      return Effect.retry(Effect.suspend(() => replayed ? effect : (replayed = true, Effect.fail(first))), schedule)
    })

  /** One attempt of a put of `body` (bytes, or chunks through the inner store's `putChunks`). */
  const send = (path: string, body: Uint8Array | ReadonlyArray<Uint8Array>, options?: PutOptions) =>
    body instanceof Uint8Array ? store.put(path, body, options) : store.putChunks!(path, body, options)

  const putCreate = Effect.fnUntraced(function*(path: string, bytes: Uint8Array | ReadonlyArray<Uint8Array>, options: PutOptions) {
    const putId = yield* makeUlid
    const metadata = { ...options.metadata, [PUT_ID_METADATA_KEY]: putId }
    let attempt = 0
    const once = Effect.suspend(() => {
      attempt++
      const isRetry = attempt > 1
      return send(path, bytes, { ...options, metadata }).pipe(
        Effect.catchTag("ObjectAlreadyExists", (exists) =>
          !isRetry ? Effect.fail(exists) : store.head(path).pipe(
            Effect.catchTag("ObjectNotFound", () => Effect.fail(exists)),
            Effect.flatMap((meta) =>
              meta.metadata[PUT_ID_METADATA_KEY] === putId
                ? Effect.succeed({ etag: meta.etag })
                : Effect.fail(exists)
            )
          ))
      )
    })
    return yield* retry(once)
  })

  const put = spanned(
    "RetryingObjectStore.put",
    (path: string, bytes: Uint8Array | ReadonlyArray<Uint8Array>, options?: PutOptions) =>
      options?.mode === "create" ? putCreate(path, bytes, options) : retry(send(path, bytes, options))
  )

  const list = (prefix: string, options?: ListOptions): Stream.Stream<ObjectSummary, ObjectStoreError> =>
    Stream.suspend(() => {
      let last: string | undefined
      // A retry resumes after the last object it delivered.
      return Stream.suspend(() => {
        const after = last ?? options?.startAfter
        const listing = store.list(prefix, { startAfter: after })
        return after === undefined ? listing : listing.pipe(Stream.filter((o) => o.path > after))
      }).pipe(
        Stream.tap((o) => Effect.sync(() => void (last = o.path))),
        Stream.retry(schedule)
      )
    })

  return ObjectStore.of({
    put,
    get: spanned("RetryingObjectStore.get", (path: string) => retry(store.get(path))),
    getRange: spanned("RetryingObjectStore.getRange", (path: string, range: ByteRange) => retry(store.getRange(path, range))),
    head: spanned("RetryingObjectStore.head", (path: string) => retry(store.head(path))),
    delete: spanned("RetryingObjectStore.delete", (path: string) => retry(store.delete(path))),
    list,
    ...(store.putChunks === undefined ? {} : { putChunks: put }),
    // Not retried: a stream is read once (see `ObjectStore.putStream`).
    ...(store.putStream === undefined ? {} : { putStream: store.putStream }),
    // Never fails: a read it cannot make goes through `getRange`, retried.
    ...(store.getRangeNow === undefined ? {} : { getRangeNow: store.getRangeNow }),
    recipe: store.recipe
  })
}

/** Constructors for the retrying decorator. */
export const RetryingObjectStore = {
  /** Replaces the `ObjectStore` in context with a retrying one around it. */
  layer: (options: RetryOptions = {}): Layer.Layer<ObjectStore, never, ObjectStore> =>
    Layer.effect(ObjectStore, Effect.gen(function*() {
      return withRetries(yield* ObjectStore, options)
    })),
  withRetries
} as const
