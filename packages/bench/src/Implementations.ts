/**
 * The implementations `npm run bench` can measure, by name. Each adapter module is imported only by the
 * worker that runs it, so a peer's process never loads Shale or Effect (and the other way round), and its
 * peak RSS is its own.
 */
import type { Engine } from "./Engine.ts"
import { LATENCY_PHASES, type Phase, PHASES } from "./Workload.ts"

export type Family = "shale" | "peer" | "latency"
export type Storage = "memory" | "file"

export interface Implementation {
  readonly name: string
  readonly family: Family
  readonly storage: Storage
  readonly description: string
  readonly phases: ReadonlyArray<Phase>
  /** Opens a fresh database; `dir` is an empty directory the run owns (file stores keep their data there). */
  readonly open: (context: { readonly dir: string }) => Promise<Engine>
}

export interface ImplementationOptions {
  /** Injected PUT latency of the latency experiment, in ms. */
  readonly putLatencyMs: number
}

const shaleEffect = (store: "memory" | { readonly dir: string }) =>
  import("./engines/ShaleEffect.ts").then((m) => m.makeShaleEffect({ store }))
const shalePromise = (store: "memory" | { readonly dir: string }) =>
  import("./engines/ShalePromise.ts").then((m) => m.makeShalePromise({ store }))

export const implementations = (options: ImplementationOptions): ReadonlyArray<Implementation> => {
  const ms = options.putLatencyMs
  return [
    {
      name: "shale-effect-memory",
      family: "shale",
      storage: "memory",
      description: "Shale, Effect API (yield* per call), in-memory store",
      phases: PHASES,
      open: () => shaleEffect("memory")
    },
    {
      name: "shale-effect-file",
      family: "shale",
      storage: "file",
      description: "Shale, Effect API (yield* per call), local directory store",
      phases: PHASES,
      open: ({ dir }) => shaleEffect({ dir })
    },
    {
      name: "shale-promise-memory",
      family: "shale",
      storage: "memory",
      description: "Shale, Promise API (await per call), in-memory store",
      phases: PHASES,
      open: () => shalePromise("memory")
    },
    {
      name: "shale-promise-file",
      family: "shale",
      storage: "file",
      description: "Shale, Promise API (await per call), local directory store",
      phases: PHASES,
      open: ({ dir }) => shalePromise({ dir })
    },
    {
      name: "slatedb-memory",
      family: "peer",
      storage: "memory",
      description: "SlateDB 0.12.1 (@slatedb/uniffi), memory:///",
      phases: PHASES,
      open: () => import("./engines/SlateDb.ts").then((m) => m.makeSlateDb({ url: "memory:///" }))
    },
    {
      name: "slatedb-file",
      family: "peer",
      storage: "file",
      description: "SlateDB 0.12.1 (@slatedb/uniffi), file:// local directory",
      phases: PHASES,
      open: ({ dir }) => import("./engines/SlateDb.ts").then((m) => m.makeSlateDb({ url: `file://${dir}` }))
    },
    {
      name: "classic-level",
      family: "peer",
      storage: "file",
      description: "LevelDB (classic-level@3), local directory; durable = { sync: true }",
      phases: PHASES,
      open: ({ dir }) => import("./engines/ClassicLevel.ts").then((m) => m.makeClassicLevel({ dir }))
    },
    {
      name: "lmdb",
      family: "peer",
      storage: "file",
      description: "LMDB (lmdb@3), local directory; durable = committed and flushed",
      phases: PHASES,
      open: ({ dir }) => import("./engines/Lmdb.ts").then((m) => m.makeLmdb({ dir }))
    },
    ...(["interval", "eager"] as const).map((mode): Implementation => ({
      name: `shale-${mode}-${ms}ms`,
      family: "latency",
      storage: "memory",
      description: `Shale, Effect API, memory store with ${ms} ms PUTs, durableFlush: "${mode}"`,
      phases: LATENCY_PHASES,
      open: () =>
        import("./engines/ShaleEffect.ts").then((m) =>
          m.makeShaleEffect({ store: "memory", putLatencyMs: ms, settings: { durableFlush: mode } })
        )
    }))
  ]
}

/** Named groups accepted by `--only`, besides the implementation names themselves. */
export const GROUPS: Readonly<Record<string, (i: Implementation) => boolean>> = {
  shale: (i) => i.family === "shale",
  peers: (i) => i.family === "peer",
  slatedb: (i) => i.name.startsWith("slatedb-"),
  latency: (i) => i.family === "latency",
  memory: (i) => i.storage === "memory" && i.family !== "latency",
  file: (i) => i.storage === "file"
}
