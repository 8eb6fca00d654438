/**
 * W3's S3 server and the harness's own access to it.
 *
 * - The server: `SHALE_S3_ENDPOINT` (default `http://127.0.0.1:7480`), `SHALE_S3_BUCKET` (`shale-test`),
 *   `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (`TESTKEY` / `TESTSECRET`), `AWS_REGION` (`us-east-1`),
 *   path-style, the variables the S3 tests read (.ci/run). When nothing answers at the default endpoint,
 *   `ensureServer` starts radosgw with scripts/rgw/start.sh (state in `<repo>/.rgw`) and `stop` stops it
 *   with scripts/rgw/stop.sh; a server it did not start is left alone.
 * - The engines' environment (`engineEnv`): Shale's `SHALE_S3_*` and SlateDB's `AWS_ENDPOINT`,
 *   `AWS_ALLOW_HTTP`, both pointing at the counting proxy (W3Proxy.ts).
 * - The harness's access, straight to the server, so that it is never counted: the latest manifest of a
 *   database (W3's wait for SlateDB's full compaction) and deleting a run's objects afterwards. It uses
 *   Shale's S3 store (`s3://bucket/prefix` through `@shale/s3`) and Shale's manifest decoder.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { ConfigProvider, Effect, Layer, ManagedRuntime, Stream } from "effect"
import { ObjectStore as Store } from "@shale/core"

const run = promisify(execFile)
const REPO = fileURLToPath(new URL("../../..", import.meta.url))
const DEFAULT_ENDPOINT = "http://127.0.0.1:7480"

export interface S3Server {
  readonly endpoint: string
  readonly bucket: string
  readonly region: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** Whether this process started radosgw (and must stop it). */
  readonly started: boolean
}

const reachable = async (endpoint: string): Promise<boolean> => {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(2_000) })
    return true
  } catch {
    return false
  }
}

/** The server W3 runs on, started with scripts/rgw/start.sh when none answers at the default endpoint. */
export const ensureServer = async (log: (line: string) => void): Promise<S3Server> => {
  const env = process.env
  const endpoint = env.SHALE_S3_ENDPOINT ?? DEFAULT_ENDPOINT
  const server = {
    endpoint,
    bucket: env.SHALE_S3_BUCKET ?? "shale-test",
    region: env.AWS_REGION ?? "us-east-1",
    accessKeyId: env.AWS_ACCESS_KEY_ID ?? "TESTKEY",
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "TESTSECRET"
  }
  if (await reachable(endpoint)) return { ...server, started: false }
  if (endpoint !== DEFAULT_ENDPOINT) throw new Error(`no S3 server answers at SHALE_S3_ENDPOINT=${endpoint}`)
  log(`no S3 server at ${endpoint}: starting radosgw (scripts/rgw/start.sh)`)
  try {
    await run("bash", ["scripts/rgw/start.sh"], { cwd: REPO, timeout: 180_000 })
  } catch (e) {
    const stderr = typeof e === "object" && e !== null && "stderr" in e ? String(e.stderr) : String(e)
    throw new Error(`radosgw did not start (scripts/rgw/install.sh installs it):\n${stderr}`)
  }
  log("radosgw started")
  return { ...server, started: true }
}

/** Stops radosgw if `ensureServer` started it. */
export const stopServer = async (server: S3Server): Promise<void> => {
  if (server.started) await run("bash", ["scripts/rgw/stop.sh"], { cwd: REPO, timeout: 60_000 })
}

/** The environment both engines get: the proxy as their endpoint, the server's bucket and credentials. */
export const engineEnv = (server: S3Server, proxyUrl: string): Record<string, string> => ({
  SHALE_S3_ENDPOINT: proxyUrl,
  SHALE_S3_FORCE_PATH_STYLE: "true",
  SHALE_S3_BUCKET: server.bucket,
  AWS_ENDPOINT: proxyUrl,
  AWS_ALLOW_HTTP: "true",
  AWS_REGION: server.region,
  AWS_ACCESS_KEY_ID: server.accessKeyId,
  AWS_SECRET_ACCESS_KEY: server.secretAccessKey
})

/** The harness's access to the objects under `prefix`, straight to the server. */
export const harnessStore = (server: S3Server, prefix: string) => {
  const config = ConfigProvider.fromEnvRecord({
    SHALE_S3_ENDPOINT: server.endpoint,
    SHALE_S3_FORCE_PATH_STYLE: "true",
    AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey
  })
  const layer = Store.layerFromUrl(`s3://${server.bucket}/${prefix}`).pipe(Layer.provide(ConfigProvider.layer(config)))
  const runtime = ManagedRuntime.make(layer)
  const use = <A>(f: (store: Store.ObjectStore["Service"]) => Effect.Effect<A, unknown>) =>
    runtime.runPromise(Store.ObjectStore.use(f))
  return {
    /** The latest manifest of the database at `root`: its L0 SSTs and sorted runs; undefined: none yet. */
    layout: async (root: string): Promise<{ readonly l0: number; readonly sortedRuns: number } | undefined> => {
      const { decodeManifest } = await import("@shale/core/internal")
      return use((store) =>
        Effect.gen(function*() {
          const names = yield* Stream.runCollect(store.list(`${root}/manifest`))
          const latest = names.map((o) => o.path).filter((p) => p.endsWith(".manifest")).sort().at(-1)
          if (latest === undefined) return undefined
          const m = decodeManifest(yield* store.get(latest))
          return { l0: m.l0.length, sortedRuns: m.compacted.length }
        })
      )
    },
    /** Deletes every object under the prefix; how many there were. */
    deleteAll: (): Promise<number> =>
      use((store) =>
        Effect.gen(function*() {
          const all = yield* Stream.runCollect(store.list(""))
          yield* Effect.forEach(all, (o) => store.delete(o.path), { concurrency: 16, discard: true })
          return all.length
        })
      ),
    close: () => runtime.dispose()
  }
}
