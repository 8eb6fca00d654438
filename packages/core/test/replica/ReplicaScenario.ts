/**
 * The cross-process replica scenario (CrossProcessReaders.test.ts for a local directory,
 * packages/s3/test/CrossProcessReaders.test.ts for S3): ONE writer process at a time and several `DbReader`
 * processes on the same store, named by a URL.
 *
 * 1. Writer run 0 opens a new database and writes batches (rows.ts); once it has written, the readers open
 *    (`manifestPollIntervalMs` 100 ms) and scan, check and report in a loop (replicaReader.ts).
 * 2. Run 0 closes cleanly; run 1 (a new process) resumes after the newest batch it finds and is SIGKILLed,
 *    maybe with a batch in flight; run 2 resumes and closes cleanly. Each run writes for `runMs` after its
 *    first ack, and on until every reader showed one of its batches (so each follows each run).
 *    The writer runs small L0 SSTs, an eager compactor and a collector with a minimum age of 2 s, so L0
 *    flushes, compactions and deletions of WAL SSTs and manifests happen under the readers. Run 0 also
 *    goes on until its compactor has finished a compaction: the first one waits for its worker thread to
 *    start, which on a loaded 2-CPU machine could outlast a run (and the scenario is about compactions).
 * 3. The batches the database must hold in the end follow from the writers' lines (`expectedRuns`): run r
 *    wrote batches resume(r) .. resume(r + 1) - 1, acknowledged, except perhaps the last one of a killed
 *    run (durable but not acknowledged: the next run found it). Every reader must show exactly those, each
 *    written by that run, within `convergeMs`; then the readers are stopped and report their status, and
 *    the latest manifest is read for checkpoints they left behind.
 *
 * `runScenario` returns what happened; `scenarioProblems` lists every broken promise.
 */
import { Shale } from "../../src/index.ts"
import { Child, READER_SCRIPT, WRITER_SCRIPT } from "./Children.ts"
import { type RunRange } from "./rows.ts"

export interface ScenarioOptions {
  /** The store URL (a directory, `s3://bucket/prefix`). */
  readonly store: string
  /** Extra environment of the children (the S3 endpoint and credentials). */
  readonly env?: Readonly<Record<string, string>>
  readonly readers?: number
  readonly rowsPerBatch?: number
  /** How long each writer run writes. */
  readonly runMs?: number
  readonly convergeMs?: number
  readonly pollMs?: number
  /** The readers' pause between two rounds of reads (longer on S3, where a scan costs requests). */
  readonly pauseMs?: number
}

/** The writer's settings: frequent L0 flushes, an eager compactor, a collector with a short minimum age. */
export const writerSettings = {
  durableFlush: "eager",
  l0SstSizeBytes: 64 * 1024,
  compactor: { pollIntervalMs: 200, minCompactionSources: 2, maxCompactionSources: 4 },
  garbageCollector: {
    manifests: { intervalMs: 500, minAgeMs: 2000 },
    wal: { intervalMs: 500, minAgeMs: 2000 },
    compacted: { intervalMs: 500, minAgeMs: 2000 },
    compactions: { intervalMs: 500, minAgeMs: 2000 }
  }
} as const

export interface WriterStatus {
  readonly compactions: number
  readonly gcDeleted: { readonly manifests: number; readonly wal: number; readonly compacted: number; readonly compactions: number } | undefined
  readonly gcErrors: number
  readonly l0: number
  readonly sortedRuns: number
  readonly manifestId: number
}

export interface WriterRun {
  readonly run: number
  readonly resume: number
  readonly acks: ReadonlyArray<number>
  /** Its last status line. */
  readonly status: WriterStatus | undefined
  readonly killed: boolean
  readonly exit: string
  readonly problems: ReadonlyArray<string>
  readonly stderr: string
  /** Milliseconds from its spawn to `resume` (the database open and scanned) and to its exit. */
  readonly openMs: number | undefined
  readonly lifeMs: number | undefined
}

export interface ReaderView {
  readonly scan: number
  readonly max: number
  readonly rows: number
  readonly seq: number
  readonly ms: number
  readonly ranges: ReadonlyArray<RunRange>
}

export interface ReaderFinal {
  readonly scans: number
  readonly ranges: ReadonlyArray<RunRange> | null
  readonly status: { readonly checkpointsReplaced: number; readonly polls: number; readonly pollErrors: number; readonly lastPollError?: string }
}

export interface ReaderRun {
  readonly id: number
  readonly views: ReadonlyArray<ReaderView>
  readonly final: ReaderFinal | undefined
  /** Milliseconds from the last writer's close to the first view equal to the expected ranges. */
  readonly convergedAfterMs: number | undefined
  readonly exit: string
  readonly problems: ReadonlyArray<string>
  readonly stderr: string
  /** Milliseconds from its spawn to `ready` (the reader open). */
  readonly openMs: number | undefined
}

export interface ScenarioResult {
  readonly writers: ReadonlyArray<WriterRun>
  readonly readers: ReadonlyArray<ReaderRun>
  readonly expected: ReadonlyArray<RunRange>
  /** Checkpoints of the readers (lifetime under a minute) left in the latest manifest after they closed. */
  readonly readerCheckpointsLeft: number
  readonly elapsedMs: number
}

/** Runs `f` with `vars` added to the environment (the store URL's endpoint and credentials). */
const withEnv = async <A>(vars: Readonly<Record<string, string>>, f: () => Promise<A>): Promise<A> => {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  Object.assign(process.env, vars)
  try {
    return await f()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

/** The checkpoints with a lifetime under a minute (the readers': compactors' last 15 minutes) in the latest manifest. */
const readerCheckpoints = (o: Required<ScenarioOptions>): Promise<number> =>
  withEnv(o.env, async () => {
    const admin = await Shale.admin("db", { store: Shale.stores.resolve(o.store) })
    try {
      const all = await admin.listCheckpoints()
      return all.filter((c) => c.expireTimeS !== undefined && c.expireTimeS - c.createTimeS < 60).length
    } finally {
      await admin.close()
    }
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const problemsOf = (child: Child) => child.lines.filter((l) => l.startsWith("problem ")).map((l) => l.slice(8))

const writerRunOf = (run: number, child: Child, killed: boolean): WriterRun => ({
  run,
  resume: Number(child.lines.find((l) => l.startsWith("resume "))?.slice(7) ?? "-1"),
  acks: child.lines.filter((l) => l.startsWith(`ack ${run} `)).map((l) => Number(l.split(" ")[2])),
  status: child.tagged<WriterStatus>("status").at(-1),
  killed,
  exit: child.exit ?? "running",
  problems: problemsOf(child),
  stderr: child.stderr,
  openMs: child.timeOf((l) => l.startsWith("resume ")),
  lifeMs: child.timeOf((l) => l === "closed")
})

/** Whether `line` is a reader's view whose newest batch is `n` or later. */
const viewReaching = (n: number) => (line: string) => line.startsWith("view ") && (JSON.parse(line.slice(5)) as ReaderView).max >= n

/** Whether `line` is a writer's status with at least one compaction finished. */
const compacted = (line: string) => line.startsWith("status ") && (JSON.parse(line.slice(7)) as WriterStatus).compactions > 0

/**
 * One writer run: opens, writes for `runMs` after its first ack and until every reader showed one of its
 * batches (and, with `untilCompacted`, until its compactor finished a compaction), then stops (or is killed).
 */
const writerRun = async (
  o: Required<ScenarioOptions>,
  run: number,
  kill: boolean,
  readers: () => Promise<ReadonlyArray<Child>>,
  untilCompacted = false
) => {
  const config = { store: o.store, root: "db", run, rowsPerBatch: o.rowsPerBatch, statusEveryMs: 300, settings: writerSettings }
  const child = new Child(`writer run ${run}`, WRITER_SCRIPT, config, o.env)
  try {
    await child.waitFor("its first ack", (l) => l.startsWith("ack "), 60_000)
    const resume = Number(child.lines.find((l) => l.startsWith("resume "))!.slice(7))
    const following = await readers()
    await sleep(o.runMs)
    await Promise.all(following.map((r) => r.waitFor(`a batch of writer run ${run}`, viewReaching(resume), 60_000)))
    if (untilCompacted) await child.waitFor("a finished compaction", compacted, 60_000)
    if (kill) child.kill("SIGKILL")
    else child.stop()
    await child.settle(60_000)
  } finally {
    child.kill()
    await child.exited
  }
  return writerRunOf(run, child, kill)
}

/** The batches the database must hold, as run ranges, from the writers' `resume` and `ack` lines. */
export const expectedRuns = (writers: ReadonlyArray<WriterRun>): Array<RunRange> =>
  writers.flatMap((w, i): Array<RunRange> => {
    const next = writers[i + 1]
    const last = next === undefined ? (w.acks.at(-1) ?? w.resume - 1) : next.resume - 1
    return last >= w.resume ? [[w.run, w.resume, last]] : []
  })

const sameRanges = (a: ReadonlyArray<RunRange> | null, b: ReadonlyArray<RunRange>) => JSON.stringify(a) === JSON.stringify(b)

/** Runs the scenario of the module comment. */
export const runScenario = async (options: ScenarioOptions): Promise<ScenarioResult> => {
  const o: Required<ScenarioOptions> = { env: {}, readers: 3, rowsPerBatch: 16, runMs: 4000, convergeMs: 20_000, pollMs: 100, pauseMs: 20, ...options }
  const t0 = performance.now()
  const readers: Array<Child> = []
  const readerConfig = (id: number) => ({
    store: o.store,
    root: "db",
    id,
    rowsPerBatch: o.rowsPerBatch,
    options: { manifestPollIntervalMs: o.pollMs, checkpointLifetimeMs: 10_000 },
    pauseMs: o.pauseMs,
    gets: 10
  })
  try {
    const writers: Array<WriterRun> = []
    const openReaders = async () => {
      for (let id = 0; id < o.readers; id++) readers.push(new Child(`reader ${id}`, READER_SCRIPT, readerConfig(id), o.env))
      await Promise.all(readers.map((r) => r.waitFor("ready", (l) => l === "ready", 60_000)))
      return readers
    }
    writers.push(await writerRun(o, 0, false, openReaders, true))
    writers.push(await writerRun(o, 1, true, async () => readers))
    writers.push(await writerRun(o, 2, false, async () => readers))
    const expected = expectedRuns(writers)
    const closedAt = performance.now()
    const convergedAt = new Map<number, number>()
    await Promise.all(readers.map(async (r, id) => {
      const converged = (l: string) => l.startsWith("view ") && sameRanges((JSON.parse(l.slice(5)) as ReaderView).ranges, expected)
      await r.waitFor("the expected batches", converged, o.convergeMs).then(
        () => convergedAt.set(id, performance.now() - closedAt),
        () => undefined
      )
      r.stop()
      await r.waitFor("closed", (l) => l === "closed", 30_000).catch(() => undefined)
      await r.settle(10_000)
    }))
    const readerRuns = readers.map((r, id): ReaderRun => ({
      id,
      views: r.tagged<ReaderView>("view"),
      final: r.tagged<ReaderFinal>("final")[0],
      convergedAfterMs: convergedAt.get(id),
      exit: r.exit ?? "running",
      problems: problemsOf(r),
      stderr: r.stderr,
      openMs: r.timeOf((l) => l === "ready")
    }))
    const readerCheckpointsLeft = await readerCheckpoints(o)
    return { writers, readers: readerRuns, expected, readerCheckpointsLeft, elapsedMs: performance.now() - t0 }
  } finally {
    for (const r of readers) r.kill()
    await Promise.all(readers.map((r) => r.exited))
  }
}
