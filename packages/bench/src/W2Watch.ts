/**
 * The harness's view of a W2 store over time (docs/design/benchmark.md §5.1), the same for every engine:
 * every `sampleMs` (and whenever a worker's wait ends) it lists the database's four directories and
 * records, per kind of object (manifests, WAL SSTs, compacted SSTs, compactions files), how many objects
 * the store holds and their bytes. Each object is stat'ed once, when first seen (objects are immutable:
 * both engines publish a complete file under its final name and never rewrite it), and each manifest
 * and compactions-file version is read and decoded when first seen.
 *
 * With a garbage collector running, what the store holds at the end is no longer its history, so the
 * harness keeps the history itself: every manifest and compactions-file version it saw (W2Stats.ts
 * reads L0 counts and compaction times from them) and every compacted SST it saw, deleted since or not
 * (what compaction wrote). Every object is seen as long as the sampling interval is below the
 * collector's minimum age (`gcSampleMs`): no object is deleted younger than that.
 */
import { stat } from "node:fs/promises"
import * as path from "node:path"
import {
  COMPACTIONS,
  type CompactionStates,
  decoders,
  type Layout,
  MANIFEST,
  names,
  readVersion,
  SST,
  type SstListing,
  type StoreHistory,
  type Version,
  WAL_SST
} from "./W2Store.ts"
import { STORE_KINDS, type StoreKind } from "./W2Workload.ts"

export interface KindFigures {
  readonly objects: number
  readonly bytes: number
}

/** What the store held at one moment, per kind. */
export interface StoreSample {
  readonly atEpochMs: number
  readonly kinds: Readonly<Record<StoreKind, KindFigures>>
  /** Checkpoints in the latest manifest then (undefined: none read yet). */
  readonly checkpoints: number | undefined
}

/** Objects of one kind seen up to a moment, and of those, the ones gone by then. */
export interface KindChurn {
  readonly written: number
  readonly deleted: number
  readonly deletedBytes: number
}

interface Seen {
  readonly bytes: number
  readonly mtimeMs: number
  readonly firstSeenMs: number
  goneMs: number | undefined
}

const DIRS: Readonly<Record<StoreKind, { readonly dir: string; readonly re: RegExp }>> = {
  manifests: { dir: "manifest", re: MANIFEST },
  wal: { dir: "wal", re: WAL_SST },
  compacted: { dir: "compacted", re: SST },
  compactions: { dir: "compactions", re: COMPACTIONS }
}

export interface StoreWatcher {
  /** Lists the store now (after any sample under way) and records what it holds. */
  readonly sample: () => Promise<StoreSample>
  /** Samples every `periodMs` until `stop`. */
  readonly start: (periodMs: number) => void
  readonly stop: () => void
  readonly samples: ReadonlyArray<StoreSample>
  /** Every manifest and compactions-file version seen. */
  readonly history: () => StoreHistory
  /** Every compacted SST seen so far (since deleted or not). */
  readonly sstListing: () => SstListing
  /** Per kind: objects seen up to `epochMs` (by the samples), and those gone by then. */
  readonly churn: (untilEpochMs: number) => Readonly<Record<StoreKind, KindChurn>>
}

/** What a watcher has seen: every object per kind, every manifest and compactions-file version it read. */
interface WatchState {
  readonly root: string
  readonly decode: Awaited<ReturnType<typeof decoders>>
  readonly seen: Record<StoreKind, Map<string, Seen>>
  readonly manifests: Map<number, Version<Layout>>
  readonly compactions: Map<number, Version<CompactionStates>>
  unreadable: number
}

/** Lists one kind's directory: stats (and, for versions, reads) what is new, marks what is gone. */
const kindNow = async (w: WatchState, kind: StoreKind, atEpochMs: number): Promise<KindFigures> => {
  const { dir, re } = DIRS[kind]
  const full = path.join(w.root, dir)
  const present = new Set((await names(full)).filter((n) => re.test(n)))
  const known = w.seen[kind]
  await Promise.all([...present].filter((n) => !known.has(n)).map(async (name) => {
    const file = path.join(full, name)
    try {
      const s = await stat(file)
      known.set(name, { bytes: s.size, mtimeMs: s.mtimeMs, firstSeenMs: atEpochMs, goneMs: undefined })
    } catch {
      present.delete(name) // deleted between the listing and the stat
      return
    }
    const id = Number(re.exec(name)![1])
    if (kind === "manifests") {
      await readVersion({ id, file }, w.decode.manifest).then((v) => w.manifests.set(id, v), () => w.unreadable++)
    } else if (kind === "compactions") {
      await readVersion({ id, file }, w.decode.compactions).then((v) => w.compactions.set(id, v), () => w.unreadable++)
    }
  }))
  let bytes = 0
  for (const [name, s] of known) {
    if (present.has(name)) bytes += s.bytes
    else s.goneMs ??= atEpochMs
  }
  return { objects: present.size, bytes }
}

/** Every kind listed now, with the checkpoints of the latest manifest. */
const takeSample = async (w: WatchState): Promise<StoreSample> => {
  const atEpochMs = Date.now()
  const figures = await Promise.all(STORE_KINDS.map((k) => kindNow(w, k, atEpochMs)))
  const latest = [...w.seen.manifests].filter(([, s]) => s.goneMs === undefined).map(([name]) => Number(MANIFEST.exec(name)![1]))
  return {
    atEpochMs,
    kinds: Object.fromEntries(STORE_KINDS.map((k, i) => [k, figures[i]!])) as Record<StoreKind, KindFigures>,
    checkpoints: w.manifests.get(Math.max(...latest))?.value.checkpoints
  }
}

/** Per kind: objects first seen up to `untilEpochMs`, and those gone by then. */
const churnOf = (w: WatchState, untilEpochMs: number): Record<StoreKind, KindChurn> =>
  Object.fromEntries(STORE_KINDS.map((k) => {
    const upTo = [...w.seen[k].values()].filter((s) => s.firstSeenMs <= untilEpochMs)
    const gone = upTo.filter((s) => s.goneMs !== undefined && s.goneMs <= untilEpochMs)
    return [k, { written: upTo.length, deleted: gone.length, deletedBytes: gone.reduce((a, s) => a + s.bytes, 0) }]
  })) as Record<StoreKind, KindChurn>

export const watchStore = async (root: string): Promise<StoreWatcher> => {
  const w: WatchState = {
    root,
    decode: await decoders(),
    seen: Object.fromEntries(STORE_KINDS.map((k) => [k, new Map<string, Seen>()])) as Record<StoreKind, Map<string, Seen>>,
    manifests: new Map(),
    compactions: new Map(),
    unreadable: 0
  }
  const samples: Array<StoreSample> = []
  let chain: Promise<unknown> = Promise.resolve()
  let timer: ReturnType<typeof setInterval> | undefined
  const record = () =>
    takeSample(w).then((sample) => {
      samples.push(sample)
      return sample
    })
  const sample = (): Promise<StoreSample> => {
    const next = chain.then(record, record)
    chain = next.catch(() => undefined)
    return next
  }

  return {
    sample,
    start: (periodMs) => {
      timer ??= setInterval(() => void sample().catch(() => undefined), periodMs)
    },
    stop: () => {
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
    },
    samples,
    history: () => {
      const ms = [...w.manifests.values()].sort((a, b) => a.id - b.id)
      return {
        manifests: ms,
        compactions: [...w.compactions.values()].sort((a, b) => a.id - b.id),
        l0Ever: new Set(ms.flatMap((m) => m.value.l0)),
        unreadable: w.unreadable
      }
    },
    sstListing: () => new Map([...w.seen.compacted].map(([name, s]) => [name.slice(0, -".sst".length), { bytes: s.bytes, mtimeMs: s.mtimeMs }])),
    churn: (untilEpochMs) => churnOf(w, untilEpochMs)
  }
}
