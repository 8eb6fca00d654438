/**
 * One run of one implementation, in its own process: `node worker.ts <implementation> <config JSON>`,
 * started by main.ts with an IPC channel. Opens a fresh database, runs the implementation's phases of W1
 * in order (Workload.ts), times each from outside the adapter, checks what the reads returned, closes the
 * database and reports the process's peak RSS. Results go to the parent as `WorkerMessage`s.
 */
import type { Engine } from "./Engine.ts"
import { EngineUnavailable } from "./Engine.ts"
import { implementations } from "./Implementations.ts"
import type { PhaseResult, RunResult, WorkerConfig, WorkerMessage } from "./Protocol.ts"
import { makeKeys, type Phase, type WorkloadSizes } from "./Workload.ts"

const send = (message: WorkerMessage): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) {
      // Run by hand, without the harness: print the messages.
      console.log(JSON.stringify(message))
      resolve()
    } else {
      process.send(message, undefined, {}, () => resolve())
    }
  })

const timed = async <A>(f: () => Promise<A>): Promise<{ readonly result: A; readonly ms: number }> => {
  const t0 = performance.now()
  const result = await f()
  return { result, ms: performance.now() - t0 }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const runPhase = async (
  engine: Engine,
  phase: Phase,
  sizes: WorkloadSizes,
  keys: ReadonlyArray<Uint8Array>
): Promise<PhaseResult | undefined> => {
  const putsBefore = engine.storePuts?.()
  const withPuts = (r: PhaseResult): PhaseResult =>
    putsBefore === undefined ? r : { ...r, storePuts: engine.storePuts!() - putsBefore }
  switch (phase) {
    case "put_nodurable_seq": {
      const { ms } = await timed(() => engine.putNoDurableSeq(keys, 0, sizes.n))
      const durableAtEnd = await engine.durableSeq?.()
      return withPuts({
        phase,
        ops: sizes.n,
        ms,
        value: (sizes.n / ms) * 1000,
        ...(durableAtEnd === undefined ? {} : { durableAtEnd })
      })
    }
    case "put_durable_c256": {
      const putDurableConcurrent = engine.putDurableConcurrent
      if (putDurableConcurrent === undefined) return undefined
      const { ms } = await timed(() => putDurableConcurrent(keys, 0, sizes.c256, sizes.inFlight))
      return withPuts({ phase, ops: sizes.c256, ms, value: (sizes.c256 / ms) * 1000 })
    }
    case "put_durable_seq": {
      // Keys after those of put_durable_c256, still inside 0..N-1 (Workload.withN caps both at N).
      const from = Math.min(sizes.c256, sizes.n - sizes.seq)
      const { result: latencies, ms } = await timed(() => engine.putDurableSeq(keys, from, from + sizes.seq))
      const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length
      return withPuts({
        phase,
        ops: sizes.seq,
        ms,
        value: mean,
        p50Ms: median(latencies),
        maxMs: Math.max(...latencies)
      })
    }
    case "get_random_seq": {
      const { result: found, ms } = await timed(() => engine.getSeq(keys, sizes.gets))
      const problem = found === sizes.gets ? undefined : `found ${found} of ${sizes.gets} keys`
      return { phase, ops: sizes.gets, ms, value: (sizes.gets / ms) * 1000, ...(problem === undefined ? {} : { problem }) }
    }
    case "scan_all": {
      const { result: rows, ms } = await timed(() => engine.scanAll())
      const problem = rows === sizes.n ? undefined : `scanned ${rows} rows, expected ${sizes.n}`
      return { phase, ops: rows, ms, value: (rows / ms) * 1000, ...(problem === undefined ? {} : { problem }) }
    }
  }
}

const main = async (): Promise<void> => {
  const [name, configJson] = process.argv.slice(2)
  if (name === undefined || configJson === undefined) {
    throw new Error("usage: worker.ts <implementation> <config JSON>")
  }
  const config = JSON.parse(configJson) as WorkerConfig
  const implementation = implementations({ putLatencyMs: config.putLatencyMs }).find((i) => i.name === name)
  if (implementation === undefined) throw new Error(`unknown implementation ${name}`)
  const { sizes } = config
  const keys = makeKeys(sizes.n)
  const baselineRssBytes = process.memoryUsage().rss

  let engine: Engine
  const opened = await timed(() => implementation.open({ dir: config.dir })).catch(async (e: unknown) => {
    if (e instanceof EngineUnavailable) {
      await send({ type: "unavailable", message: e.message })
      return undefined
    }
    throw e
  })
  if (opened === undefined) return
  engine = opened.result
  await send({ type: "opened", ms: opened.ms })

  const phases: Array<PhaseResult> = []
  let flushMs: number | undefined
  for (const phase of implementation.phases) {
    if (phase === "get_random_seq") {
      flushMs = (await timed(() => engine.flushMemtable())).ms
      await send({ type: "flushed", ms: flushMs })
    }
    const result = await runPhase(engine, phase, sizes, keys)
    if (result !== undefined) {
      phases.push(result)
      await send({ type: "phase", result })
    }
  }
  const closed = await timed(() => engine.close())
  const result: RunResult = {
    phases,
    openMs: opened.ms,
    flushMs,
    closeMs: closed.ms,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    baselineRssBytes
  }
  await send({ type: "done", result })
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    await send({ type: "failed", message: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    process.exit(1)
  }
)
