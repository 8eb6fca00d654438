/**
 * Consistency checks of a manifest read at open (docs/design/db.md, "Open: validate before writing").
 *
 * SlateDB's manifest carries no checksum, so a damaged manifest (a flipped bit, a truncated or hand-edited
 * file) can decode into one that looks valid and would make the writer skip rows: a raised
 * `replay_after_wal_id` or `last_l0_seq` skips WAL rows at replay, a shortened L0 list or a changed key
 * range hides an SST. These checks catch what can be caught from the store alone, and the writer runs
 * them before it writes anything: a failing open leaves the store as it found it.
 *
 * - `structureProblems`: the manifest on its own (ids in range, sorted runs in order, key ranges ordered,
 *   checkpoints naming versions that exist).
 * - `missingObjectProblems`: what the manifest says must exist does (every WAL in
 *   `(replay_after_wal_id, next_wal_sst_id)`, every L0 and sorted-run SST of this database).
 * - `successionProblems`: against the previous version, when it is still on the store. Versions are
 *   written one at a time by the writer (L0 flushes, epochs, WAL ids), the compactor (sorted runs, the
 *   compacted L0 tail) and checkpoint makers, so: epochs never go down; the replay point, the last L0 seq
 *   and the L0 clock tick never go down and move only when an L0 SST was added; L0 SSTs only leave from
 *   the old end, through a compaction that names the newest of them as `l0_last_compacted`.
 * - `walRowProblems`: the rows of the WALs at and after the replay point against the manifest: seqs never
 *   go down; a row the manifest says is in L0 (`seq ≤ last_l0_seq`) was written no later than the last
 *   L0 flush's clock tick; a row it says is not was written no earlier; every row of the WAL at the replay
 *   point is in L0.
 *
 * - `sstInfoProblem`: an L0 SST's info in the manifest is the info in the SST's own footer (the key range
 *   in the manifest decides which reads look at the SST).
 *
 * Each returns human-readable problems (empty when consistent); the caller fails with one `DataError`
 * listing them. What they cannot see: a change that keeps every one of these relations (e.g. a raised
 * `last_l0_seq` in the very version that added an L0 SST, when no WAL row lies in the skipped range).
 */
import { compareKeys, keysEqual } from "../format/KeyComparator.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { SsTableInfo } from "../format/SstMetadata.ts"
import type { Manifest } from "./Manifest.ts"

/** The SST ids of a manifest, L0 then sorted runs. */
const sstIds = (m: Manifest): Array<string> => [...m.l0.map((s) => s.id), ...m.compacted.flatMap((r) => r.ssts.map((s) => s.id))]

/** SSTs borrowed from parent databases (clones) live elsewhere. */
const externalIds = (m: Manifest): ReadonlySet<string> => new Set(m.externalDbs.flatMap((db) => db.sstIds))

/** Problems of the manifest on its own; `id` is its version. */
export const structureProblems = (m: Manifest, id: number): Array<string> => {
  const out: Array<string> = []
  if (!Number.isSafeInteger(m.nextWalSstId) || m.nextWalSstId < 1) out.push(`next WAL id ${m.nextWalSstId} is not a positive id`)
  if (m.replayAfterWalId >= m.nextWalSstId) {
    out.push(`replay_after_wal_id ${m.replayAfterWalId} is not below next_wal_sst_id ${m.nextWalSstId}`)
  }
  const seen = new Set<string>()
  for (const sstId of sstIds(m)) {
    if (seen.has(sstId)) out.push(`SST ${sstId} is listed twice`)
    seen.add(sstId)
  }
  for (const sst of [...m.l0, ...m.compacted.flatMap((r) => r.ssts)]) {
    const { firstEntry, lastEntry } = sst.info
    if (firstEntry !== undefined && lastEntry !== undefined && compareKeys(firstEntry, lastEntry) > 0) {
      out.push(`SST ${sst.id}: first key is after its last key`)
    }
  }
  for (let i = 1; i < m.compacted.length; i++) {
    if (m.compacted[i]!.id >= m.compacted[i - 1]!.id) out.push(`sorted run ${m.compacted[i]!.id} is out of order`)
  }
  for (const run of m.compacted) {
    for (let i = 1; i < run.ssts.length; i++) {
      const prevLast = run.ssts[i - 1]!.info.lastEntry
      const first = run.ssts[i]!.info.firstEntry
      if (prevLast !== undefined && first !== undefined && compareKeys(prevLast, first) > 0) {
        out.push(`sorted run ${run.id}: SST ${run.ssts[i]!.id} overlaps the SST before it`)
      }
    }
  }
  for (const c of m.checkpoints) {
    if (c.manifestId > id) out.push(`checkpoint ${c.id} names manifest ${c.manifestId}, after this version ${id}`)
  }
  return out
}

/** Ranges of ids, runs of three or more written `a..b`: "3, 4, 9..20". */
const idList = (ranges: ReadonlyArray<readonly [number, number]>): string =>
  ranges.map(([a, b]) => (b - a >= 2 ? `${a}..${b}` : a === b ? `${a}` : `${a}, ${b}`)).join(", ")

/** What the manifest says must exist but is not listed. */
export const missingObjectProblems = (
  m: Manifest,
  walIds: ReadonlySet<number>,
  compactedIds: ReadonlySet<string>
): Array<string> => {
  const out: Array<string> = []
  // The gaps between the listed WALs inside the range (the range itself may be huge in a damaged manifest).
  const first = m.replayAfterWalId + 1
  const last = m.nextWalSstId - 1
  const present = [...walIds].filter((id) => id >= first && id <= last).sort((a, b) => a - b)
  const gaps: Array<readonly [number, number]> = []
  let from = first
  for (const id of [...present, last + 1]) {
    if (id > from) gaps.push([from, id - 1])
    from = id + 1
  }
  if (gaps.length > 0) {
    const count = gaps.reduce((n, [a, b]) => n + b - a + 1, 0)
    out.push(
      `WAL ${idList(gaps.slice(0, 20))} ${count === 1 ? "is" : "are"} missing: the manifest says WALs ` +
        `${first}..${last} hold rows not yet in L0`
    )
  }
  const external = externalIds(m)
  const missingSsts = sstIds(m).filter((id) => !external.has(id) && !compactedIds.has(id))
  if (missingSsts.length > 0) out.push(`SST ${missingSsts.slice(0, 10).join(", ")} missing from compacted/`)
  return out
}

/** Problems of `m` (version `id`) as the successor of `prev` (version `id - 1`). */
export const successionProblems = (prev: Manifest, m: Manifest, id: number): Array<string> => {
  const out: Array<string> = []
  const at = `manifest ${id} (after ${id - 1})`
  if (m.writerEpoch < prev.writerEpoch) out.push(`${at}: writer epoch went down`)
  if (m.compactorEpoch < prev.compactorEpoch) out.push(`${at}: compactor epoch went down`)
  if (m.replayAfterWalId < prev.replayAfterWalId) out.push(`${at}: replay_after_wal_id went down`)
  if (m.lastL0Seq < prev.lastL0Seq) out.push(`${at}: last_l0_seq went down`)
  if (m.lastL0ClockTick < prev.lastL0ClockTick) out.push(`${at}: last_l0_clock_tick went down`)
  const before = new Set(sstIds(prev))
  const added = m.l0.some((s) => !before.has(s.id))
  const advanced = m.replayAfterWalId > prev.replayAfterWalId || m.lastL0Seq > prev.lastL0Seq ||
    m.lastL0ClockTick > prev.lastL0ClockTick
  if (advanced && !added) out.push(`${at}: the replay point moved without a new L0 SST`)
  const kept = new Set(m.l0.map((s) => s.id))
  const gone = prev.l0.findIndex((s) => !kept.has(s.id))
  if (gone >= 0) {
    if (prev.l0.slice(gone).some((s) => kept.has(s.id))) out.push(`${at}: an L0 SST left from the middle of L0`)
    else if (m.l0LastCompacted !== prev.l0[gone]!.id) {
      out.push(`${at}: L0 SSTs ${prev.l0.slice(gone).map((s) => s.id).join(", ")} left without being compacted`)
    }
  }
  return out
}

/**
 * Problems of the WAL rows replay reads (`rows`, in WAL order: the WALs after the replay point) and of the
 * rows of the WAL at the replay point (`atReplayPoint`, when that WAL is on the store), against `m`.
 */
export const walRowProblems = (
  m: Manifest,
  rows: Iterable<readonly [walId: number, row: RowEntry]>,
  atReplayPoint: ReadonlyArray<RowEntry> | undefined
): Array<string> => {
  const out: Array<string> = []
  const { lastL0Seq, lastL0ClockTick, replayAfterWalId } = m
  if (atReplayPoint !== undefined) {
    for (const row of atReplayPoint) {
      if (row.seq > lastL0Seq) {
        out.push(`WAL ${replayAfterWalId} (the replay point) holds seq ${row.seq}, after last_l0_seq ${lastL0Seq}`)
        break
      }
    }
  }
  let prevSeq = 0
  for (const [walId, row] of rows) {
    if (row.seq < prevSeq) {
      out.push(`WAL ${walId}: seq ${row.seq} comes after seq ${prevSeq}`)
      break
    }
    prevSeq = row.seq
    const ts = row.createTs
    if (ts === undefined) continue
    if (row.seq <= lastL0Seq && ts > lastL0ClockTick) {
      out.push(`WAL ${walId}: seq ${row.seq} is at or below last_l0_seq ${lastL0Seq} but was written after the last L0 flush`)
      break
    }
    if (row.seq > lastL0Seq && ts < lastL0ClockTick) {
      out.push(`WAL ${walId}: seq ${row.seq} is above last_l0_seq ${lastL0Seq} but was written before the last L0 flush`)
      break
    }
  }
  return out
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === undefined || b === undefined ? a === b : keysEqual(a, b)

/** The problem with SST `id`'s info in the manifest, compared with the info its own file holds. */
export const sstInfoProblem = (id: string, inManifest: SsTableInfo, inFile: SsTableInfo): string | undefined => {
  const same = sameBytes(inManifest.firstEntry, inFile.firstEntry) && sameBytes(inManifest.lastEntry, inFile.lastEntry) &&
    inManifest.indexOffset === inFile.indexOffset && inManifest.indexLen === inFile.indexLen &&
    inManifest.filterOffset === inFile.filterOffset && inManifest.filterLen === inFile.filterLen &&
    inManifest.compressionFormat === inFile.compressionFormat && inManifest.sstType === inFile.sstType &&
    inManifest.statsOffset === inFile.statsOffset && inManifest.statsLen === inFile.statsLen &&
    inManifest.filterFormat === inFile.filterFormat
  return same ? undefined : `SST ${id}: its info in the manifest differs from the info in its file`
}
