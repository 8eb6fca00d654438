/**
 * What the S3 store's tests share: the environment they read and small assertions.
 *
 * Environment: SHALE_S3_ENDPOINT, SHALE_S3_BUCKET (shale-test), AWS_REGION (us-east-1), AWS_ACCESS_KEY_ID
 * (TESTKEY), AWS_SECRET_ACCESS_KEY (TESTSECRET), SHALE_S3_FORCE_PATH_STYLE (true), SHALE_S3_REQUIRED.
 */
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from "@aws-sdk/client-s3"
import { assert, describe, it } from "@effect/vitest"
import type { ObjectStore, ObjectStoreError } from "@shale/core/internal"
import { Effect } from "effect"

const env = process.env
export const endpoint = env.SHALE_S3_ENDPOINT !== undefined && env.SHALE_S3_ENDPOINT.length > 0
  ? env.SHALE_S3_ENDPOINT
  : undefined
export const required = env.SHALE_S3_REQUIRED === "1"
export const bucket = env.SHALE_S3_BUCKET ?? "shale-test"
export const region = env.AWS_REGION ?? "us-east-1"
export const credentials = {
  accessKeyId: env.AWS_ACCESS_KEY_ID ?? "TESTKEY",
  secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "TESTSECRET"
}
export const forcePathStyle = env.SHALE_S3_FORCE_PATH_STYLE !== "false"

export type Store = ObjectStore["Service"]

export const failureOf = <A>(effect: Effect.Effect<A, ObjectStoreError>) => Effect.flip(effect)

export const assertError = (
  e: ObjectStoreError,
  tag: ObjectStoreError["_tag"],
  op: ObjectStoreError["op"],
  path: string
) => {
  assert.strictEqual(e._tag, tag, e.message)
  assert.strictEqual(e.op, op)
  assert.strictEqual(e.path, path)
}

export const bytesOf = (...xs: Array<number>) => new Uint8Array(xs)

/** Creates the bucket if needed; rejects, naming the endpoint, when the server cannot be reached. */
export const ensureBucket = async (url: string): Promise<void> => {
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

/**
 * What a live suite (`name`) says when SHALE_S3_ENDPOINT is not set: one skipped test, or a failing one
 * with SHALE_S3_REQUIRED=1 (CI), where `what` cannot run.
 */
export const describeWithoutEndpoint = (name: string, what: string): void => {
  describe(name, () => {
    if (required) {
      it(`SHALE_S3_REQUIRED=1 but SHALE_S3_ENDPOINT is not set: ${what} cannot run`, () => {
        assert.fail("set SHALE_S3_ENDPOINT (start radosgw with scripts/rgw/start.sh) or unset SHALE_S3_REQUIRED")
      })
    } else {
      it.skip("NOT RUN: SHALE_S3_ENDPOINT is not set (see README: scripts/rgw/start.sh)", () => {})
    }
  })
}
