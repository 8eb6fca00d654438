/**
 * Read replicas across processes on S3 (radosgw in CI): the scenario of
 * packages/core/test/replica/CrossProcessReaders.test.ts (one writer process at a time, closed, SIGKILLed
 * and restarted, three `DbReader` processes polling every 100 ms, compaction and GC running), with every
 * process on the store `s3://<bucket>/<fresh prefix>/replica` (`Shale.stores.resolve`, which loads this
 * package in the children).
 *
 * Runs when SHALE_S3_ENDPOINT is set; skipped (one test saying so) otherwise, failing instead with
 * SHALE_S3_REQUIRED=1. An unreachable endpoint fails the test in `beforeAll` (the bucket is created there
 * if missing). Environment as in S3ObjectStore.test.ts; the children get AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY (defaults us-east-1, TESTKEY, TESTSECRET) and SHALE_S3_FORCE_PATH_STYLE (true).
 */
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from "@aws-sdk/client-s3"
import { assert, beforeAll, describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { scenarioProblems, scenarioSummary } from "../../core/test/replica/ReplicaChecks.ts"
import { runScenario } from "../../core/test/replica/ReplicaScenario.ts"

const env = process.env
const endpoint = env.SHALE_S3_ENDPOINT !== undefined && env.SHALE_S3_ENDPOINT.length > 0 ? env.SHALE_S3_ENDPOINT : undefined
const required = env.SHALE_S3_REQUIRED === "1"
const bucket = env.SHALE_S3_BUCKET ?? "shale-test"
const region = env.AWS_REGION ?? "us-east-1"
const credentials = {
  accessKeyId: env.AWS_ACCESS_KEY_ID ?? "TESTKEY",
  secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "TESTSECRET"
}
const forcePathStyle = env.SHALE_S3_FORCE_PATH_STYLE !== "false"

const liveName = "cross-process DbReaders on a live S3 server"

/** Creates the bucket if needed; rejects, naming the endpoint, when the server cannot be reached. */
const ensureBucket = async (url: string): Promise<void> => {
  const client = new S3Client({ endpoint: url, region, credentials, forcePathStyle, maxAttempts: 3 })
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (cause) {
    if (!(cause instanceof BucketAlreadyOwnedByYou)) {
      throw new Error(`S3 endpoint ${url} unreachable or bucket ${bucket} not creatable: ${String(cause)}`)
    }
  } finally {
    client.destroy()
  }
}

if (endpoint === undefined) {
  describe(liveName, () => {
    if (required) {
      it("SHALE_S3_REQUIRED=1 but SHALE_S3_ENDPOINT is not set: the S3 replica test cannot run", () => {
        assert.fail("set SHALE_S3_ENDPOINT (start radosgw with scripts/rgw/start.sh) or unset SHALE_S3_REQUIRED")
      })
    } else {
      it.skip("NOT RUN: SHALE_S3_ENDPOINT is not set (see README: scripts/rgw/start.sh)", () => {})
    }
  })
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
      if (env["SHALE_REPLICA_VERBOSE"] !== undefined) console.log(summary)
      expect(scenarioProblems(result), summary).toEqual([])
    }, 240_000)
  })
}
