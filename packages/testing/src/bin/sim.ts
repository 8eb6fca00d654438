/**
 * `npm run sim -- --seed <n> --ops <n> [--faults <profile>]`: runs deterministic simulations
 * (packages/testing/src/sim/Runner.ts) and prints, per seed, the trace hash, the operations by kind and
 * outcome, and the injected faults; on a divergence, the operation index, what disagreed, the last trace
 * lines and the command that replays it. Exits 1 if any seed diverged.
 *
 * Options:
 *   --seed <n>        first seed (default 1)
 *   --seeds <n>       how many consecutive seeds to run (default 1); one line each, then a summary
 *   --ops <n>         operations per seed (default 1000)
 *   --faults <name>   fault profile: none, latency, transient, crash, standard (default), chaos
 *   --db <name>       shale (default: the real engine) or fake (the simulator's own minimal Db)
 *   --compactor <where>  embedded, standalone or both (default: drawn from the seed)
 *   --gc <where>      the garbage collector: embedded, standalone, both or none (default: drawn from the seed)
 *   --switch <name>   turns on a test-only bug switch (ackBeforePut, skipLastWalReplay, ...); repeatable
 *   --no-seq-check    do not compare returned seqs with the model's
 *   --keep-going      with --seeds, continue after a divergence
 *   --verbose         print every trace line
 *   --logs <level>    show the engine's logs at or above Error, Warn, Info, Debug (default: none)
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { faultProfile, faultProfileNames } from "../sim/Profiles.ts"
import { TestSwitchesOff } from "@shale/core/internal"
import type { CompactorSummary } from "../sim/CompactorActor.ts"
import { runSimulation, type SimResult, SimTargets } from "../sim/Runner.ts"

type GcSide = NonNullable<SimResult["gc"]>

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "1" },
    seeds: { type: "string", default: "1" },
    ops: { type: "string", default: "1000" },
    faults: { type: "string", default: "standard" },
    db: { type: "string", default: "shale" },
    compactor: { type: "string" },
    gc: { type: "string" },
    switch: { type: "string", multiple: true, default: [] },
    "no-seq-check": { type: "boolean", default: false },
    "keep-going": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    logs: { type: "string", default: "None" },
    help: { type: "boolean", default: false }
  },
  strict: true
})

const KNOWN_SWITCHES = Object.keys(TestSwitchesOff)

const usage = () => {
  process.stdout.write(
    "usage: npm run sim -- --seed <n> --ops <n> [--faults <profile>] [--seeds <count>] [--db shale|fake]\n" +
      "                      [--compactor embedded|standalone|both] [--gc embedded|standalone|both|none]\n" +
      "                      [--switch <name>] [--no-seq-check] [--keep-going]\n" +
      "                      [--verbose] [--logs error|warn|info|debug]\n" +
      `switches: ${KNOWN_SWITCHES.join(", ")}\n` +
      `profiles: ${faultProfileNames.join(", ")}\n`
  )
}

const int = (name: string, text: string): number => {
  if (!/^\d+$/.test(text)) {
    process.stderr.write(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}\n`)
    process.exit(2)
  }
  return Number(text)
}

if (values.help) {
  usage()
  process.exit(0)
}

const profile = faultProfile(values.faults)
if (profile === undefined) {
  process.stderr.write(`unknown fault profile ${JSON.stringify(values.faults)}\n`)
  usage()
  process.exit(2)
}
const switches: Record<string, boolean> = {}
for (const s of values.switch) {
  if (!(KNOWN_SWITCHES as ReadonlyArray<string>).includes(s)) {
    process.stderr.write(`unknown switch ${JSON.stringify(s)} (known: ${KNOWN_SWITCHES.join(", ")})\n`)
    process.exit(2)
  }
  switches[s] = true
}
if (values.db !== "shale" && values.db !== "fake") {
  process.stderr.write(`--db must be shale or fake\n`)
  process.exit(2)
}
const target = values.db === "fake" ? SimTargets.fake() : SimTargets.shale
const DEPLOYMENTS = ["embedded", "standalone", "both"] as const
const compactor = DEPLOYMENTS.find((d) => d === values.compactor)
if (values.compactor !== undefined && compactor === undefined) {
  process.stderr.write(`--compactor must be one of ${DEPLOYMENTS.join(", ")}\n`)
  process.exit(2)
}
const GC_DEPLOYMENTS = ["embedded", "standalone", "both", "none"] as const
const gc = GC_DEPLOYMENTS.find((d) => d === values.gc)
if (values.gc !== undefined && gc === undefined) {
  process.stderr.write(`--gc must be one of ${GC_DEPLOYMENTS.join(", ")}\n`)
  process.exit(2)
}
const firstSeed = int("seed", values.seed)
const seeds = int("seeds", values.seeds)
const ops = int("ops", values.ops)

const LOG_LEVELS = ["All", "Fatal", "Error", "Warn", "Info", "Debug", "Trace", "None"] as const
const logLevel = (text: string): (typeof LOG_LEVELS)[number] => {
  const found = LOG_LEVELS.find((l) => l.toLowerCase() === text.toLowerCase())
  if (found === undefined) {
    process.stderr.write(`--logs must be one of ${LOG_LEVELS.join(", ")}\n`)
    process.exit(2)
  }
  return found
}

const summarize = (counts: Readonly<Record<string, number>>): string => {
  const byKind = new Map<string, Array<string>>()
  for (const [key, n] of Object.entries(counts).sort()) {
    const [kind, outcome] = key.split(":") as [string, string]
    if (kind === "event") continue
    const parts = byKind.get(kind) ?? []
    parts.push(`${outcome} ${n}`)
    byKind.set(kind, parts)
  }
  return [...byKind].map(([kind, parts]) => `${kind} (${parts.join(", ")})`).join(", ")
}

/** The compactor's side in a few words: where it ran, and what happened to it. */
const describeCompactor = (c: CompactorSummary | undefined): string => {
  if (c === undefined) return "none"
  const parts = [
    c.processes > 0 ? `${c.processes} processes` : "",
    c.crashes > 0 ? `${c.crashes} crashes (${c.crashesMidCompaction} mid-compaction)` : "",
    c.restarts > 0 ? `${c.restarts} restarts (${c.resumable} to resume)` : "",
    c.fencedStandalone + c.fencedEmbedded > 0 ? `fenced ${c.fencedStandalone} standalone, ${c.fencedEmbedded} embedded` : "",
    c.lostClaims > 0 ? `${c.lostClaims} lost the claim at start` : "",
    c.manualSubmitted > 0
      ? `manual compactions ${c.manualSubmitted} (${c.manualCompleted} completed, ${c.manualFailed} failed, ` +
        `${c.manualEnded} ended, ${c.manualRefused} refused)`
      : "",
    `max L0 ${c.maxL0}`
  ].filter((p) => p !== "")
  return `${c.deployment}: ${parts.join(", ")}`
}

/** The garbage collector's side, checkpoints and views in a few words. */
const describeGc = (g: GcSide | undefined): string => {
  if (g === undefined) return "none"
  const deleted = Object.entries(g.deleted).map(([d, n]) => `${d} ${n}`).join(", ") || "nothing"
  const kept = Object.entries(g.kept).map(([d, n]) => `${d} ${n}`).join(", ")
  const parts = [
    g.passes > 0 ? `${g.passes} standalone passes (${g.background} in the background, ${g.crashes} killed, ${g.passErrors} errors absorbed)` : "",
    g.pauses > 0 ? `${g.pauses} pauses (${(g.pausedMs / 1000).toFixed(0)} s)` : "",
    `deleted ${deleted}`,
    Object.keys(g.recreated).length === 0
      ? ""
      : `versions recreated below the latest ${Object.entries(g.recreated).map(([d, n]) => `${d} ${n}`).join(", ")}`,
    kept === "" ? "" : `left after the final passes: ${kept}`,
    `checkpoints ${g.checkpoints} (${Object.entries(g.checkpointsByKind).map(([k, n]) => `${k} ${n}`).join(", ")}; ` +
    `${g.checkpointsDeleted} deleted, ${g.checkpointsRefreshed} refreshed)`,
    `views ${g.viewsAtCheckpoint} at checkpoints, ${g.viewsAtLatest} at the latest, ${g.viewReads} reads, ` +
    `${g.readsAfterEnd} failed after their checkpoint ended, ${g.finalViews} final`
  ].filter((p) => p !== "")
  return `${g.deployment}: ${parts.join("; ")}`
}

const report = (r: SimResult, detailed: boolean, ms: number) => {
  const faults = Object.entries(r.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ") || "none"
  if (!detailed) {
    process.stdout.write(
      `seed ${r.seed}: ${r.divergence === undefined ? "ok" : `DIVERGED at op #${r.divergence.opIndex}`}  ` +
        `hash ${r.traceHash.slice(0, 16)}  ops ${r.ops}  compactor ${r.compactor?.deployment ?? "none"}  faults: ${faults}  ` +
        `gc ${r.gc?.deployment ?? "none"}  (${(ms / 1000).toFixed(1)} s)\n`
    )
  } else {
    process.stdout.write(
      `seed        ${r.seed}\n` +
        `profile     ${r.profile}\n` +
        `db          ${r.target}\n` +
        `settings    ${JSON.stringify(r.settings)}\n` +
        `trace hash  ${r.traceHash}\n` +
        `trace lines ${r.traceLines}\n` +
        `operations  ${r.ops}: ${summarize(r.counts)}\n` +
        `faults      ${faults}\n` +
        `compactor   ${describeCompactor(r.compactor)}\n` +
        `gc          ${describeGc(r.gc)}\n` +
        `readers     ${r.readers === undefined ? "none" : Object.entries(r.readers).map(([k, n]) => `${k} ${n}`).join(", ")}\n` +
        `merges      ${Object.entries(r.merges).map(([k, n]) => `${k} ${n}`).join(", ")}\n` +
        `store ops   ${r.storeOps}\n` +
        `objects     ${Object.entries(r.objects).map(([d, n]) => `${d} ${n}`).join(", ")}\n` +
        `simulated   ${(r.simulatedMs / 1000).toFixed(1)} s (wall ${(ms / 1000).toFixed(1)} s)\n`
    )
  }
  if (r.divergence !== undefined) {
    const d = r.divergence
    process.stdout.write(
      `\nDIVERGENCE  seed ${d.seed}, op #${d.opIndex}\n${d.message}\n\nlast trace lines:\n` +
        d.context.map((l) => `  ${l}`).join("\n") +
        `\n\nreproduce:  ${d.reproduce}\n`
    )
  }
}

/** The compactor counters of every seed, added up; and the garbage collector's. */
const totals: Record<string, number> = {}
const gcTotals: Record<string, number> = {}
const txnTotals: Record<string, number> = {}
const readerTotals: Record<string, number> = {}
const mergeTotals: Record<string, number> = {}
const addUpReaders = (r: SimResult["readers"]) => {
  for (const [k, v] of Object.entries(r ?? {})) readerTotals[k] = (readerTotals[k] ?? 0) + v
}
const addUpGc = (g: GcSide | undefined) => {
  if (g === undefined) return
  gcTotals[`deployment ${g.deployment}`] = (gcTotals[`deployment ${g.deployment}`] ?? 0) + 1
  for (const [k, v] of Object.entries(g)) {
    if (typeof v === "number") gcTotals[k] = (gcTotals[k] ?? 0) + v
    else if ((k === "deleted" || k === "recreated") && typeof v === "object") {
      for (const [d, n] of Object.entries(v as Record<string, number>)) gcTotals[`${k} ${d}`] = (gcTotals[`${k} ${d}`] ?? 0) + n
    }
  }
}
const addUp = (c: CompactorSummary | undefined) => {
  if (c === undefined) return
  totals[`deployment ${c.deployment}`] = (totals[`deployment ${c.deployment}`] ?? 0) + 1
  for (const [k, v] of Object.entries(c)) if (typeof v === "number" && k !== "maxL0") totals[k] = (totals[k] ?? 0) + v
}

const main = Effect.gen(function*() {
  let diverged = 0
  const started = performance.now()
  for (let seed = firstSeed; seed < firstSeed + Math.max(1, seeds); seed++) {
    const t0 = performance.now()
    const result = yield* runSimulation({
      seed,
      ops,
      profile,
      target,
      switches,
      checkSeqs: !values["no-seq-check"],
      ...(compactor === undefined ? {} : { compactor }),
      ...(gc === undefined ? {} : { gc }),
      logLevel: logLevel(values.logs),
      ...(values.verbose ? { onTrace: (line: string) => process.stdout.write(`${line}\n`) } : {})
    })
    report(result, seeds <= 1, performance.now() - t0)
    addUp(result.compactor)
    addUpGc(result.gc)
    for (const [k, v] of Object.entries(result.txns)) txnTotals[k] = (txnTotals[k] ?? 0) + v
    addUpReaders(result.readers)
    for (const [k, v] of Object.entries(result.merges)) mergeTotals[k] = (mergeTotals[k] ?? 0) + v
    if (result.divergence !== undefined) {
      diverged++
      if (!values["keep-going"]) break
    }
  }
  if (seeds > 1) {
    process.stdout.write(
      `\n${seeds} seeds from ${firstSeed}, ${ops} ops each, profile ${profile.name}: ${
        diverged === 0 ? "all passed" : `${diverged} diverged`
      } (${((performance.now() - started) / 1000).toFixed(1)} s)\n` +
        `compactor totals: ${Object.entries(totals).map(([k, v]) => `${k} ${v}`).join(", ")}\n` +
        `gc totals: ${Object.entries(gcTotals).map(([k, v]) => `${k} ${v}`).join(", ")}\n` +
        `snapshot and transaction totals: ${Object.entries(txnTotals).map(([k, v]) => `${k} ${v}`).join(", ")}\n` +
        `reader totals: ${Object.entries(readerTotals).map(([k, v]) => `${k} ${v}`).join(", ")}\n` +
        `merge totals (written; operands folded by path): ${Object.entries(mergeTotals).map(([k, v]) => `${k} ${v}`).join(", ")}\n`
    )
  }
  return diverged
})

Effect.runPromise(main).then(
  (diverged) => process.exit(diverged === 0 ? 0 : 1),
  (error: unknown) => {
    process.stderr.write(`sim failed: ${String(error)}\n`)
    process.exit(2)
  }
)
