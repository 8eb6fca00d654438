#!/usr/bin/env node
/**
 * Launcher of the `shale` command.
 *
 * - Installed as a package: runs the build, `../dist/bin/shale.js` (plain JavaScript, one tree-shaken
 *   bundle: rolldown.config.mjs).
 * - In a checkout of the repository (`../src/main.ts` is there): runs the TypeScript sources directly, by
 *   Node's type stripping, with the `@shale/source` export condition so that `@shale/core` and the other
 *   workspace packages resolve to their sources too: nothing needs building first. That needs Node ≥ 22.18
 *   (type stripping; `module.registerHooks` is there from 22.15). Under an older Node (a system `node` 20
 *   running the bin directly) it looks for the Node 22 the repository pins (`node_modules/.bin/node`, from
 *   the `node` devDependency) in this directory's ancestors and re-runs the command with it, passing the
 *   arguments, stdio, exit code and signals through.
 */
import { spawn } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const here = dirname(realpathSync(fileURLToPath(import.meta.url)))
const source = join(here, "..", "src", "main.ts")

if (!existsSync(source)) {
  await import(pathToFileURL(join(here, "..", "dist", "bin", "shale.js")).href)
} else {
  const [major, minor] = process.versions.node.split(".").map(Number)
  const canStripTypes = major > 22 || (major === 22 && minor >= 18)
  if (canStripTypes) {
    const { registerHooks } = await import("node:module")
    registerHooks({
      resolve: (specifier, context, next) =>
        next(specifier, { ...context, conditions: [...context.conditions, "@shale/source"] })
    })
    await import(pathToFileURL(source).href)
  } else {
    const findNode = () => {
      for (let dir = here; ; dir = dirname(dir)) {
        const candidate = join(dir, "node_modules", ".bin", "node")
        if (existsSync(candidate)) return candidate
        if (dirname(dir) === dir) return undefined
      }
    }
    const node = findNode()
    if (node === undefined) {
      process.stderr.write(
        `shale: running from the sources needs Node.js >= 22.18 (this is ${process.versions.node}); run \`npx shale\` from the repository\n`
      )
      process.exit(6)
    }
    const child = spawn(node, ["--conditions=@shale/source", source, ...process.argv.slice(2)], { stdio: "inherit" })
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal))
    child.on("exit", (code, signal) => {
      if (signal !== null) process.kill(process.pid, signal)
      else process.exit(code ?? 1)
    })
  }
}
