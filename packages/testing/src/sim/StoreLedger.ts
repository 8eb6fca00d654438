/**
 * The bucket's ledger: every put that landed and every delete, in the order they hit the bucket's inner
 * store, whoever made them (writers, compactors, garbage collectors, the admin client, the runner).
 *
 * Why: once a garbage collector runs, objects disappear between two audits. A manifest version or a
 * compactions file written and collected within one round would never be seen by an audit that lists the
 * bucket, and an SST that a version referenced when it was written may be gone by the time the audit
 * looks. The ledger keeps what the audits need:
 * - the bytes of every manifest version and compactions file, in the order they landed (`drain` hands
 *   them to the store audit once);
 * - each path's history, so that the audit can ask whether an object existed when a version naming it
 *   was written (entries carry a position), and which WAL SSTs ever existed;
 * - the deletions the runner made on purpose (the *lost WAL* event), which no garbage collector made.
 *
 * The wrapper sits between the fault layer and the memory store (`FaultInjectingOptions.inner`): only
 * what took effect is recorded (a create-only put refused, a fault injected before the store, a crash
 * stranding an operation: nothing). Deleting a missing object is recorded as nothing.
 */
import { Clock, Effect } from "effect"
import { ObjectStore, parseCompactionsId, parseManifestId, parseWalSstId } from "@shale/core/internal"

export interface LedgerEntry {
  /** Position in the ledger (1, 2, ...). */
  readonly pos: number
  readonly op: "put" | "delete"
  readonly path: string
  readonly timeMs: number
  /** A manifest version's or compactions file's bytes (puts only). */
  readonly bytes?: Uint8Array
  /**
   * A manifest version or compactions file that landed below the highest one in the bucket: a process
   * acting on a view older than the minimum age recreated a version a collector had deleted (puts only).
   */
  readonly recreated?: boolean
}

export class StoreLedger {
  #pos = 0
  #pending: Array<LedgerEntry> = []
  /** WAL SST ids that were ever written. */
  readonly walsEverPut = new Set<number>()
  /** WAL SST ids that were deleted (by a collector, or on purpose). */
  readonly walsDeleted = new Set<number>()
  /** Paths the runner deleted on purpose (no collector did). */
  readonly deletedOnPurpose = new Set<string>()
  /** Deletions that removed an object, by directory (`wal`, `manifest`, ...; `lost`: the runner's). */
  readonly deletions: Record<string, number> = {}
  /** Versions recreated below the highest one, by directory (`manifest`, `compactions`). */
  readonly recreated: Record<string, number> = {}
  /** Paths whose last put was a recreation below the highest version. */
  readonly #recreatedPaths = new Set<string>()
  /** The manifest versions and compactions files in the bucket, by directory. */
  readonly #versions: Record<string, Set<number>> = { manifest: new Set(), compactions: new Set() }

  /** Entries since the last `drain`, in ledger order; they are handed out once. */
  drain(): Array<LedgerEntry> {
    const out = this.#pending
    this.#pending = []
    return out
  }

  /** Wraps `inner` so that what lands in it is recorded. */
  wrap(inner: ObjectStore["Service"]): ObjectStore["Service"] {
    const ledger = this
    const record = (op: "put" | "delete", path: string, bytes?: Uint8Array) =>
      Effect.map(Clock.currentTimeMillis, (timeMs) => {
        const pos = ++ledger.#pos
        const dir = path.split("/").at(-2) ?? ""
        const version = dir === "manifest" ? parseManifestId(path) : dir === "compactions" ? parseCompactionsId(path) : undefined
        if (version !== undefined && op === "put" && bytes !== undefined) {
          const present = ledger.#versions[dir]!
          const recreated = [...present].some((id) => id > version)
          if (recreated) ledger.recreated[dir] = (ledger.recreated[dir] ?? 0) + 1
          if (recreated) ledger.#recreatedPaths.add(path)
          else ledger.#recreatedPaths.delete(path)
          present.add(version)
          ledger.#pending.push({ pos, op, path, timeMs, bytes: bytes.slice(), ...(recreated ? { recreated } : {}) })
        } else {
          if (version !== undefined) ledger.#versions[dir]!.delete(version)
          ledger.#pending.push({ pos, op, path, timeMs })
        }
        if (op === "put") {
          const wal = dir === "wal" ? parseWalSstId(path) : undefined
          if (wal !== undefined) ledger.walsEverPut.add(wal)
        } else {
          const wal = dir === "wal" ? parseWalSstId(path) : undefined
          if (wal !== undefined) ledger.walsDeleted.add(wal)
          const by = ledger.deletedOnPurpose.has(path) ? "lost" : dir
          ledger.deletions[by] = (ledger.deletions[by] ?? 0) + 1
        }
      })
    return ObjectStore.of({
      put: (path, bytes, options) => Effect.tap(inner.put(path, bytes, options), () => record("put", path, bytes)),
      get: (path) => inner.get(path),
      getRange: (path, range) => inner.getRange(path, range),
      head: (path) => inner.head(path),
      delete: (path) =>
        Effect.gen(function*() {
          const existed = yield* Effect.match(inner.head(path), { onFailure: () => false, onSuccess: () => true })
          yield* inner.delete(path)
          if (existed) yield* record("delete", path)
        }),
      list: (prefix, options) => inner.list(prefix, options)
    })
  }

  /** Whether the last put of `path` recreated a version below the highest one (see `LedgerEntry.recreated`). */
  wasRecreated(path: string): boolean {
    return this.#recreatedPaths.has(path)
  }

  /** Marks `path` as deleted by the runner on purpose (before deleting it). */
  deleteOnPurpose(path: string): void {
    this.deletedOnPurpose.add(path)
  }
}
