/** The garbage collector's rules (SlateDB's), one by one, at their edges. */
import { assert, describe, it } from "@effect/vitest"
import {
  compactedCutoffMs,
  compactedToDelete,
  compactionsToDelete,
  liveSstIds,
  manifestsToDelete,
  walsToDelete,
  withMinAge,
  defaultGcOptions
} from "../../src/gc/GcRules.ts"
import { type CompactedSst, Manifest } from "../../src/manifest/Manifest.ts"
import { ulidFromParts } from "../../src/Ulid.ts"

const MIN = 60_000
const NOW = Date.UTC(2026, 0, 1)
const aged = (id: number, ageMs: number) => ({ id, lastModified: NOW - ageMs })
const sst = (timeMs: number, n = 1): CompactedSst => ({
  id: ulidFromParts(timeMs, BigInt(n)),
  formatVersion: 2,
  info: {} as CompactedSst["info"]
})

describe("GC rules", () => {
  it("manifests: all but the latest and the pinned, strictly older than the minimum age", () => {
    const latest = { ...Manifest.initial(), checkpoints: [{ id: "c", manifestId: 2, createTimeS: 0 }] }
    const listed = [aged(1, 10 * MIN), aged(2, 10 * MIN), aged(3, 5 * MIN), aged(4, 4 * MIN), aged(5, 10 * MIN)]
    // 2 pinned; 3 exactly five minutes old stays (">"); 5 is the latest, however old.
    assert.deepStrictEqual(manifestsToDelete(listed, latest, NOW, 5 * MIN), [1])
    assert.deepStrictEqual(manifestsToDelete(listed, latest, NOW, 0), [1, 3, 4])
    assert.deepStrictEqual(manifestsToDelete([aged(1, 10 * MIN)], latest, NOW, 0), [])
  })

  it("WAL: below replay_after_wal_id, old enough, replayed by no live manifest", () => {
    const latest = { ...Manifest.initial(), replayAfterWalId: 10, nextWalSstId: 12 }
    const pinned = { ...Manifest.initial(), replayAfterWalId: 4, nextWalSstId: 7 }
    const listed = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((id) => aged(id, 10 * MIN))
    // 10 = replay_after_wal_id itself stays; 5 and 6 are replayed by the pinned manifest.
    assert.deepStrictEqual(walsToDelete(listed, [latest], NOW, MIN), [1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.deepStrictEqual(walsToDelete(listed, [latest, pinned], NOW, MIN), [1, 2, 3, 4, 7, 8, 9])
    assert.deepStrictEqual(walsToDelete([aged(3, MIN)], [latest], NOW, MIN), [])
  })

  it("compacted SSTs: the cutoff is the earliest of now - min age, the oldest compaction, the newest L0", () => {
    const l0 = [sst(NOW - 3 * MIN), sst(NOW - 9 * MIN)]
    const m = { ...Manifest.initial(), l0 }
    const compaction = ulidFromParts(NOW - 7 * MIN, 5n)
    assert.strictEqual(compactedCutoffMs(NOW, MIN, [compaction], m), NOW - 7 * MIN)
    assert.strictEqual(compactedCutoffMs(NOW, 8 * MIN, [compaction], m), NOW - 8 * MIN)
    assert.strictEqual(compactedCutoffMs(NOW, MIN, [ulidFromParts(NOW, 1n)], m), NOW - 3 * MIN)
    // Unknown bounds are the epoch: nothing can be deleted.
    assert.strictEqual(compactedCutoffMs(NOW, MIN, undefined, m), 0)
    assert.strictEqual(compactedCutoffMs(NOW, MIN, [], m), 0)
    assert.strictEqual(compactedCutoffMs(NOW, MIN, [compaction], Manifest.initial()), 0)
    // No L0 left: the last compacted L0 SST bounds it.
    const drained = { ...Manifest.initial(), l0LastCompacted: sst(NOW - 2 * MIN).id }
    assert.strictEqual(compactedCutoffMs(NOW, MIN, [ulidFromParts(NOW, 1n)], drained), NOW - 2 * MIN)
  })

  it("compacted SSTs: not live in any live manifest and created strictly before the cutoff", () => {
    const live = sst(NOW - 10 * MIN, 1)
    const pinnedOnly = sst(NOW - 10 * MIN, 2)
    const dead = sst(NOW - 10 * MIN, 3)
    const atCutoff = sst(NOW - 5 * MIN, 4)
    const latest = { ...Manifest.initial(), compacted: [{ id: 0, ssts: [live] }] }
    const pinned = { ...Manifest.initial(), l0: [pinnedOnly] }
    const ids = [live, pinnedOnly, dead, atCutoff].map((s) => s.id)
    assert.deepStrictEqual(compactedToDelete(ids, liveSstIds([latest, pinned]), NOW - 5 * MIN), [dead.id])
    assert.deepStrictEqual(compactedToDelete(ids, liveSstIds([latest]), NOW - 5 * MIN), [pinnedOnly.id, dead.id])
    assert.deepStrictEqual(compactedToDelete(["not-a-ulid"], new Set(), NOW), [])
  })

  it("compactions files: all but the latest, strictly older than the minimum age", () => {
    assert.deepStrictEqual(compactionsToDelete([aged(1, 2 * MIN), aged(2, MIN), aged(3, 10 * MIN)], NOW, MIN), [1])
    assert.deepStrictEqual(compactionsToDelete([aged(1, 10 * MIN)], NOW, 0), [])
  })

  it("withMinAge replaces the minimum age of the enabled kinds only", () => {
    const opts = withMinAge({ ...defaultGcOptions, wal: null }, 0)
    assert.strictEqual(opts.manifests?.minAgeMs, 0)
    assert.strictEqual(opts.manifests?.intervalMs, 60_000)
    assert.strictEqual(opts.wal, null)
  })
})
