/**
 * Both ends of a benchmark worker's IPC channel (`child_process.fork`), for the workloads whose workers
 * ask the harness questions (W2, W3).
 *
 * - In the worker, `workerChannel`: `send` a message (resolves once it is handed to the channel), and
 *   `ask` a question (a message carrying a fresh `id`) and await the harness's reply with that id.
 * - In the harness, `forkWorker`: starts the worker, prints its progress, hands its other messages to the
 *   caller, kills it after `timeoutMs`, and settles on the worker's outcome once it exits.
 */
import { fork } from "node:child_process"

export const workerChannel = <Out, In extends { readonly id: number }>(usage: string) => {
  const replies = new Map<number, (m: In) => void>()
  process.on("message", (raw) => {
    const m = raw as In
    replies.get(m.id)?.(m)
    replies.delete(m.id)
  })
  let nextId = 1
  const send = (message: Out): Promise<void> =>
    new Promise((resolve, reject) => {
      if (process.send === undefined) reject(new Error(usage))
      else process.send(message, undefined, {}, () => resolve())
    })
  const ask = async (make: (id: number) => Out): Promise<In> => {
    const id = nextId++
    const reply = new Promise<In>((resolve) => replies.set(id, resolve))
    await send(make(id))
    return reply
  }
  return { send, ask }
}

export type Outcome<R> =
  | { readonly kind: "done"; readonly result: R }
  | { readonly kind: "unavailable"; readonly message: string }
  | { readonly kind: "failed"; readonly message: string }

/** The messages every worker sends (its progress, and how it ended); others go to `onMessage`. */
export type Common<R> =
  | { readonly type: "progress"; readonly line: string }
  | { readonly type: "done"; readonly result: R }
  | { readonly type: "unavailable"; readonly message: string }
  | { readonly type: "failed"; readonly message: string }

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

export interface Worker<In> {
  /** Sends to the worker, unless it has exited. */
  readonly reply: (m: In) => void
  readonly exited: () => boolean
}

export const forkWorker = <R, M extends { readonly type: string }, In>(options: {
  readonly script: string
  readonly args: ReadonlyArray<string>
  readonly env?: Readonly<Record<string, string>>
  readonly label: string
  readonly timeoutMs: number
  /** Called with a way to kill the worker, and with undefined once it has exited (Ctrl-C handling). */
  readonly onChild: (kill: (() => void) | undefined) => void
  readonly onMessage: (m: M, worker: Worker<In>) => void
}): Promise<Outcome<R>> =>
  new Promise<Outcome<R>>((resolve) => {
    let outcome: Outcome<R> | undefined
    let exited = false
    const child = fork(options.script, [...options.args], {
      // Workers import @shale/core from its sources, as the harness does (docs/design/packaging.md).
      execArgv: ["--disable-warning=ExperimentalWarning", "--conditions=@shale/source"],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } })
    })
    options.onChild(() => child.kill("SIGKILL"))
    // Whatever the engine prints (logs, native warnings) goes to stderr, labelled.
    for (const stream of [child.stdout, child.stderr]) {
      let pending = ""
      stream?.setEncoding("utf8").on("data", (chunk: string) => {
        const lines = (pending + chunk).split("\n")
        pending = lines.pop() ?? ""
        for (const line of lines) if (line.length > 0) console.error(`[${options.label}] ${line}`)
      })
    }
    const timer = setTimeout(() => {
      outcome ??= { kind: "failed", message: `timed out after ${seconds(options.timeoutMs)} (--timeout)` }
      child.kill("SIGKILL")
    }, options.timeoutMs)
    const worker: Worker<In> = {
      reply: (m) => {
        if (!exited) child.send(m as object)
      },
      exited: () => exited
    }
    child.on("message", (raw) => {
      const m = raw as Common<R> | M
      switch (m.type) {
        case "progress":
          console.log(`[${options.label}] ${(m as Common<R> & { type: "progress" }).line}`)
          break
        case "done":
          outcome ??= { kind: "done", result: (m as Common<R> & { type: "done" }).result }
          break
        case "unavailable":
        case "failed":
          outcome ??= { kind: m.type, message: (m as Common<R> & { type: "failed" }).message }
          break
        default:
          options.onMessage(m as M, worker)
      }
    })
    child.on("error", (e) => {
      outcome ??= { kind: "failed", message: `could not start the worker: ${e.message}` }
    })
    child.on("exit", (code, signal) => {
      exited = true
      clearTimeout(timer)
      options.onChild(undefined)
      resolve(outcome ?? { kind: "failed", message: `worker exited (${signal ?? `code ${code}`}) without a result` })
    })
  })
