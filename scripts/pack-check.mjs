#!/usr/bin/env node
/**
 * The packaging check (`npm run check:pack`; a step of .ci/run): proves the packages work where users
 * get them, outside this workspace.
 *
 * 1. Builds every package (`npm run build`: TypeScript's emit into each package's `dist/`) from clean.
 * 2. Checks that @shale/core's main entry statically imports no Node-only module (Node-only parts are in
 *    `@shale/core/node` or loaded on demand); `npm pack`s @shale/core, @shale/s3, @shale/testing and
 *    @shale/cli, and checks each tarball: no tests, benches, build info or config files; the `exports`
 *    targets present.
 * 3. Installs the tarballs (and `effect`) into a fresh project in a temporary directory outside the
 *    workspace, with npm, as a user would.
 * 4. Runs scripts/pack-check/consumer.mjs there (plain JavaScript) with type stripping disabled, and the
 *    installed `shale` command on the database it wrote (get, scan, export | import, an exit code), and
 *    reports the command's start-up time.
 * 5. Type-checks scripts/pack-check/consumer.ts with a `tsc --init` tsconfig (strict; only `types` and
 *    `outDir` added), runs the compiled JavaScript the same way.
 * 6. With `--min-node` (CI): installs the lowest supported Node (the `node` package at the version
 *    `engines` names) into another temporary directory and runs steps 4 and 5's programs with it.
 *
 * Prints one line per check and ends with `pack-check: N passed, N failed`; exits non-zero if any failed.
 * Temporary directories are removed unless `--keep`.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..")
const PACKAGES = ["core", "s3", "testing", "cli"]
const args = new Set(process.argv.slice(2))
const node = process.execPath
const npm = process.platform === "win32" ? "npm.cmd" : "npm"
const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc")
const effectVersion = JSON.parse(readFileSync(join(ROOT, "node_modules", "effect", "package.json"), "utf8")).version
const typesNodeVersion = JSON.parse(readFileSync(join(ROOT, "node_modules", "@types", "node", "package.json"), "utf8")).version
/** The lowest Node `engines` allows (`>=22.19` → `22.19.0`). */
const minNode = (() => {
  const v = JSON.parse(readFileSync(join(ROOT, "packages", "core", "package.json"), "utf8")).engines.node.replace(/^>=\s*/, "")
  return [...v.split("."), "0", "0"].slice(0, 3).join(".")
})()

let passed = 0
let failed = 0
const temps = []

const tempDir = (prefix) => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  temps.push(d)
  return d
}

/** Runs a command; returns its output, or throws with its output on failure. */
const sh = (cmd, argv, options = {}) => {
  const r = spawnSync(cmd, argv, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  if (r.status !== 0) {
    throw new Error(`${cmd} ${argv.join(" ")} exited ${r.status ?? r.signal}\n${r.stdout ?? ""}${r.stderr ?? ""}`)
  }
  return r.stdout
}

const check = (name, f) => {
  const t0 = performance.now()
  try {
    const note = f()
    passed++
    console.log(`ok - ${name} (${((performance.now() - t0) / 1000).toFixed(1)} s)${note ? `: ${note}` : ""}`)
    return true
  } catch (e) {
    failed++
    console.log(`FAILED - ${name}\n${String(e instanceof Error ? e.message : e).split("\n").map((l) => `    ${l}`).join("\n")}`)
    return false
  }
}

const kib = (n) => `${(n / 1024).toFixed(0)} KiB`

const tarballs = []
const project = tempDir("shale-pack-consumer-")
const noStripping = ["--no-experimental-strip-types"]

const build = () =>
  check("build (npm run build, from clean)", () => {
    for (const p of PACKAGES) rmSync(join(ROOT, "packages", p, "dist"), { recursive: true, force: true })
    sh(npm, ["run", "build"], { cwd: ROOT })
  })

/** Packs every package; fails on a tarball that ships tests, benches, build info or config, or misses an export. */
const pack = () =>
  check("npm pack: tarballs hold dist, src, bin and nothing of tests or benches", () => {
    const packDir = tempDir("shale-pack-tarballs-")
    const workspaces = PACKAGES.flatMap((p) => ["--workspace", `packages/${p}`])
    const packs = JSON.parse(sh(npm, ["pack", "--json", "--pack-destination", packDir, ...workspaces], { cwd: ROOT }))
    const notes = []
    for (const pack of packs) {
      const files = pack.files.map((f) => f.path)
      const bad = files.filter((f) => /(^|\/)(test|tests|bench)\//.test(f) || /tsbuildinfo|vitest\.config|tsconfig/.test(f))
      if (bad.length > 0) throw new Error(`${pack.name} ships ${bad.join(", ")}`)
      const manifest = JSON.parse(readFileSync(join(ROOT, "packages", pack.name.replace("@shale/", ""), "package.json"), "utf8"))
      for (const [entry, target] of Object.entries(manifest.exports)) {
        const paths = typeof target === "string" ? [target] : [target.types, target.default]
        for (const p of paths) {
          if (!files.includes(p.replace(/^\.\//, ""))) throw new Error(`${pack.name} export "${entry}" → ${p} is not in the tarball`)
        }
      }
      tarballs.push(join(packDir, pack.filename))
      notes.push(`${pack.name} ${kib(pack.size)} packed, ${kib(pack.unpackedSize)} unpacked, ${pack.entryCount} files`)
    }
    return notes.join("; ")
  })

/**
 * The packages (bare specifiers) a built module imports statically, following relative imports; dynamic
 * `import()`s (the local store, `@shale/s3`, the TOML/YAML parsers) are loaded only when used.
 */
const staticImports = (entry) => {
  const seen = new Set()
  const packages = new Set()
  const walk = (file) => {
    if (seen.has(file)) return
    seen.add(file)
    const text = readFileSync(file, "utf8")
    for (const m of text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"|^import\s+"([^"]+)"/gm)) {
      const spec = m[1] ?? m[2]
      if (spec.startsWith(".")) walk(join(dirname(file), spec))
      else packages.add(spec)
    }
  }
  walk(entry)
  return [...packages].sort()
}

/** The engine's main entry loads no Node built-in it does not need (only the codecs' node:zlib and node:buffer). */
const mainEntryImports = () =>
  check("@shale/core's main entry statically imports no Node-only module but node:zlib and node:buffer", () => {
    const imports = staticImports(join(ROOT, "packages", "core", "dist", "index.js"))
    const nodeOnly = imports.filter((i) => (i.startsWith("node:") && i !== "node:zlib" && i !== "node:buffer") || i.startsWith("@effect/platform-node"))
    if (nodeOnly.length > 0) throw new Error(`the main entry imports ${nodeOnly.join(", ")}`)
    return imports.join(", ")
  })

const install = () =>
  check(`install the tarballs into a fresh project outside the workspace (${project})`, () => {
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "shale-consumer", private: true, type: "module" }))
    const deps = [...tarballs, `effect@${effectVersion}`, `@types/node@${typesNodeVersion}`]
    sh(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", ...deps], { cwd: project })
    copyFileSync(join(ROOT, "scripts", "pack-check", "consumer.mjs"), join(project, "consumer.mjs"))
    mkdirSync(join(project, "src"))
    copyFileSync(join(ROOT, "scripts", "pack-check", "consumer.ts"), join(project, "src", "consumer.ts"))
  })

const typecheck = () =>
  check("consumer.ts type-checks and compiles with `tsc --init`'s strict tsconfig", () => {
    sh(node, [tsc, "--init"], { cwd: project })
    const path = join(project, "tsconfig.json")
    const text = readFileSync(path, "utf8")
    const patched = text.replace(/"types":\s*\[\]/, `"types": ["node"]`)
      .replace(/"compilerOptions":\s*\{/, `"compilerOptions": {\n    "outDir": "dist",\n    "rootDir": "src",`)
    if (patched === text || !patched.includes(`"types": ["node"]`)) throw new Error(`unexpected tsc --init output:\n${text}`)
    writeFileSync(path, patched)
    sh(node, [tsc, "-p", "tsconfig.json"], { cwd: project })
    return `TypeScript ${sh(node, [tsc, "--version"]).trim()}`
  })

/** The installed `shale` on the database consumer.mjs wrote; returns its start-up time. */
const useInstalledCli = (nodeBin, data) => {
  const shale = join(project, "node_modules", "@shale", "cli", "bin", "shale.mjs")
  const run = (argv, input) => sh(nodeBin, [...noStripping, shale, "--db", data, ...argv], { cwd: project, input })
  const got = run(["--path", "db", "get", "user:2"])
  if (got !== "bob\n") throw new Error(`shale get printed ${JSON.stringify(got)}`)
  const scan = run(["--path", "db", "--json", "scan"])
  if (scan.trim().split("\n").length !== 3) throw new Error(`shale scan printed ${scan}`)
  // export | import into a second database, read back; a missing key exits 1.
  const exported = run(["--path", "db", "export"])
  run(["--path", "copy", "import"], exported)
  const copied = run(["--path", "copy", "export"])
  if (copied !== exported) throw new Error(`the imported copy exports differently:\n${exported}\n---\n${copied}`)
  const missing = spawnSync(nodeBin, [...noStripping, shale, "--db", data, "--path", "db", "get", "nope"], { cwd: project })
  if (missing.status !== 1) throw new Error(`shale get of a missing key exited ${missing.status}`)
  // Start-up time of the installed command (reported, not judged: the machine is shared).
  const runs = 5
  const t0 = performance.now()
  for (let i = 0; i < runs; i++) sh(nodeBin, [shale, "--version"], { cwd: project })
  return `shale --version starts in ${Math.round((performance.now() - t0) / runs)} ms (mean of ${runs})`
}

const runConsumers = (nodeBin, label) => {
  check(`consumer.mjs on ${label} (plain JavaScript, no type stripping), then the installed shale`, () => {
    const data = tempDir("shale-pack-data-")
    sh(nodeBin, [...noStripping, "consumer.mjs", data], { cwd: project })
    return useInstalledCli(nodeBin, data)
  })
  check(`consumer.ts compiled, on ${label}`, () => {
    const data = tempDir("shale-pack-data-")
    sh(nodeBin, [...noStripping, join("dist", "consumer.js"), data], { cwd: project })
  })
}

/** Installs the `node` package at the lowest version `engines` allows; returns its binary. */
const installMinNode = () => {
  const nodeDir = tempDir("shale-pack-node-")
  let bin
  const ok = check(`install the lowest supported Node (${minNode}) from the npm registry`, () => {
    writeFileSync(join(nodeDir, "package.json"), JSON.stringify({ name: "min-node", private: true }))
    sh(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", `node@${minNode}`], { cwd: nodeDir })
    bin = join(nodeDir, "node_modules", ".bin", "node")
    const v = sh(bin, ["--version"]).trim()
    if (v !== `v${minNode}`) throw new Error(`installed ${v}`)
  })
  return ok ? bin : undefined
}

const steps = () => {
  if (!build()) return
  mainEntryImports()
  if (!pack() || !install() || !typecheck()) return
  runConsumers(node, `Node ${process.versions.node}`)
  if (args.has("--min-node")) {
    const bin = installMinNode()
    if (bin !== undefined) runConsumers(bin, `Node ${minNode} (the lowest supported)`)
  }
}

try {
  steps()
} finally {
  if (!args.has("--keep")) for (const d of temps) rmSync(d, { recursive: true, force: true })
  else console.log(`kept: ${temps.join(" ")}`)
}
console.log(`pack-check: ${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
