/** Running the `shale` bin as a child process, as a user does. */
import { expect } from "@effect/vitest"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const BIN = fileURLToPath(new URL("../bin/shale.mjs", import.meta.url))

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `shale <args>` with the test runner's Node (22), no SHALE_DB in the environment, `input` on stdin. */
export const shale = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>> = {},
  input?: string
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env, NO_COLOR: "1" }
    if (env["SHALE_DB"] === undefined) delete childEnv["SHALE_DB"]
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: childEnv
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (c: string) => (stdout += c))
    child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    if (input !== undefined) child.stdin!.end(input)
  })

export const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "shale-cli-"))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export const ok = (r: Result): Result => {
  expect(r.code, `exit code; stderr:\n${r.stderr}`).toBe(0)
  return r
}

export const lines = (s: string): Array<string> => s.split("\n").filter((l) => l.length > 0)
