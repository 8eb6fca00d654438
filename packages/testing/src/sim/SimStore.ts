/**
 * One simulated process's view of the shared bucket, and of time.
 *
 * The simulation keeps one fault-injecting store (`FaultInjectingObjectStore`) for its whole life: the
 * bucket, which survives every crash. Each database process (the first writer, the writer reopened after
 * a crash, a second writer racing the first) reaches it through its own `ProcessStore`, so that killing a
 * process cuts exactly that process off:
 *
 * - after `kill`, every operation the process starts hangs forever (interruptibly) without touching the
 *   bucket, and every operation already in flight never delivers its result: a dead process observes and
 *   changes nothing, even though its fibers live on, abandoned, in the simulation;
 * - a crash (everything in flight is lost) is `kill` plus the bucket's own `crash()`/`heal()`, which
 *   strands operations inside their injected latency so that none of them lands afterwards;
 * - a fenced writer is only `kill`ed: its in-flight writes may still land, as a real zombie's would, and
 *   the fencing protocol must make them harmless.
 *
 * A killed process must also stop computing: its timers (WAL flush ticks, manifest polls, compaction
 * polls) would otherwise keep waking forever, and a long simulation would spend its time running the
 * fibers of dozens of dead databases. So each process also gets its own view of the clock (`clock`): once
 * the process is dead, a sleep it starts never ends, and a sleep that ends after its death never returns.
 *
 * (`FaultInjectingObjectStore` owns its inner memory store, so a new fault-injecting layer cannot be laid
 * over the surviving objects; this per-process gate is how the simulator gets fresh views instead.)
 */
import { type Clock, Effect, Stream } from "effect"
import { ObjectStore } from "@shale/core/internal"

export interface ProcessStore {
  /** The store the process's database uses. */
  readonly store: ObjectStore["Service"]
  /** Cuts the process off: nothing it starts or has in flight completes from now on. */
  readonly kill: () => void
  readonly isAlive: () => boolean
  /** `clock` as this process sees it: its sleeps never end once the process is dead. */
  readonly clock: (clock: Clock.Clock) => Clock.Clock
  /**
   * Moves this process's time forward by `ms` without running a timer: what a process sees when a loop
   * keeps its event loop busy (time passes, no timer or I/O callback runs). `takeClockOffset` ends it:
   * it returns the offset (which the caller must then add to the shared clock) and resets it.
   */
  readonly advanceClock: (ms: number) => void
  readonly takeClockOffset: () => number
}

/** A gate over `shared` for one process. */
export const makeProcessStore = (shared: ObjectStore["Service"]): ProcessStore => {
  let alive = true
  const gate = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() =>
      alive
        ? Effect.flatMap(Effect.exit(effect), (exit) => (alive ? exit : Effect.never))
        : Effect.never
    )
  const store = ObjectStore.of({
    put: (path, bytes, options) => gate(shared.put(path, bytes, options)),
    get: (path) => gate(shared.get(path)),
    getRange: (path, range) => gate(shared.getRange(path, range)),
    head: (path) => gate(shared.head(path)),
    delete: (path) => gate(shared.delete(path)),
    list: (prefix, options) =>
      Stream.suspend(() =>
        alive
          ? shared.list(prefix, options).pipe(Stream.tap(() => (alive ? Effect.void : Effect.never)))
          : Stream.never
      )
  })
  let offsetMs = 0
  // The clock never reads earlier than it did: `takeClockOffset` drops the offset before the shared clock
  // has caught up (its catch-up runs the timers due meanwhile, and those read the clock), and a process
  // whose clock went back made ULIDs older than ones it had made before (a compaction's outputs older than
  // the compaction, which a collector's cutoff then did not protect: seed 127 of `crash`, stop 28).
  let lastMs = -Infinity
  let lastNanos = -1n
  let lastMonotonic = -1n
  const notBefore = <A extends number | bigint>(now: A, last: A): A => (now > last ? now : last)
  return {
    store,
    kill: () => {
      alive = false
    },
    isAlive: () => alive,
    clock: (clock) => {
      const offsetNanos = () => BigInt(offsetMs) * 1_000_000n
      const millis = () => (lastMs = notBefore(clock.currentTimeMillisUnsafe() + offsetMs, lastMs))
      const nanos = () => (lastNanos = notBefore(clock.currentTimeNanosUnsafe() + offsetNanos(), lastNanos))
      const monotonic = () => (lastMonotonic = notBefore(clock.monotonicTimeNanosUnsafe() + offsetNanos(), lastMonotonic))
      return {
        currentTimeMillisUnsafe: millis,
        currentTimeMillis: Effect.sync(millis),
        currentTimeNanosUnsafe: nanos,
        currentTimeNanos: Effect.sync(nanos),
        monotonicTimeNanosUnsafe: monotonic,
        monotonicTimeNanos: Effect.sync(monotonic),
        sleep: (duration) => gate(clock.sleep(duration))
      }
    },
    advanceClock: (ms) => {
      offsetMs += ms
    },
    takeClockOffset: () => {
      const ms = offsetMs
      offsetMs = 0
      return ms
    }
  }
}
