/**
 * `s3://bucket/prefix` URLs in `@shale/core` (`Shale.stores.resolve`, `ObjectStore.layerFromUrl`): core
 * loads this package on demand and reaches the bucket the URL names, at the endpoint and with the
 * credentials of the environment. Against a fake loopback server always; against the live server (with
 * SHALE_S3_ENDPOINT, as in CI) a database round trip.
 */
import { assert, describe, it } from "@effect/vitest"
import { Shale } from "@shale/core"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** Sets environment variables for the duration of `f`. */
const withEnv = async <A>(vars: Record<string, string>, f: () => Promise<A>): Promise<A> => {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]))
  Object.assign(process.env, vars)
  try {
    return await f()
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}

const enc = new TextEncoder()
const dec = new TextDecoder()

describe("s3:// store URLs", () => {
  it("reach the bucket and prefix the URL names, at SHALE_S3_ENDPOINT (fake server refusing everything)", async () => {
    const paths: Array<string> = []
    const server = Http.createServer((req, res) => {
      paths.push(req.url ?? "")
      req.resume()
      req.on("end", () => {
        res.writeHead(403, { "content-type": "application/xml" })
        res.end(`<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const e = await withEnv({
        SHALE_S3_ENDPOINT: endpoint,
        SHALE_S3_FORCE_PATH_STYLE: "true",
        AWS_ACCESS_KEY_ID: "K",
        AWS_SECRET_ACCESS_KEY: "S"
      }, () =>
        Shale.open("db", {
          store: Shale.stores.resolve("s3://my-bucket/some/prefix/"),
          storeRetry: { maxAttempts: 1 },
          logger: "silent"
        }).catch((e: unknown) => e))
      assert.instanceOf(e, Error)
      assert.notInstanceOf(e, Shale.InvalidError, String(e))
      assert.isAbove(paths.length, 0)
      // Path style: /bucket/key; the key is under the URL's prefix and the database root.
      assert.isTrue(paths.every((p) => p.startsWith("/my-bucket")), paths.join(", "))
      assert.isTrue(paths.some((p) => p.includes("some%2Fprefix%2Fdb%2Fmanifest") || p.includes("some/prefix/db/manifest")), paths.join(", "))
    } finally {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  const endpoint = process.env["SHALE_S3_ENDPOINT"]
  it.skipIf(endpoint === undefined || endpoint.length === 0)(
    "a database on the live server through Shale.stores.resolve (runs with SHALE_S3_ENDPOINT)",
    async () => {
      const bucket = process.env["SHALE_S3_BUCKET"] ?? "shale-test"
      const url = `s3://${bucket}/shale-test-runs/${randomUUID()}/url`
      const db = await Shale.open("db", { store: Shale.stores.resolve(url), settings: { durableFlush: "eager" } })
      await db.put(enc.encode("k"), enc.encode("over s3"))
      await db.close()
      const again = await Shale.open("db", { store: Shale.stores.resolve(url) })
      assert.strictEqual(dec.decode(await again.get(enc.encode("k"))), "over s3")
      await again.close()
    },
    60_000
  )
})
