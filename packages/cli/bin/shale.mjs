#!/usr/bin/env node
/**
 * Launcher of the `shale` command. The command is TypeScript (`../src/main.ts`), run by Node's built-in type
 * stripping, which needs Node ≥ 22.18. Under such a Node this file simply imports the command. Under an
 * older Node (a system `node` 20 running the bin directly) it looks for the Node 22 the repository pins
 * (`node_modules/.bin/node`, from the `node` devDependency) in this directory's ancestors and re-runs the
 * command with it, passing the arguments, stdio, exit code and signals through.
 */
import { spawn } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(realpathSync(fileURLToPath(import.meta.url)))
const main = join(here, "..", "src", "main.ts")

const [major, minor] = process.versions.node.split(".").map(Number)
const canStripTypes = major > 22 || (major === 22 && minor >= 18)

const findNode = () => {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", ".bin", "node")
    if (existsSync(candidate)) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

if (canStripTypes) {
  await import(main)
} else {
  const node = findNode()
  if (node === undefined) {
    process.stderr.write(
      `shale: needs Node.js >= 22.18 (this is ${process.versions.node}); run it with \`npx shale\` from the repository\n`
    )
    process.exit(1)
  }
  const child = spawn(node, [main, ...process.argv.slice(2)], { stdio: "inherit" })
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => {
    if (signal !== null) process.kill(process.pid, signal)
    else process.exit(code ?? 1)
  })
}
