/**
 * Test-only switches that deliberately break the engine, so that the deterministic simulator
 * (packages/testing/src/sim) can prove it catches real bugs: a simulator that never fails has not been
 * shown to check anything.
 *
 * Guarantees:
 * - The default is "every switch off": production code never provides this reference, so reading it costs a
 *   context lookup and changes nothing.
 * - A switch is read where the behaviour it breaks lives, once per use (or once when the database opens);
 *   a test turns it on with `Effect.provideService(TestSwitches, { ...TestSwitchesOff, ackBeforePut: true })`
 *   around the code that opens the database and runs the workload.
 * - Nothing here changes the on-store format: a switch only drops or reorders steps.
 *
 * The switches:
 * - `ackBeforePut`: the WAL flush marks a WAL SST durable (raises the durable seq, answers `awaitDurable`
 *   writers and `flush()` callers) BEFORE its object-store PUT completes. A crash during the PUT then loses
 *   writes that were acknowledged as durable.
 * - `skipLastWalReplay`: when a writer opens, it does not replay the last WAL SST that holds rows (the
 *   newest one written by an earlier writer, i.e. the last id before this writer's own fence). Writes
 *   acknowledged as durable by the previous writer disappear after a reopen.
 * - `neverYieldForFlush`: writes never give the event loop a turn when a WAL flush is owed. A loop of
 *   writes that settle synchronously then starves the flush: nothing it writes becomes durable.
 * - `compactorDropsTombstones`: a compaction drops tombstones whatever its destination, not only into the
 *   last (oldest) sorted run. A key deleted after an older run got its value comes back once the
 *   compaction holding the tombstone finishes above that run.
 * - `gcIgnoresCheckpoints`: the garbage collector treats only the latest manifest as live (gc/GcPass.ts):
 *   the manifests checkpoints pin, and the SSTs and WAL SSTs only those manifests need, are deleted once
 *   old enough. A read at a live checkpoint then fails (object not found).
 * - `txnIgnoresConflicts`: a transaction's commit skips the conflict check (db/TransactionManager.ts):
 *   concurrent transactions overwrite each other's keys (lost updates) and serializable ones commit stale
 *   reads.
 * - `flushIgnoresSnapshots`: an L0 flush keeps versions for the durable seq only, as if no snapshot or
 *   transaction were open (and writes `recent_snapshot_min_seq` as if none were): a held snapshot then reads
 *   a newer value, or none, once the memtable it read from is flushed.
 * - `readerSkipsWal`: a `DbReader`'s poll that finds two or more new WAL SSTs skips the first of them
 *   (db/ReaderPoller.ts). Its reads then miss a committed write below its seq.
 * - `mergeFoldReversesOperands`: the L0 flush and compaction fold each key's merge operands newest first
 *   (iter/MergeOperator.ts `foldFrom`), not oldest first; reads and the write path fold correctly. A merged
 *   value read after a flush or compaction folded two or more operands has them in the wrong order.
 */
import { Context } from "effect"

export interface TestSwitchesShape {
  readonly ackBeforePut: boolean
  readonly skipLastWalReplay: boolean
  readonly neverYieldForFlush: boolean
  readonly compactorDropsTombstones: boolean
  readonly gcIgnoresCheckpoints: boolean
  readonly txnIgnoresConflicts: boolean
  readonly flushIgnoresSnapshots: boolean
  readonly readerSkipsWal: boolean
  readonly mergeFoldReversesOperands: boolean
}

/** Every switch off: the production behaviour. */
export const TestSwitchesOff: TestSwitchesShape = {
  ackBeforePut: false,
  skipLastWalReplay: false,
  neverYieldForFlush: false,
  compactorDropsTombstones: false,
  gcIgnoresCheckpoints: false,
  txnIgnoresConflicts: false,
  flushIgnoresSnapshots: false,
  readerSkipsWal: false,
  mergeFoldReversesOperands: false
}

/** The switches in context (default: all off). `const s = yield* TestSwitches` reads them. */
export const TestSwitches: Context.Reference<TestSwitchesShape> = Context.Reference<TestSwitchesShape>(
  "shale/testing/TestSwitches",
  { defaultValue: () => TestSwitchesOff }
)
