/**
 * What W2 learns from the store itself, the same way for every engine: the harness (not the worker, so a
 * peer's process never loads Shale) reads the database's directory with Shale's decoders of SlateDB's
 * formats (docs/format.md §1, §2.5, §2.7).
 *
 * - While a worker waits, the latest manifest (L0 SSTs, sorted runs) and the latest compactions file
 *   (compactions submitted or running) say when the store has settled (`awaitStore`).
 * - Every version of the manifest and of the compactions file, read as it appears (W2Watch.ts: the
 *   garbage collectors delete old ones), gives the exact history (`StoreHistory`, W2Stats.ts): the L0
 *   count of every manifest version, which SSTs were ever L0 SSTs (every other SST a compaction wrote),
 *   and when each compaction started (first version showing it Running) and ended (first version showing
 *   it Completed or Failed), from the files' modification times.
 */
import { readdir, readFile, stat } from "node:fs/promises"
import * as path from "node:path"
import type { Until } from "./W2Protocol.ts"
import { W2_SETTINGS } from "./W2Workload.ts"

export const MANIFEST = /^(\d{20})\.manifest$/
export const COMPACTIONS = /^(\d{20})\.compactions$/
/** A compacted SST (`compacted/<ULID>.sst`). */
export const SST = /^([0-9A-Z]{26})\.sst$/
/** A WAL SST (`wal/<20 digits>.sst`). */
export const WAL_SST = /^(\d{20})\.sst$/

/** Shale's codecs, loaded only by the harness, only for W2. */
const codecs = () => import("@shale/core/internal")

export const names = (dir: string): Promise<ReadonlyArray<string>> =>
  readdir(dir).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? [] : Promise.reject(e)))

const numbered = async (dir: string, re: RegExp) =>
  (await names(dir)).flatMap((name) => {
    const m = re.exec(name)
    return m === null ? [] : [{ id: Number(m[1]), file: path.join(dir, name) }]
  }).sort((a, b) => a.id - b.id)

interface Version<T> {
  readonly id: number
  readonly mtimeMs: number
  readonly value: T
}

export const readVersion = async <T>(file: { readonly id: number; readonly file: string }, decode: (b: Uint8Array) => T) => {
  const [bytes, s] = await Promise.all([readFile(file.file), stat(file.file)])
  return { id: file.id, mtimeMs: s.mtimeMs, value: decode(bytes) }
}

interface Layout {
  readonly l0: ReadonlyArray<string>
  readonly runs: ReadonlyArray<{ readonly id: number; readonly ssts: ReadonlyArray<string> }>
  /** Checkpoints in this version (each pins an older version, and what that one references). */
  readonly checkpoints: number
}

interface CompactionStates {
  /** Compaction id → status (0 Submitted, 1 Running, 2 Completed, 3 Failed). */
  readonly states: ReadonlyArray<{ readonly id: string; readonly status: number }>
}

export const decoders = async () => {
  const { decodeCompactions, decodeManifest } = await codecs()
  return {
    manifest: (bytes: Uint8Array): Layout => {
      const m = decodeManifest(bytes)
      return {
        l0: m.l0.map((s) => s.id),
        runs: m.compacted.map((r) => ({ id: r.id, ssts: r.ssts.map((s) => s.id) })),
        checkpoints: m.checkpoints.length
      }
    },
    compactions: (bytes: Uint8Array): CompactionStates => ({
      states: decodeCompactions(bytes).recentCompactions.map((c) => ({ id: c.id, status: c.status }))
    })
  }
}

const manifestDir = (root: string) => path.join(root, "manifest")
const compactionsDir = (root: string) => path.join(root, "compactions")

// ---- waiting for the store --------------------------------------------------------------------------------

export interface StoreState {
  readonly l0: number
  readonly sortedRuns: number
  /** Compactions submitted or running. */
  readonly active: number
  readonly manifestId: number
  readonly manifestMtimeMs: number
  readonly compactionsMtimeMs: number
}

/** The latest manifest and compactions file; undefined while either is missing or being replaced. */
export const readState = async (root: string): Promise<StoreState | undefined> => {
  const decode = await decoders()
  try {
    const m = (await numbered(manifestDir(root), MANIFEST)).at(-1)
    const c = (await numbered(compactionsDir(root), COMPACTIONS)).at(-1)
    if (m === undefined) return undefined
    const manifest = await readVersion(m, decode.manifest)
    const compactions = c === undefined ? undefined : await readVersion(c, decode.compactions)
    return {
      l0: manifest.value.l0.length,
      sortedRuns: manifest.value.runs.length,
      active: compactions?.value.states.filter((s) => s.status < 2).length ?? 0,
      manifestId: manifest.id,
      manifestMtimeMs: manifest.mtimeMs,
      compactionsMtimeMs: compactions?.mtimeMs ?? 0
    }
  } catch {
    return undefined
  }
}

export interface AwaitOptions {
  readonly settleMs: number
  readonly timeoutMs: number
  readonly pollMs: number
  readonly cancelled: () => boolean
}

export type AwaitOutcome =
  | { readonly kind: "settled"; readonly atEpochMs: number; readonly state: StoreState }
  | { readonly kind: "gave-up"; readonly message: string }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls the store until it reaches `until`, and says since when it has been there (no earlier than
 * `sinceEpochMs`): the modification time of the object that brought it there.
 * - `"steady"`: L0 below the compactor's trigger (`minCompactionSources`) and no compaction submitted or
 *   running, without a break for `settleMs` (several compactor polls, so the scheduler had its chance to
 *   start more work: a merge of sorted runs, say).
 * - `"full"`: no L0 SST and one sorted run (the modification time of that manifest version).
 */
export const awaitStore = async (root: string, until: Until, sinceEpochMs: number, options: AwaitOptions): Promise<AwaitOutcome> => {
  const deadline = Date.now() + options.timeoutMs
  let idleSince: number | undefined
  let last: StoreState | undefined
  while (!options.cancelled()) {
    const state = await readState(root)
    if (state !== undefined) {
      last = state
      if (until === "full") {
        if (state.l0 === 0 && state.sortedRuns === 1) {
          return { kind: "settled", atEpochMs: Math.max(sinceEpochMs, state.manifestMtimeMs), state }
        }
      } else if (state.l0 < W2_SETTINGS.compactor.minCompactionSources && state.active === 0) {
        idleSince ??= Math.max(sinceEpochMs, state.manifestMtimeMs, state.compactionsMtimeMs)
        if (Date.now() - idleSince >= options.settleMs) return { kind: "settled", atEpochMs: idleSince, state }
      } else {
        idleSince = undefined
      }
    }
    if (Date.now() > deadline) break
    await sleep(options.pollMs)
  }
  const seen = last === undefined ? "nothing readable" : `${last.l0} L0 SSTs, ${last.sortedRuns} sorted runs, ${last.active} compactions active`
  return { kind: "gave-up", message: `the store did not reach "${until}" in ${options.timeoutMs / 1000} s (last seen: ${seen})` }
}

// ---- listings and the history -------------------------------------------------------------------------------

/** SST id → its size and modification time, of every SST seen in `compacted/` (since deleted or not). */
export type SstListing = ReadonlyMap<string, { readonly bytes: number; readonly mtimeMs: number }>

/** The store's history, from every manifest and compactions-file version. */
export interface StoreHistory {
  readonly manifests: ReadonlyArray<Version<Layout>>
  readonly compactions: ReadonlyArray<Version<CompactionStates>>
  /** Every SST that was ever in L0. */
  readonly l0Ever: ReadonlySet<string>
  /** Versions that could not be read (counted, skipped). */
  readonly unreadable: number
}

/** The manifest version current at `epochMs`. */
export const layoutAt = (history: StoreHistory, epochMs: number): Layout | undefined => {
  for (let k = history.manifests.length - 1; k >= 0; k--) {
    if (history.manifests[k]!.mtimeMs <= epochMs) return history.manifests[k]!.value
  }
  return undefined
}

export { type CompactionStates, type Layout, type Version }
