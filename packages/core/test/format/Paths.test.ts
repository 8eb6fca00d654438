import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  compactedDir,
  compactedSstPath,
  compactionsDir,
  compactionsPath,
  formatId,
  manifestDir,
  manifestPath,
  normalizeRoot,
  parseCompactedSstId,
  parseCompactionsId,
  parseManifestId,
  parseWalSstId,
  walDir,
  walSstPath
} from "../../src/format/Paths.ts"

describe("Paths", () => {
  it("builds SlateDB's object paths", () => {
    expect(manifestPath("db", 1)).toBe("db/manifest/00000000000000000001.manifest")
    expect(compactionsPath("db", 12)).toBe("db/compactions/00000000000000000012.compactions")
    expect(walSstPath("db", 123456789)).toBe("db/wal/00000000000123456789.sst")
    expect(compactedSstPath("db", "01HZX4V4K0B1F9J8Q2Z3M5N6P7")).toBe("db/compacted/01HZX4V4K0B1F9J8Q2Z3M5N6P7.sst")
    expect(formatId(Number.MAX_SAFE_INTEGER)).toBe("00009007199254740991")
  })

  it("normalises the root like object_store::path::Path", () => {
    expect(normalizeRoot("/a/b/")).toBe("a/b")
    expect(normalizeRoot("//db")).toBe("db")
    expect(normalizeRoot("/")).toBe("")
    expect(manifestPath("/db/", 2)).toBe("db/manifest/00000000000000000002.manifest")
    expect(manifestPath("", 2)).toBe("manifest/00000000000000000002.manifest")
    expect(walSstPath("/", 3)).toBe("wal/00000000000000000003.sst")
    expect(manifestDir("a/b")).toBe("a/b/manifest")
    expect(compactionsDir("")).toBe("compactions")
    expect(walDir("x/")).toBe("x/wal")
    expect(compactedDir("x")).toBe("x/compacted")
  })

  it("rejects ids that are not u64 safe integers", () => {
    expect(() => manifestPath("db", -1)).toThrow()
    expect(() => manifestPath("db", 1.5)).toThrow()
    expect(() => walSstPath("db", 2 ** 53)).toThrow()
  })

  it("parses listed manifest and compactions names", () => {
    expect(parseManifestId("db/manifest/00000000000000000007.manifest")).toBe(7)
    expect(parseManifestId("manifest/00000000000000000007.manifest")).toBe(7)
    expect(parseManifestId("db/manifest/7.manifest")).toBe(7) // Rust parses the stem as u64, padding optional
    expect(parseCompactionsId("db/compactions/00000000000000000003.compactions")).toBe(3)
    // foreign files
    expect(parseManifestId("db/manifest/00000000000000000007.manifest.tmp")).toBeUndefined()
    expect(parseManifestId("db/manifest/00000000000000000007.compactions")).toBeUndefined()
    expect(parseManifestId("db/manifest/abc.manifest")).toBeUndefined()
    expect(parseManifestId("db/manifest/.manifest")).toBeUndefined()
    expect(parseManifestId("db/manifest/manifest")).toBeUndefined()
    expect(parseManifestId("db/manifest/-1.manifest")).toBeUndefined()
    expect(parseManifestId("db/manifest/+1.manifest")).toBeUndefined()
    expect(parseManifestId("db/manifest/99999999999999999999.manifest")).toBeUndefined() // > 2^53
    expect(parseCompactionsId("db/compactions/00000000000000000003.manifest")).toBeUndefined()
  })

  it("parses listed WAL and compacted SST names", () => {
    expect(parseWalSstId("db/wal/00000000000000000042.sst")).toBe(42)
    expect(parseWalSstId("db/wal/42.anything")).toBe(42)
    expect(parseWalSstId("db/wal/42")).toBeUndefined()
    expect(parseWalSstId("db/wal/x42.sst")).toBeUndefined()
    expect(parseCompactedSstId("db/compacted/01HZX4V4K0B1F9J8Q2Z3M5N6P7.sst")).toBe("01HZX4V4K0B1F9J8Q2Z3M5N6P7")
    expect(parseCompactedSstId("db/compacted/01hzx4v4k0b1f9j8q2z3m5n6p7.sst")).toBe("01HZX4V4K0B1F9J8Q2Z3M5N6P7")
    expect(parseCompactedSstId("db/compacted/81HZX4V4K0B1F9J8Q2Z3M5N6P7.sst")).toBeUndefined() // > 128 bits
    expect(parseCompactedSstId("db/compacted/01HZX4V4K0B1F9J8Q2Z3M5N6PI.sst")).toBeUndefined() // I is not Crockford
    expect(parseCompactedSstId("db/compacted/short.sst")).toBeUndefined()
  })

  it("path builders and parsers agree", () => {
    fc.assert(fc.property(fc.maxSafeNat(), fc.constantFrom("", "db", "/a/b/"), (id, root) => {
      expect(parseManifestId(manifestPath(root, id))).toBe(id)
      expect(parseCompactionsId(compactionsPath(root, id))).toBe(id)
      expect(parseWalSstId(walSstPath(root, id))).toBe(id)
      expect(manifestPath(root, id).endsWith(".manifest")).toBe(true)
    }))
  })
})
