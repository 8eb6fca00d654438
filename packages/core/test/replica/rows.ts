/**
 * The rows of the cross-process replica test (CrossProcessReaders.test.ts), shared by its writer and reader
 * child processes and the parent: batch `n` of writer run `run` is `rowsPerBatch` puts in one write batch,
 *
 *   key   `b<n:7>/<j:3>`                      (j < rowsPerBatch)
 *   value `r<run>/b<n>/<j>/` + padding         (the padding's length depends on n and j only)
 *
 * so a reader can tell, from what it scans, which batches it sees, whether each is complete, and which
 * writer run wrote each one (a batch is rewritten by the next run only when it was not durable when its
 * writer died: a reader that saw the first version saw data that was never durable).
 *
 * A reader's view is summarized as run ranges: `[run, first, last]` for each maximal stretch of
 * consecutive batches written by one run, in batch order.
 */

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The prefix of every key of batch `n`. */
export const batchPrefix = (n: number): string => `b${String(n).padStart(7, "0")}/`

export const keyOf = (n: number, j: number): string => `${batchPrefix(n)}${String(j).padStart(3, "0")}`

const paddingOf = (n: number, j: number): number => 8 + ((n * 31 + j * 7) % 56)

export const valueOf = (run: number, n: number, j: number): string => `r${run}/b${n}/${j}/${"x".repeat(paddingOf(n, j))}`

export const encode = (s: string): Uint8Array => encoder.encode(s)

/** `[run, first batch, last batch]`: consecutive batches written by one run. */
export type RunRange = readonly [run: number, first: number, last: number]

/** What one scan of the whole database showed. */
export interface View {
  /** Batch → the run that wrote it (complete batches only). */
  readonly runs: Map<number, number>
  /** Rows scanned. */
  readonly rows: number
  /** Everything wrong with it: a partial batch, a foreign key or value, a hole. */
  readonly problems: Array<string>
}

const KEY_RE = /^b(\d{7})\/(\d{3})$/

/**
 * Checks one scan's rows (in key order) against the scheme above: `expectedRows` per batch, and every batch
 * from `first` to the highest one there.
 */
export const viewOf = (
  rows: Iterable<{ readonly key: Uint8Array; readonly value: Uint8Array }>,
  expectedRows: number,
  first = 0
): View => {
  const problems: Array<string> = []
  const seen = new Map<number, { run: number; rows: number }>()
  let count = 0
  for (const kv of rows) {
    count++
    const key = decoder.decode(kv.key)
    const value = decoder.decode(kv.value)
    const m = KEY_RE.exec(key)
    if (m === null) {
      problems.push(`unexpected key ${JSON.stringify(key)}`)
      continue
    }
    const [n, j] = [Number(m[1]), Number(m[2])]
    const run = Number(/^r(\d+)\//.exec(value)?.[1] ?? "-1")
    if (run < 0 || value !== valueOf(run, n, j)) problems.push(`key ${key} holds ${JSON.stringify(value.slice(0, 30))}`)
    const batch = seen.get(n)
    if (batch === undefined) seen.set(n, { run, rows: 1 })
    else {
      if (batch.run !== run) problems.push(`batch ${n} mixes rows of runs ${batch.run} and ${run}`)
      batch.rows++
    }
  }
  const runs = new Map<number, number>()
  for (const [n, b] of seen) {
    if (b.rows !== expectedRows) problems.push(`batch ${n} is partial: ${b.rows} of ${expectedRows} rows`)
    else runs.set(n, b.run)
  }
  const max = maxBatch(runs)
  for (let n = first; n <= max; n++) {
    if (!seen.has(n)) {
      problems.push(`batch ${max} is visible but batch ${n} is not`)
      break
    }
  }
  return { runs, rows: count, problems }
}

/** The highest batch in `runs`, -1 when empty. */
export const maxBatch = (runs: ReadonlyMap<number, number>): number => {
  let max = -1
  for (const n of runs.keys()) if (n > max) max = n
  return max
}

/** `runs` (batch → run) as ranges, in batch order. */
export const rangesOf = (runs: ReadonlyMap<number, number>): Array<RunRange> => {
  const out: Array<[number, number, number]> = []
  for (const n of [...runs.keys()].sort((a, b) => a - b)) {
    const run = runs.get(n)!
    const last = out[out.length - 1]
    if (last !== undefined && last[0] === run && last[2] === n - 1) last[2] = n
    else out.push([run, n, n])
  }
  return out
}
