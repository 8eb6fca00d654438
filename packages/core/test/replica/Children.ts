/**
 * Child processes of the cross-process replica test, as the parent sees them: a Node process running one
 * of the scripts here (with the `@shale/source` condition, so that `s3://` stores load `@shale/s3` from its
 * sources), its stdout split into lines, its stderr kept, and ways to wait for a line or the exit.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export const WRITER_SCRIPT = fileURLToPath(new URL("./replicaWriter.ts", import.meta.url))
export const READER_SCRIPT = fileURLToPath(new URL("./replicaReader.ts", import.meta.url))

interface Waiter {
  readonly match: (line: string) => boolean
  readonly resolve: (line: string) => void
}

/** A running child: `lines` grows as it prints; `exited` resolves with `code N` or the signal's name. */
export class Child {
  readonly lines: Array<string> = []
  /** Milliseconds from the spawn to each line. */
  readonly times: Array<number> = []
  readonly #spawnedAt = performance.now()
  stderr = ""
  exit: string | undefined
  readonly exited: Promise<string>
  readonly #process: ChildProcessWithoutNullStreams
  readonly #waiters = new Set<Waiter>()
  readonly #listeners: Array<(line: string) => void> = []

  readonly name: string

  constructor(name: string, script: string, config: unknown, env: Readonly<Record<string, string>>) {
    this.name = name
    this.#process = spawn(process.execPath, ["--conditions=@shale/source", script, JSON.stringify(config)], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...env }
    })
    let pending = ""
    this.#process.stdout.setEncoding("utf8")
    this.#process.stdout.on("data", (chunk: string) => {
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        this.#line(line)
      }
    })
    this.#process.stderr.setEncoding("utf8")
    this.#process.stderr.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20_000)
    })
    this.#process.stdin.on("error", () => {}) // a child that died before reading stdin
    this.exited = new Promise((resolve) => {
      this.#process.on("close", (code, signal) => {
        this.exit = signal ?? `code ${code}`
        resolve(this.exit)
      })
    })
  }

  #line(line: string): void {
    this.lines.push(line)
    this.times.push(performance.now() - this.#spawnedAt)
    for (const l of this.#listeners) l(line)
    for (const w of this.#waiters) {
      if (w.match(line)) {
        this.#waiters.delete(w)
        w.resolve(line)
      }
    }
  }

  /** Calls `f` with every line printed from now on. */
  onLine(f: (line: string) => void): void {
    this.#listeners.push(f)
  }

  /** The first line (already printed or to come) that `match`es; rejects after `timeoutMs` or at the exit. */
  waitFor(what: string, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const found = this.lines.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.#waiters.delete(waiter)
        reject(new Error(`${this.name}: ${why} while waiting for ${what}\nstderr:\n${this.stderr.slice(-3000)}`))
      }
      const timer = setTimeout(() => fail(`no line after ${timeoutMs} ms`), timeoutMs)
      const waiter: Waiter = {
        match,
        resolve: (line) => {
          clearTimeout(timer)
          resolve(line)
        }
      }
      this.#waiters.add(waiter)
      void this.exited.then((exit) => {
        clearTimeout(timer)
        if (this.#waiters.has(waiter)) fail(`exited (${exit})`)
      })
    })
  }

  /** Writes `stop` to its stdin. */
  stop(): void {
    this.#process.stdin.write("stop\n")
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.#process.kill(signal)
  }

  /** Waits for the exit; kills it when it takes longer than `timeoutMs`. */
  async settle(timeoutMs: number): Promise<string> {
    const timer = setTimeout(() => this.kill(), timeoutMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** Milliseconds from the spawn to the first line that `match`es. */
  timeOf(match: (line: string) => boolean): number | undefined {
    const i = this.lines.findIndex(match)
    return i < 0 ? undefined : Math.round(this.times[i]!)
  }

  /** The JSON of each line that starts with `tag `. */
  tagged<A>(tag: string): Array<A> {
    return this.lines.filter((l) => l.startsWith(`${tag} `)).map((l) => JSON.parse(l.slice(tag.length + 1)) as A)
  }
}
