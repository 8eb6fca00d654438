/**
 * How the simulation runs operations (`callOp`), describes them, their errors and results in its trace,
 * and turns operations and answers into what the model checks (the entries of a write, the shape of a
 * scan, observed rows).
 */
import { Cause, Duration, Effect, Exit, Stream } from "effect"
import { type Db, type DbError, type KeyValue, WriteBatch } from "@shale/core/internal"
import { foldBytes } from "./Merges.ts"
import type { ObservedRow, ScanShape, WriteExtras } from "./Model.ts"
import { showBytes, toHex, utf8 } from "./SimBytes.ts"
import type { SimOp, WriteOp } from "./Workload.ts"

export const showKey = (k: Uint8Array) => showBytes(k, 40)

const describeRange = (r: { start?: Uint8Array; startInclusive?: boolean; end?: Uint8Array; endInclusive?: boolean }) =>
  `${r.start === undefined ? "(-∞" : `${r.startInclusive === false ? "(" : "["}${showKey(r.start)}`},${
    r.end === undefined ? "+∞)" : `${showKey(r.end)}${r.endInclusive === true ? "]" : ")"}`
  }`

export const describeOp = (op: SimOp): string => {
  const durable = (d: boolean) => (d ? " durable" : "")
  const ttl = (ms: number | undefined) => (ms === undefined ? "" : ` ttl ${ms}`)
  switch (op._tag) {
    case "put":
      return `put ${showKey(op.key)}=${showBytes(op.value)}${ttl(op.ttlMs)}${durable(op.awaitDurable)}`
    case "merge":
      return `merge ${showKey(op.key)}+${showBytes(op.operand)}${ttl(op.ttlMs)}${durable(op.awaitDurable)}`
    case "delete":
      return `delete ${showKey(op.key)}${durable(op.awaitDurable)}`
    case "batch":
      return `batch{${
        op.entries.map((e) =>
          e._tag === "put"
            ? `${showKey(e.key)}=${showBytes(e.value, 12)}`
            : e._tag === "merge"
            ? `${showKey(e.key)}+${showBytes(e.operand, 12)}`
            : `-${showKey(e.key)}`
        ).join(" ")
      }}${durable(op.awaitDurable)}`
    case "get":
      return `get ${showKey(op.key)} ${op.durability}`
    case "scan":
      return `scan ${describeRange(op.range)} ${op.order} ${op.durability}${op.limit === undefined ? "" : ` limit ${op.limit}`}${
        op.paceMs === 0 ? "" : ` pace ${op.paceMs}ms`
      }`
    case "scanPrefix":
      return `scanPrefix ${showKey(op.prefix)} ${op.order} ${op.durability}${op.limit === undefined ? "" : ` limit ${op.limit}`}${
        op.paceMs === 0 ? "" : ` pace ${op.paceMs}ms`
      }`
    case "flush":
      return `flush ${op.type}`
    case "invalid":
      return `invalid ${op.variant}`
  }
}

export const describeError = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  if (typeof e === "object" && e !== null && "_tag" in e) {
    const tagged = e as { _tag: string; reason?: string; message?: string }
    return `${tagged._tag}${tagged.reason === undefined ? "" : `(${tagged.reason})`}`
  }
  return Cause.hasInterruptsOnly(cause) ? "interrupted" : `defect: ${String(e)}`
}

export const errorOf = (exit: Exit.Exit<unknown, unknown>): { readonly _tag?: string; readonly reason?: string } | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const e = Cause.squash(exit.cause)
  return typeof e === "object" && e !== null ? (e as { _tag?: string; reason?: string }) : {}
}

/** What the model records of a write: its entries per key, and which are merge operands. */
export interface WriteEntries extends WriteExtras {
  readonly entries: Map<string, Uint8Array | undefined>
}

/**
 * A write's entries per key, as the write path folds one batch (docs/format.md §3.12; every row of a batch
 * has the same expiry: batches carry no TTL): a put or a delete replaces what came before it on its key;
 * a merge after a put folds into the put (one value), after a delete into a value of its own (the tombstone
 * is consumed), after merges into one operand; a merge alone stays an operand (`merges`).
 */
export const foldEntries = (
  ops: Iterable<{ readonly key: Uint8Array; readonly kind: "put" | "delete" | "merge"; readonly value?: Uint8Array | undefined }>
): WriteEntries => {
  const entries = new Map<string, Uint8Array | undefined>()
  const merges = new Set<string>()
  for (const op of ops) {
    const hk = toHex(op.key)
    if (op.kind === "merge") {
      if (entries.has(hk)) {
        entries.set(hk, foldBytes(entries.get(hk), op.value!))
        continue
      }
      merges.add(hk)
    } else {
      entries.delete(hk)
      merges.delete(hk)
    }
    entries.set(hk, op.kind === "delete" ? undefined : op.value)
  }
  return { entries, merges: merges.size === 0 ? undefined : merges }
}

/** The entries of a workload write (`foldEntries`), with its TTL. */
export const entriesOf = (op: WriteOp): WriteEntries => {
  switch (op._tag) {
    case "put":
      return { ...foldEntries([{ key: op.key, kind: "put", value: op.value }]), ttlMs: op.ttlMs }
    case "delete":
      return foldEntries([{ key: op.key, kind: "delete" }])
    case "merge":
      return { ...foldEntries([{ key: op.key, kind: "merge", value: op.operand }]), ttlMs: op.ttlMs }
    case "batch":
      return foldEntries(op.entries.map((e) => ({ key: e.key, kind: e._tag, value: e._tag === "put" ? e.value : e._tag === "merge" ? e.operand : undefined })))
  }
}

const ttlOf = (ms: number | undefined) => (ms === undefined ? {} : { ttl: { afterMs: ms } })

export const rangeShape = (
  range: { start?: Uint8Array; startInclusive?: boolean; end?: Uint8Array; endInclusive?: boolean },
  order: "asc" | "desc",
  limit: number | undefined
): ScanShape => {
  const start = range.start === undefined ? undefined : toHex(range.start)
  const end = range.end === undefined ? undefined : toHex(range.end)
  return {
    contains: (k) =>
      (start === undefined || k > start || (k === start && range.startInclusive !== false)) &&
      (end === undefined || k < end || (k === end && range.endInclusive === true)),
    order,
    limit
  }
}

export const toRows = (kvs: ReadonlyArray<KeyValue>): Array<ObservedRow> =>
  kvs.map((kv) => ({ key: toHex(kv.key), value: kv.value, seq: kv.seq, createTs: kv.createTs }))


/** Runs one operation against the database. */
export const callOp = (db: Db["Service"], op: SimOp): Effect.Effect<unknown, DbError> => {
  switch (op._tag) {
    case "put":
      return db.put(op.key, op.value, { awaitDurable: op.awaitDurable, ...ttlOf(op.ttlMs) })
    case "merge":
      return db.merge(op.key, op.operand, { awaitDurable: op.awaitDurable, ...ttlOf(op.ttlMs) })
    case "delete":
      return db.delete(op.key, { awaitDurable: op.awaitDurable })
    case "batch": {
      const batch = new WriteBatch()
      for (const e of op.entries) {
        if (e._tag === "put") batch.put(e.key, e.value)
        else if (e._tag === "merge") batch.merge(e.key, e.operand)
        else batch.delete(e.key)
      }
      return db.write(batch, { awaitDurable: op.awaitDurable })
    }
    case "get":
      return db.getKeyValue(op.key, { durability: op.durability })
    case "scan":
    case "scanPrefix": {
      const stream = op._tag === "scan"
        ? db.scan(op.range, { order: op.order, durability: op.durability })
        : db.scanPrefix(op.prefix, { order: op.order, durability: op.durability })
      const limited = op.limit === undefined ? stream : Stream.take(stream, op.limit)
      const paced = op.paceMs === 0 ? limited : Stream.tap(limited, () => Effect.sleep(Duration.millis(op.paceMs)))
      return Stream.runCollect(paced)
    }
    case "flush":
      return db.flush({ type: op.type })
    case "invalid":
      return op.variant === "emptyBatch" ? db.write(new WriteBatch()) : db.put(new Uint8Array(0), utf8("x"))
  }
}
