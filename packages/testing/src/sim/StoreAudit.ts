/**
 * Invariants of what the database keeps in the bucket, checked from the objects themselves, after every
 * round and at the end of a run.
 *
 * Every manifest version and compactions file that landed since the last audit is decoded, in the order
 * they landed, from the bucket's ledger (StoreLedger.ts: garbage collection may have deleted them since):
 * - versions land in id order: none at or below an audited one lands later, except below the highest
 *   version in the bucket — a process acting on a view older than the collector's minimum age recreating a
 *   version the collector deleted (SlateDB's rules allow it: the highest id wins, so it is never read); the
 *   ledger marks and counts those, and the audit skips them;
 * - the writer epoch and the compactor epoch never go backwards from one version to the next, in the
 *   manifest and in the compactions file (a fenced compactor or writer never writes a version after the
 *   one that fenced it);
 * - every SST a version references (L0 and sorted runs) was in `compacted/` when the version landed (what
 *   live versions need *now* is GcAudit.ts's part);
 * - sorted runs are in strictly descending id order, and the SSTs of a run are in key order without
 *   overlapping (one boundary key may end an SST and start the next);
 * - L0 SSTs leave L0 only from its old end, through a compaction that names the newest of them as
 *   `l0_last_compacted`, and each one that leaves is an L0 source of a compaction recorded in a compactions
 *   file (which the compactor writes before it starts the compaction): an SST left behind below a compacted
 *   one, or dropped without being compacted, loses its rows;
 * - L0 holds at most `l0MaxSsts` SSTs while a compactor keeps it in check (`l0Limit`; the writer stalls
 *   its uploads at the limit and only goes past it after minutes without any compaction of L0).
 *
 * It also remembers, per epoch, the first manifest version and compactions file that carried it (where a
 * compactor claimed it), so that the compactor actor can check that a fenced compactor wrote nothing at
 * or after the claim of the compactor that fenced it.
 */
import {
  compactedDir,
  compareKeys,
  decodeCompactions,
  decodeManifest,
  type Compactions,
  type Manifest,
  parseCompactedSstId,
  parseCompactionsId,
  parseManifestId
} from "@shale/core/internal"
import { showBytes } from "./SimBytes.ts"
import type { StoreLedger } from "./StoreLedger.ts"

export interface AuditOptions {
  /** The most L0 SSTs a manifest version may hold now; undefined: no bound (no compactor keeps it). */
  readonly l0Limit: number | undefined
}

/** Why L0 changed illegally from `prev` to `m` (see the module comment), or undefined. */
export const l0SuccessionProblem = (prev: Manifest, m: Manifest): string | undefined => {
  const kept = new Set(m.l0.map((s) => s.id))
  const gone = prev.l0.findIndex((s) => !kept.has(s.id))
  if (gone < 0) return undefined
  const left = prev.l0.slice(gone)
  const stayed = left.filter((s) => kept.has(s.id))
  if (stayed.length > 0) return `L0 SST(s) ${stayed.map((s) => s.id).join(", ")} stayed in L0 below compacted ones`
  if (m.l0LastCompacted !== left[0]!.id) {
    return `L0 SSTs ${left.map((s) => s.id).join(", ")} left L0, but l0_last_compacted is ${String(m.l0LastCompacted)}`
  }
  return undefined
}

/** Why the sorted runs of `m` are out of order or overlap, or undefined. */
export const runsProblem = (m: Manifest): string | undefined => {
  for (let i = 1; i < m.compacted.length; i++) {
    if (m.compacted[i]!.id >= m.compacted[i - 1]!.id) {
      return `sorted runs are not in descending id order (${m.compacted.map((r) => r.id).join(", ")})`
    }
  }
  for (const run of m.compacted) {
    for (let i = 0; i < run.ssts.length; i++) {
      const { firstEntry, lastEntry } = run.ssts[i]!.info
      if (firstEntry !== undefined && lastEntry !== undefined && compareKeys(firstEntry, lastEntry) > 0) {
        return `SST ${run.ssts[i]!.id} of run ${run.id} starts at ${showBytes(firstEntry)} after its last key ${showBytes(lastEntry)}`
      }
      const next = run.ssts[i + 1]?.info.firstEntry
      if (i + 1 < run.ssts.length && lastEntry !== undefined && next !== undefined && compareKeys(lastEntry, next) > 0) {
        return `SSTs ${run.ssts[i]!.id} and ${run.ssts[i + 1]!.id} of run ${run.id} overlap: the first ends at ` +
          `${showBytes(lastEntry)}, the next starts at ${showBytes(next)}`
      }
    }
  }
  return undefined
}

export class StoreAudit {
  readonly #ledger: StoreLedger
  readonly #compactedPrefix: string
  /** The compacted SSTs in the bucket at the ledger position audited last. */
  readonly #ssts = new Set<string>()
  #manifestId = 0
  #writerEpoch = 0
  #compactorEpoch = 0
  #compactionsEpoch = 0
  /** Epoch → the first manifest version / compactions file holding it (or a higher one). */
  readonly #manifestClaims = new Map<number, number>()
  readonly #compactionsClaims = new Map<number, number>()
  /** The last version audited. */
  #previous: Manifest | undefined
  /** Every L0 SST a compaction in a compactions file named as a source. */
  readonly #compactedL0 = new Set<string>()
  /** Versions decoded so far, and the largest L0 seen. */
  versions = 0
  maxL0 = 0
  /** L0 of the latest version audited. */
  latestL0 = 0
  /** The oldest L0 SST of the latest version audited (undefined: L0 empty). */
  latestOldestL0: string | undefined = undefined

  constructor(ledger: StoreLedger, root: string) {
    this.#ledger = ledger
    this.#compactedPrefix = `${compactedDir(root)}/`
  }

  /** The first manifest version (and compactions file) with a compactor epoch ≥ `epoch`, if seen. */
  claimOf(epoch: number): { readonly manifest: number | undefined; readonly compactions: number | undefined } {
    const first = (claims: Map<number, number>) => {
      let found: number | undefined
      for (const [e, id] of claims) if (e >= epoch && (found === undefined || id < found)) found = id
      return found
    }
    return { manifest: first(this.#manifestClaims), compactions: first(this.#compactionsClaims) }
  }

  /** Audits what landed since the last audit (see the module comment); the problems found. */
  audit(options: AuditOptions): Array<string> {
    const problems: Array<string> = []
    for (const e of this.#ledger.drain()) {
      const sst = parseCompactedSstId(e.path)
      if (sst !== undefined && e.path.startsWith(this.#compactedPrefix)) {
        if (e.op === "put") this.#ssts.add(sst)
        else this.#ssts.delete(sst)
        continue
      }
      // A version recreated below the latest (StoreLedger.ts) never becomes the latest: readers and
      // writers take the highest id. It is counted, not audited.
      if (e.op !== "put" || e.bytes === undefined || e.recreated === true) continue
      const manifest = parseManifestId(e.path)
      if (manifest !== undefined) {
        if (manifest <= this.#manifestId) problems.push(`manifest version ${manifest} appeared after version ${this.#manifestId}`)
        else problems.push(...this.#checkManifest(manifest, decodeManifest(e.bytes), options))
        continue
      }
      const compactions = parseCompactionsId(e.path)
      if (compactions !== undefined) problems.push(...this.#checkCompactions(compactions, decodeCompactions(e.bytes)))
    }
    return problems
  }

  #checkCompactions(id: number, file: Compactions): Array<string> {
    const problems: Array<string> = []
    if (file.compactorEpoch < this.#compactionsEpoch) {
      problems.push(`compactions file ${id} has compactor epoch ${file.compactorEpoch}, below ${this.#compactionsEpoch} in an earlier one`)
    }
    for (const c of file.recentCompactions) for (const sst of c.spec.l0ViewIds) this.#compactedL0.add(sst)
    if (!this.#compactionsClaims.has(file.compactorEpoch)) this.#compactionsClaims.set(file.compactorEpoch, id)
    this.#compactionsEpoch = Math.max(this.#compactionsEpoch, file.compactorEpoch)
    return problems
  }

  #checkManifest(id: number, m: Manifest, options: AuditOptions): Array<string> {
    const problems: Array<string> = []
    const at = `manifest version ${id}`
    if (m.writerEpoch < this.#writerEpoch) problems.push(`${at} has writer epoch ${m.writerEpoch}, below ${this.#writerEpoch} before it`)
    if (m.compactorEpoch < this.#compactorEpoch) {
      problems.push(`${at} has compactor epoch ${m.compactorEpoch}, below ${this.#compactorEpoch} before it: a fenced compactor wrote it`)
    }
    const missing = [...m.l0, ...m.compacted.flatMap((r) => r.ssts)].find((sst) => !this.#ssts.has(sst.id))
    if (missing !== undefined) problems.push(`${at} references SST ${missing.id}, which was not in the bucket when the version was written`)
    const runs = runsProblem(m)
    if (runs !== undefined) problems.push(`${at}: ${runs}`)
    const l0 = this.#previous === undefined || this.#manifestId !== id - 1 ? undefined : l0SuccessionProblem(this.#previous, m)
    if (l0 !== undefined) problems.push(`${at}: ${l0}`)
    const gone = this.#previous?.l0.filter((sst) => !m.l0.some((s) => s.id === sst.id) && !this.#compactedL0.has(sst.id)) ?? []
    if (gone.length > 0) {
      problems.push(`${at}: L0 SST(s) ${gone.map((s) => s.id).join(", ")} left L0, but no compaction in the compactions file took them`)
    }
    if (options.l0Limit !== undefined && m.l0.length > options.l0Limit) {
      problems.push(`${at} holds ${m.l0.length} L0 SSTs, above l0MaxSsts ${options.l0Limit}, while a compactor runs`)
    }
    if (!this.#manifestClaims.has(m.compactorEpoch)) this.#manifestClaims.set(m.compactorEpoch, id)
    this.#writerEpoch = Math.max(this.#writerEpoch, m.writerEpoch)
    this.#compactorEpoch = Math.max(this.#compactorEpoch, m.compactorEpoch)
    this.#manifestId = id
    this.#previous = m
    this.versions++
    this.maxL0 = Math.max(this.maxL0, m.l0.length)
    this.latestL0 = m.l0.length
    this.latestOldestL0 = m.l0.at(-1)?.id
    return problems
  }
}
