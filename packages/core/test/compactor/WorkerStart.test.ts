/**
 * Starting compaction workers when the process runs with Node options a worker may not have
 * (compactor/WorkerJob.ts `startWorker`): `node --expose-gc app.js` must still compact.
 */
import { assert, describe, it } from "@effect/vitest"
import { Worker } from "node:worker_threads"
import { moduleExecArgv, startWorker } from "../../src/compactor/WorkerJob.ts"

const ECHO = new URL(`data:text/javascript,${encodeURIComponent(`import { parentPort } from "node:worker_threads"; parentPort.postMessage(typeof gc)`)}`)

const firstMessage = (argv: ReadonlyArray<string>) =>
  new Promise<unknown>((resolve, reject) => {
    const worker = startWorker(ECHO, argv)
    worker.once("message", (m) => {
      resolve(m)
      void worker.terminate()
    })
    worker.once("error", reject)
  })

describe("compaction worker start", () => {
  it("keeps only the options that decide how modules load", () => {
    assert.deepStrictEqual(
      moduleExecArgv([
        "--expose-gc",
        "--conditions=@shale/source",
        "--max-old-space-size=100",
        "--import",
        "./setup.js",
        "-C",
        "dev",
        "--experimental-vm-modules",
        "--disable-warning=ExperimentalWarning",
        "--title=x"
      ]),
      ["--conditions=@shale/source", "--import", "./setup.js", "-C", "dev", "--experimental-vm-modules", "--disable-warning=ExperimentalWarning"]
    )
  })

  it("starts a worker when Node refuses the process's options in one", async () => {
    // Node itself refuses `--expose-gc` in a worker; startWorker falls back to what a worker may have.
    assert.throws(() => new Worker(ECHO, { execArgv: ["--expose-gc"] }), /--expose-gc/)
    assert.strictEqual(await firstMessage(["--expose-gc", "--no-warnings"]), "undefined")
  })

})
