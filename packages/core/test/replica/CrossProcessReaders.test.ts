/**
 * Read replicas across processes on a local directory: one writer process at a time (closed cleanly,
 * SIGKILLed, restarted) and three `DbReader` processes polling every 100 ms, while the writer's compactor
 * compacts and its collector deletes WAL SSTs and manifests under them (ReplicaScenario.ts says what runs,
 * ReplicaChecks.ts what must hold). The same scenario runs on S3 in packages/s3/test/CrossProcessReaders.test.ts.
 *
 * `SHALE_REPLICA_VERBOSE=1` prints what each process did.
 */
import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { scenarioProblems, scenarioSummary } from "./ReplicaChecks.ts"
import { runScenario } from "./ReplicaScenario.ts"

describe("DbReader processes beside a writer process (local directory)", () => {
  it("every reader converges to the writer's durable batches, never sees a partial or undurable one, and survives restarts, compaction and GC", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shale-replica-"))
    try {
      const result = await runScenario({ store: dir })
      const summary = scenarioSummary(result)
      if (process.env["SHALE_REPLICA_VERBOSE"] !== undefined) console.log(summary)
      expect(scenarioProblems(result), summary).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
