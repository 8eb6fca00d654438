/**
 * The layering of packages/core/src (docs/design/layout.md): every relative import points to the same layer
 * or a lower one, and the module graph has no cycle.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, normalize, relative } from "node:path"
import { fileURLToPath } from "node:url"

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "src")

/** Layer of a directory (bottom = 0); files at the top of src/ are leaves, except the entry points. */
const RANK: Readonly<Record<string, number>> = {
  testing: 0,
  settings: 0,
  objectstore: 1,
  format: 2,
  sst: 3,
  memtable: 3,
  iter: 4,
  manifest: 4,
  wal: 4,
  compactor: 5,
  gc: 5,
  admin: 6,
  db: 7,
  bin: 8,
  api: 99
}

/** The entry points (the package's public and internal surfaces) may import anything. */
const ENTRIES: ReadonlySet<string> = new Set(["index.ts", "internal.ts", "node.ts"])

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  )

const rankOf = (file: string): number => {
  const rel = relative(SRC, file)
  if (ENTRIES.has(rel)) return 99
  const dir = rel.includes("/") ? rel.split("/")[0]! : ""
  if (dir === "") return 0
  const rank = RANK[dir]
  if (rank === undefined) throw new Error(`directory ${dir} has no layer in Layout.test.ts (and docs/design/layout.md)`)
  return rank
}

const importsOf = (file: string): Array<string> =>
  [...readFileSync(file, "utf8").matchAll(/from "(\.{1,2}\/[^"]+)"/g)].map((m) => normalize(join(dirname(file), m[1]!)))

describe("packages/core/src layout", () => {
  const all = files(SRC)
  const graph = new Map(all.map((f) => [f, importsOf(f).filter((t) => t.startsWith(SRC))]))

  it("imports point to the same layer or a lower one", () => {
    const upward = [...graph].flatMap(([from, targets]) =>
      targets.filter((to) => rankOf(to) > rankOf(from)).map((to) => `${relative(SRC, from)} -> ${relative(SRC, to)}`)
    )
    expect(upward).toEqual([])
  })

  it("no module imports itself through others", () => {
    const state = new Map<string, "visiting" | "done">()
    const cycles: Array<string> = []
    const visit = (f: string, path: Array<string>) => {
      if (state.get(f) === "done") return
      if (state.get(f) === "visiting") {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(" -> "))
        return
      }
      state.set(f, "visiting")
      for (const t of graph.get(f) ?? []) visit(t, [...path, f])
      state.set(f, "done")
    }
    for (const f of all) visit(f, [])
    expect(cycles).toEqual([])
  })
})
