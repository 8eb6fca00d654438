/**
 * Read replicas across processes on S3 (radosgw in CI): the scenario of
 * packages/core/test/replica/CrossProcessReaders.test.ts (one writer process at a time, closed, SIGKILLed
 * and restarted, three `DbReader` processes polling every 100 ms, compaction and GC running), with every
 * process on the store `s3://<bucket>/<fresh prefix>/replica` (`Shale.stores.resolve`, which loads this
 * package in the children).
 *
 * Runs when SHALE_S3_ENDPOINT is set; skipped (one test saying so) otherwise, failing instead with
 * SHALE_S3_REQUIRED=1. An unreachable endpoint fails the test in `beforeAll` (the bucket is created there
 * if missing). Environment as in support.ts; the children get AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (defaults us-east-1, TESTKEY, TESTSECRET) and SHALE_S3_FORCE_PATH_STYLE (true).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { scenarioProblems, scenarioSummary } from "../../core/test/replica/ReplicaChecks.ts"
import { runScenario } from "../../core/test/replica/ReplicaScenario.ts"
import {
  bucket,
  credentials,
  describeWithoutEndpoint,
  endpoint as configuredEndpoint,
  ensureBucket,
  forcePathStyle,
  region
} from "./support.ts"

/** A local binding: narrowed below, in closures too. */
const endpoint = configuredEndpoint
const liveName = "cross-process DbReaders on a live S3 server"

if (endpoint === undefined) {
  describeWithoutEndpoint(liveName, "the S3 replica test")
} else {
  describe(`S3 live server ${endpoint}: ${liveName}`, () => {
    beforeAll(() => ensureBucket(endpoint), 60_000)

    it("every reader converges to the writer's durable batches, never sees a partial or undurable one, and survives restarts, compaction and GC", async () => {
      const result = await runScenario({
        store: `s3://${bucket}/shale-test-runs/${randomUUID()}/replica`,
        runMs: 3000,
        pauseMs: 200,
        env: {
          SHALE_S3_ENDPOINT: endpoint,
          SHALE_S3_FORCE_PATH_STYLE: String(forcePathStyle),
          AWS_REGION: region,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey
        }
      })
      const summary = scenarioSummary(result)
      if (process.env["SHALE_REPLICA_VERBOSE"] !== undefined) console.log(summary)
      expect(scenarioProblems(result), summary).toEqual([])
    }, 240_000)
  })
}
