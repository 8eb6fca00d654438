import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { join, validatePath, validatePrefix } from "../src/internal.ts"

/** The path rule as the module comment states it, segment by segment (the reference for the one-pass check). */
const reference = (path: string, allowEmpty: boolean): string | undefined => {
  if (path.length === 0) return allowEmpty ? undefined : "path is empty"
  if (path.includes("\0")) return "path contains a NUL character"
  for (const s of path.split("/")) {
    if (s.length === 0) return "path has an empty segment"
    if (s === "." || s === "..") return `path has a '${s}' segment`
  }
  return undefined
}

const messageOf = (check: Effect.Effect<void, { readonly message: string }>): string | undefined =>
  Effect.runSync(check.pipe(Effect.match({ onFailure: (e) => e.message, onSuccess: () => undefined })))

/** Every string of up to `n` characters from `alphabet`. */
const strings = (alphabet: ReadonlyArray<string>, n: number): Array<string> => {
  const out = [""]
  let level = [""]
  for (let i = 0; i < n; i++) {
    level = level.flatMap((s) => alphabet.map((c) => s + c))
    out.push(...level)
  }
  return out
}

describe("ObjectPath", () => {
  it("accepts and rejects exactly what the segment rule says, with its message (every path of up to 7 characters over a, ., /, NUL)", () => {
    const paths = strings(["a", ".", "/", "\0"], 7)
    let accepted = 0
    for (const path of paths) {
      const expected = reference(path, false)
      assert.strictEqual(messageOf(validatePath("get", path)), expected, JSON.stringify(path))
      assert.strictEqual(messageOf(validatePrefix(path)), reference(path, true), JSON.stringify(path))
      if (expected === undefined) accepted++
    }
    // Not vacuous: names like `.a`, `a..` and `...` are accepted.
    assert.isAbove(accepted, 500)
    for (const ok of [".a", "a..", "...", "a/.b/c..", "wal/00000000000000000001.sst"]) assert.isUndefined(messageOf(validatePath("put", ok)))
  })

  it("join skips empty parts", () => {
    assert.strictEqual(join("db", "", "wal/1.sst"), "db/wal/1.sst")
    assert.strictEqual(join("", "a"), "a")
    assert.strictEqual(join("a", ""), "a")
    assert.strictEqual(join("", ""), "")
    assert.strictEqual(join(), "")
    assert.strictEqual(join("a", "b", "c"), "a/b/c")
  })
})
