/**
 * One engine's reader workload (ReadersWorkload.ts), in its own process:
 * `node worker-readers.ts <engine> <config JSON>`, forked by ReadersMain.ts with an IPC channel. For each
 * poll interval a fresh database in a directory of its own (deleted afterwards); one `result` message per
 * interval, then `done`, or `unavailable` / `failed`.
 */
import { mkdtemp, rm } from "node:fs/promises"
import * as path from "node:path"
import { EngineUnavailable } from "./Engine.ts"
import { makeReadersEngine, type ReaderEngineName } from "./ReadersEngine.ts"
import { type ReadersRunResult, type ReadersSizes, runReaders } from "./ReadersWorkload.ts"

export interface ReadersWorkerConfig {
  readonly sizes: ReadersSizes
  /** A directory the run owns; each interval's database goes in a fresh directory under it. */
  readonly dir: string
}

export type ReadersWorkerMessage =
  | { readonly type: "result"; readonly result: ReadersRunResult }
  | { readonly type: "done" }
  | { readonly type: "unavailable"; readonly message: string }
  | { readonly type: "failed"; readonly message: string }

const send = (message: ReadersWorkerMessage): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) {
      console.log(JSON.stringify(message))
      resolve()
    } else {
      process.send(message, undefined, {}, () => resolve())
    }
  })

const main = async () => {
  const [name, configJson] = process.argv.slice(2)
  const config = JSON.parse(configJson ?? "null") as ReadersWorkerConfig
  for (const pollMs of config.sizes.pollsMs) {
    const dir = await mkdtemp(path.join(config.dir, `poll-${pollMs}-`))
    try {
      const engine = await makeReadersEngine(name as ReaderEngineName, dir)
      try {
        await send({ type: "result", result: await runReaders(engine, config.sizes, pollMs) })
      } finally {
        await engine.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  await send({ type: "done" })
}

main().then(
  () => process.exit(0),
  async (e: unknown) => {
    await send(
      e instanceof EngineUnavailable
        ? { type: "unavailable", message: e.message }
        : { type: "failed", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }
    )
    process.exit(1)
  }
)
