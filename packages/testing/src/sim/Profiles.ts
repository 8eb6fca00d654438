/**
 * Fault profiles: how hostile the world of a simulation is.
 *
 * A profile sets the object store's transient faults (unavailability, lost put responses, latency; the
 * retries inside the database must absorb all of them) and how often the runner injects the disruptive
 * events: a crash (everything not durable is lost, the database is reopened), a clean close and reopen, a
 * second writer opening the database (the first must be fenced), and a permanent store failure (the
 * database must close with a fatal error and lose nothing it acknowledged).
 *
 * Rates of the events are per round of operations (a round is 1 to `maxConcurrency` operations running
 * at once), so a 2,000-operation run with `crash: 0.02` crashes about 15 times.
 *
 * The compactor's events (`compactor`, per round too; CompactorActor.ts): a standalone compactor process
 * killed mid-compaction, a second compactor fencing the one that runs, a manual full compaction. A
 * profile without them (a custom one) runs none.
 *
 * The garbage collector's and the checkpoints' events (`gc`, per round; GcActor.ts, CheckpointActor.ts):
 * standalone collection passes (some killed mid-pass: `passCrash` of them), the whole world pausing for
 * minutes, checkpoints made, deleted and refreshed, read-only views opened and read. Only the crashes are
 * faults; the rest is workload, so every profile has them.
 *
 * The `DbReader`s' and change streams' events (`readers`, per round; ReaderActor.ts, ChangesActor.ts):
 * readers opened, read and closed, change consumers started and moved to another source. Workload too:
 * every profile has them.
 */
import type { FaultConfig } from "../FaultInjectingObjectStore.ts"

export interface FaultProfile {
  readonly name: string
  readonly description: string
  /** Transient faults of the object store (never `failAfterOps`: permanent failure is an event). */
  readonly store: FaultConfig
  /** Probability, per round, of each disruptive event. */
  readonly events: {
    readonly crash: number
    readonly reopen: number
    readonly fence: number
    readonly fatal: number
  }
  /** Probability, per round, of each compactor event. */
  readonly compactor?: CompactorEventRates
  /** Probability, per round, of each garbage-collector and checkpoint event. */
  readonly gc?: GcEventRates
  /** Probability, per round, of each `DbReader` and change-stream event (ReaderActor.ts, ChangesActor.ts). */
  readonly readers?: ReaderEventRates
}

export interface GcEventRates {
  /** A standalone collection pass (a process of its own). */
  readonly pass: number
  /** The share of those passes killed mid-pass. */
  readonly passCrash: number
  /** The whole world sleeps 1-10 minutes: objects age, checkpoints expire. */
  readonly pause: number
  /** A checkpoint is made (through the writer, or detached). */
  readonly checkpoint: number
  /** A checkpoint is deleted or refreshed. */
  readonly checkpointChange: number
  /** A read-only view opens (at a checkpoint, or the latest state). */
  readonly readerOpen: number
  /** A view opened earlier reads. */
  readonly readerRead: number
}

const gcEvents = (passCrash: number): GcEventRates => ({
  pass: 0.04,
  passCrash,
  pause: 0.012,
  checkpoint: 0.04,
  checkpointChange: 0.03,
  readerOpen: 0.03,
  readerRead: 0.06
})

export interface ReaderEventRates {
  /** A `DbReader` opens (one at a time), in a process of its own. */
  readonly open: number
  /** An open `DbReader` reads (a scan or a few gets). */
  readonly read: number
  /** An open `DbReader` closes. */
  readonly close: number
  /** A change-stream consumer starts (two at most), on the writer or a `DbReader`. */
  readonly consumer: number
  /** A consumer moves to another source, from the seq after the last one it handled. */
  readonly consumerSwitch: number
}

const readerEvents: ReaderEventRates = { open: 0.015, read: 0.05, close: 0.015, consumer: 0.015, consumerSwitch: 0.01 }

export interface CompactorEventRates {
  /** A standalone compactor process dies, usually while a compaction runs. */
  readonly crash: number
  /** A new compactor process claims the compactor epoch: the running one must stop, fenced. */
  readonly second: number
  /** A full compaction is submitted (`Admin.submitCompaction` or the handle) and must end. */
  readonly full: number
}

const noEvents = { crash: 0, reopen: 0, fence: 0, fatal: 0 } as const

/** Manual compactions only: they are workload, not faults. */
const fullOnly = { crash: 0, second: 0, full: 0.02 } as const

export const FaultProfiles = {
  /** A perfect store, no events: the workload and the model alone. */
  none: {
    name: "none",
    description: "no faults, no latency, no crashes",
    store: {},
    events: noEvents,
    compactor: fullOnly,
    gc: gcEvents(0),
    readers: readerEvents
  },
  /** Latency only: concurrency and timers interleave in many ways. */
  latency: {
    name: "latency",
    description: "0-20 ms store latency, no errors, no crashes",
    store: { latency: { min: "0 millis", max: "20 millis" } },
    events: noEvents,
    compactor: fullOnly,
    gc: gcEvents(0),
    readers: readerEvents
  },
  /** Transient errors that retries must absorb, plus close/reopen. */
  transient: {
    name: "transient",
    description: "5% unavailable, 2% lost put responses, 0-10 ms latency, clean reopens",
    store: { unavailableRate: 0.05, putLostResponseRate: 0.02, latency: { min: "0 millis", max: "10 millis" } },
    events: { crash: 0, reopen: 0.02, fence: 0, fatal: 0 },
    compactor: fullOnly,
    gc: gcEvents(0),
    readers: readerEvents
  },
  /** Crashes and reopens on a flaky store. */
  crash: {
    name: "crash",
    description: "transient faults plus frequent crashes and reopens",
    store: { unavailableRate: 0.03, putLostResponseRate: 0.02, latency: { min: "0 millis", max: "15 millis" } },
    events: { crash: 0.04, reopen: 0.02, fence: 0, fatal: 0 },
    compactor: { crash: 0.04, second: 0, full: 0.02 },
    gc: gcEvents(0.4),
    readers: readerEvents
  },
  /** Everything, at moderate rates: what CI runs. */
  standard: {
    name: "standard",
    description: "transient faults, latency, crashes, reopens, second writers and permanent failures",
    store: { unavailableRate: 0.03, putLostResponseRate: 0.02, latency: { min: "0 millis", max: "10 millis" } },
    events: { crash: 0.03, reopen: 0.015, fence: 0.01, fatal: 0.008 },
    compactor: { crash: 0.03, second: 0.015, full: 0.02 },
    gc: gcEvents(0.3),
    readers: readerEvents
  },
  /** Everything, at high rates. */
  chaos: {
    name: "chaos",
    description: "20% unavailable, 10% lost put responses, 0-100 ms latency, frequent events of every kind",
    store: { unavailableRate: 0.2, putLostResponseRate: 0.1, latency: { min: "0 millis", max: "100 millis" } },
    events: { crash: 0.06, reopen: 0.03, fence: 0.02, fatal: 0.015 },
    compactor: { crash: 0.05, second: 0.03, full: 0.03 },
    gc: gcEvents(0.5),
    readers: readerEvents
  }
} as const satisfies Record<string, FaultProfile>

export type FaultProfileName = keyof typeof FaultProfiles

export const faultProfileNames = Object.keys(FaultProfiles) as ReadonlyArray<FaultProfileName>

/** The profile called `name`, or undefined. */
export const faultProfile = (name: string): FaultProfile | undefined =>
  Object.hasOwn(FaultProfiles, name) ? FaultProfiles[name as FaultProfileName] : undefined
