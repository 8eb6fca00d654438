/**
 * What the worker needs from an implementation under test: one method per W1 phase, each running the whole
 * loop of the phase, so that an adapter calls its database the way a user would (the Effect adapter runs a
 * phase as one Effect program with a `yield*` per call; the Promise adapters `await` per call). The worker
 * times each method from outside, so every implementation is timed the same way.
 */

export interface Engine {
  /** Puts keys [from, to) one after another, each awaited, not waiting for durability. */
  readonly putNoDurableSeq: (keys: ReadonlyArray<Uint8Array>, from: number, to: number) => Promise<void>
  /**
   * Puts keys [from, to) awaiting durability, `inFlight` at a time (each of `inFlight` writers takes the
   * next key when its previous put is durable). Absent: the engine has no concurrent durable writes worth
   * measuring (a synchronous fsync per put), and the table shows "-", as docs/design/benchmark.md §2 does.
   */
  readonly putDurableConcurrent?: (keys: ReadonlyArray<Uint8Array>, from: number, to: number, inFlight: number) => Promise<void>
  /** Puts keys [from, to) awaiting durability, one after another; returns each put's latency in ms. */
  readonly putDurableSeq: (keys: ReadonlyArray<Uint8Array>, from: number, to: number) => Promise<ReadonlyArray<number>>
  /** Flushes the memtable to L0 (a no-op, or a wait for pending writes, where the engine has none). */
  readonly flushMemtable: () => Promise<void>
  /** Gets `count` keys `keys[(i * 7919) % keys.length]`, each awaited; returns how many were found. */
  readonly getSeq: (keys: ReadonlyArray<Uint8Array>, count: number) => Promise<number>
  /** One full ascending scan; returns the number of rows. */
  readonly scanAll: () => Promise<number>
  /** Closes the database cleanly. */
  readonly close: () => Promise<void>
  /**
   * The engine's durable sequence number now (writes numbered from 1 on a fresh database), where the
   * engine reports one: how much of a non-durable put phase its WAL flushes had made durable by the end.
   */
  readonly durableSeq?: () => Promise<number>
  /** Object store PUTs so far, when the engine's store counts them (the injected-latency runs). */
  readonly storePuts?: () => number
}

/** Thrown by an adapter whose implementation cannot be loaded (a peer not installed, Shale's Db missing). */
export class EngineUnavailable extends Error {
  override readonly name = "EngineUnavailable"
}

/** True for the error Node raises when an imported package is not installed. */
export const isModuleNotFound = (e: unknown): boolean =>
  typeof e === "object" && e !== null && "code" in e &&
  (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "MODULE_NOT_FOUND")

/** Imports a peer package, turning "not installed" into an `EngineUnavailable` with the fix. */
export const importPeer = async <M>(pkg: string, load: () => Promise<M>): Promise<M> => {
  try {
    return await load()
  } catch (e) {
    if (isModuleNotFound(e)) {
      throw new EngineUnavailable(`${pkg} is not installed: npm install -w @shale/bench`)
    }
    throw new EngineUnavailable(`${pkg} failed to load: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Runs `task(i)` for i in [from, to) with `inFlight` writers, each awaiting its task before the next. */
export const runConcurrently = async (
  from: number,
  to: number,
  inFlight: number,
  task: (i: number) => Promise<unknown>
): Promise<void> => {
  let next = from
  const writer = async () => {
    while (next < to) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, to - from) }, writer))
}
