/**
 * W3's request counter for S3: a plain HTTP proxy on loopback, in the harness process, in front of the S3
 * server. Both engines talk to it instead of the server (Shale through `SHALE_S3_ENDPOINT`, SlateDB's
 * binding through `AWS_ENDPOINT`), so both are counted the same way, exactly, by what reaches the server.
 *
 * The proxy forwards each request unchanged (the Host header too: SigV4 signs it, and the server checks
 * the signature against the Host it receives) over kept-alive connections, streams both bodies, and
 * counts per database prefix (the first `depth` path segments after the bucket) and per kind:
 * `GET` with a `Range` header → getRange, other object `GET`s → get, a `GET` of the bucket → list,
 * `HEAD`, `PUT`, `DELETE`, and anything else (`POST`: multipart uploads, batch deletes) → other.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { emptyCounts, type RequestCounts } from "./engines/LatencyStore.ts"

/** What the proxy counted for one prefix: Shale's kinds, plus requests of any other kind. */
export interface ProxyCounts extends RequestCounts {
  other: number
}

export interface CountingProxy {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /** A copy of the counts of the objects under `prefix` (a path of `depth` segments after the bucket). */
  readonly counts: (prefix: string) => ProxyCounts
  readonly close: () => Promise<void>
}

const kindOf = (method: string | undefined, objectKey: string, ranged: boolean): keyof ProxyCounts => {
  switch (method) {
    case "GET":
      return objectKey === "" ? "list" : ranged ? "getRange" : "get"
    case "HEAD":
      return "head"
    case "PUT":
      return "put"
    case "DELETE":
      return "delete"
    default:
      return "other"
  }
}

/** The prefix a request is for: `depth` segments of its object key, or of a listing's `prefix` parameter. */
const prefixOf = (url: URL, depth: number): { readonly prefix: string; readonly objectKey: string } => {
  const [, , ...rest] = decodeURIComponent(url.pathname).split("/") // "", bucket, key...
  const objectKey = rest.join("/")
  const key = objectKey === "" ? url.searchParams.get("prefix") ?? "" : objectKey
  return { prefix: key.split("/").slice(0, depth).join("/"), objectKey }
}

/** Starts the proxy to `upstream` (`http://host:port`) on a free loopback port. */
export const startProxy = async (upstream: string, depth: number): Promise<CountingProxy> => {
  const target = new URL(upstream)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  const table = new Map<string, ProxyCounts>()
  const countsOf = (prefix: string) => {
    let c = table.get(prefix)
    if (c === undefined) {
      c = { ...emptyCounts(), other: 0 }
      table.set(prefix, c)
    }
    return c
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy")
    const { prefix, objectKey } = prefixOf(url, depth)
    const counts = countsOf(prefix)
    counts[kindOf(req.method, objectKey, req.headers.range !== undefined)]++
    const upstreamReq = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
        upstreamRes.on("data", (chunk: Buffer) => {
          counts.bytesRead += chunk.length
        })
        upstreamRes.pipe(res)
      }
    )
    req.on("data", (chunk: Buffer) => {
      counts.bytesWritten += chunk.length
    })
    upstreamReq.on("error", (e) => {
      if (!res.headersSent) res.writeHead(502)
      res.end(String(e))
    })
    res.on("close", () => {
      if (!res.writableFinished) upstreamReq.destroy()
    })
    req.pipe(upstreamReq)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    counts: (prefix) => ({ ...countsOf(prefix) }),
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      agent.destroy()
    }
  }
}
