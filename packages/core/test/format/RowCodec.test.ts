/**
 * Row codecs V0 and V2: SlateDB's golden snapshots (slatedb__format__row__tests__*.snap), varint examples,
 * flag validation, and fast-check round trips.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { DataError } from "../../src/errors.ts"
import { readI64, readU64, writeI64, writeU64 } from "../../src/format/BigEndian.ts"
import { checkFlags, decodeRowV2, encodedSizeV2, encodeRowV2 } from "../../src/format/RowCodec.ts"
import { decodeRowV0, encodedSizeV0, encodeRowV0 } from "../../src/format/RowCodecV0.ts"
import { makeMerge, makeTombstone, makeValue, type RowEntry, RowKind } from "../../src/format/RowEntry.ts"
import { encodeVarint, readVarint } from "../../src/format/Varint.ts"
import { arbRow, expectDataError, hex, text } from "./fixtures.ts"

/** Parses a Rust `Debug` string literal body (as in insta snapshots) into the string it denotes. */
const rustDebugString = (s: string): string =>
  s.replace(/\\(u\{([0-9a-f]+)\}|0|n|t|r|\\|"|')/g, (_m, esc: string, code?: string) => {
    if (code !== undefined) return String.fromCodePoint(parseInt(code, 16))
    switch (esc) {
      case "0":
        return "\0"
      case "n":
        return "\n"
      case "t":
        return "\t"
      case "r":
        return "\r"
      default:
        return esc
    }
  })

/** `String::from_utf8_lossy` (WHATWG decoding replaces maximal invalid subparts the same way). */
const lossy = (b: Uint8Array): string => new TextDecoder("utf-8").decode(b)

interface V0Case {
  readonly name: string
  readonly prefixLen: number
  readonly suffix: Uint8Array
  readonly seq: number
  readonly value: Uint8Array | undefined
  readonly createTs: number | undefined
  readonly expireTs: number | undefined
  readonly firstKey: Uint8Array
  /** The snapshot's encoded string (Rust Debug escapes), when we have it verbatim. */
  readonly snapshot?: string
  /** The expected bytes in hex, derived from the codec spec (checked against the snapshot when present). */
  readonly hex: string
  readonly restoredKey: string
}

const cases: ReadonlyArray<V0Case> = [
  {
    name: "normal row with expire_ts",
    prefixLen: 3,
    suffix: text("key"),
    seq: 1,
    value: text("value"),
    createTs: undefined,
    expireTs: 10,
    firstKey: text("prefixdata"),
    snapshot: "\\0\\u{3}\\0\\u{3}key\\0\\0\\0\\0\\0\\0\\0\\u{1}\\u{2}\\0\\0\\0\\0\\0\\0\\0\\n\\0\\0\\0\\u{5}value",
    hex: "00030003" + "6b6579" + "0000000000000001" + "02" + "000000000000000a" + "00000005" + "76616c7565",
    restoredKey: "prekey"
  },
  {
    name: "normal row without expire_ts",
    prefixLen: 0,
    suffix: text("key"),
    seq: 1,
    value: text("value"),
    createTs: undefined,
    expireTs: undefined,
    firstKey: text(""),
    snapshot: "\\0\\0\\0\\u{3}key\\0\\0\\0\\0\\0\\0\\0\\u{1}\\0\\0\\0\\0\\u{5}value",
    hex: "00000003" + "6b6579" + "0000000000000001" + "00" + "00000005" + "76616c7565",
    restoredKey: "key"
  },
  {
    name: "row with both timestamps",
    prefixLen: 5,
    suffix: text("both"),
    seq: 100,
    value: text("value"),
    createTs: 1234567890,
    expireTs: 9876543210,
    firstKey: text("test_both"),
    // docs/format.md §2.1.1 golden
    hex: "00050004626f7468" + "0000000000000064" + "06" + "000000024cb016ea" + "00000000499602d2" + "0000000576616c7565",
    restoredKey: "test_both"
  },
  {
    name: "row with only create_ts",
    prefixLen: 4,
    suffix: text("create"),
    seq: 50,
    value: text("test_value"),
    createTs: 1234567890,
    expireTs: undefined,
    firstKey: text("timecreate"),
    snapshot: "\\0\\u{4}\\0\\u{6}create\\0\\0\\0\\0\\0\\0\\02\\u{4}\\0\\0\\0\\0I\uFFFD\\u{2}\uFFFD\\0\\0\\0\\ntest_value",
    hex: "00040006" + "637265617465" + "0000000000000032" + "04" + "00000000499602d2" + "0000000a" +
      "746573745f76616c7565",
    restoredKey: "timecreate"
  },
  {
    name: "tombstone row",
    prefixLen: 4,
    suffix: text("tomb"),
    seq: 1,
    value: undefined,
    createTs: 2,
    expireTs: 1,
    firstKey: text("deadbeefdata"),
    snapshot:
      "\\0\\u{4}\\0\\u{4}tomb\\0\\0\\0\\0\\0\\0\\0\\u{1}\\u{7}\\0\\0\\0\\0\\0\\0\\0\\u{1}\\0\\0\\0\\0\\0\\0\\0\\u{2}",
    hex: "00040004" + "746f6d62" + "0000000000000001" + "07" + "0000000000000001" + "0000000000000002",
    restoredKey: "deadtomb"
  },
  {
    name: "empty key suffix",
    prefixLen: 4,
    suffix: text(""),
    seq: 1,
    value: text("value"),
    createTs: undefined,
    expireTs: undefined,
    firstKey: text("keyprefixdata"),
    snapshot: "\\0\\u{4}\\0\\0\\0\\0\\0\\0\\0\\0\\0\\u{1}\\0\\0\\0\\0\\u{5}value",
    hex: "00040000" + "0000000000000001" + "00" + "00000005" + "76616c7565",
    restoredKey: "keyp"
  },
  {
    name: "large value",
    prefixLen: 2,
    suffix: text("big"),
    seq: 1,
    value: new Uint8Array(100).fill(0x78),
    createTs: undefined,
    expireTs: undefined,
    firstKey: text("bigvalue"),
    hex: "00020003" + "626967" + "0000000000000001" + "00" + "00000064" + "78".repeat(100),
    restoredKey: "bibig"
  },
  {
    name: "long key suffix",
    prefixLen: 2,
    suffix: new Uint8Array(100).fill(0x6b),
    seq: 1,
    value: text("value"),
    createTs: undefined,
    expireTs: undefined,
    firstKey: text("longkey"),
    hex: "00020064" + "6b".repeat(100) + "0000000000000001" + "00" + "00000005" + "76616c7565",
    restoredKey: "lo" + "k".repeat(100)
  },
  {
    name: "unicode key suffix",
    prefixLen: 3,
    suffix: text("你好世界"),
    seq: 1,
    value: text("value"),
    createTs: undefined,
    expireTs: undefined,
    firstKey: text("unicode"),
    hex: "0003000c" + hex(text("你好世界")) + "0000000000000001" + "00" + "00000005" + "76616c7565",
    restoredKey: "uni你好世界"
  }
]

const rowOf = (c: V0Case): RowEntry => {
  // Any key whose first `prefixLen` bytes are the first key's prefix encodes to the same bytes.
  const key = new Uint8Array(c.prefixLen + c.suffix.length)
  key.set(c.firstKey.subarray(0, c.prefixLen), 0)
  key.set(c.suffix, c.prefixLen)
  return c.value === undefined
    ? { key, kind: RowKind.Tombstone, value: new Uint8Array(0), seq: c.seq, createTs: c.createTs, expireTs: c.expireTs }
    : makeValue(key, c.value, c.seq, c.createTs, c.expireTs)
}

describe("row codec V0 (SlateDB golden snapshots)", () => {
  for (const c of cases) {
    it(c.name, () => {
      const encoded = encodeRowV0(rowOf(c), c.prefixLen)
      assert.strictEqual(hex(encoded), c.hex)
      if (c.snapshot !== undefined) assert.strictEqual(lossy(encoded), rustDebugString(c.snapshot))
      const cursor = { pos: 0 }
      const decoded = decodeRowV0(encoded, cursor, encoded.length, c.firstKey)
      assert.strictEqual(cursor.pos, encoded.length)
      assert.strictEqual(new TextDecoder().decode(decoded.key), c.restoredKey)
      assert.strictEqual(decoded.seq, c.seq)
      assert.strictEqual(decoded.createTs, c.createTs)
      if (c.value === undefined) {
        assert.strictEqual(decoded.kind, RowKind.Tombstone)
        assert.strictEqual(decoded.expireTs, undefined, "V0 drops expire_ts on tombstones")
      } else {
        assert.strictEqual(decoded.kind, RowKind.Value)
        assert.strictEqual(hex(decoded.value), hex(c.value))
        assert.strictEqual(decoded.expireTs, c.expireTs)
      }
    })
  }

  it("large sequence number (u64::MAX) is rejected on decode, not rounded", () => {
    const bytes = Buffer.from("00030003" + "736571" + "ffffffffffffffff" + "00" + "00000005" + "76616c7565", "hex")
    expectDataError(() => decodeRowV0(bytes, { pos: 0 }, bytes.length, text("bigseq")), /2\^53/)
  })
})

describe("row codec V2", () => {
  it("encodes varints first, then suffix, value, seq, flags, timestamps", () => {
    const row = makeValue(text("abcabc"), text("xyz"), 1)
    const encoded = encodeRowV2(row, 3)
    assert.strictEqual(hex(encoded), "030303" + "616263" + "78797a" + "0000000000000001" + "00")
  })

  it("matches the one-row WAL golden's entry", () => {
    const row = makeValue(text("key1"), text("value1"), 1, 0x1a20e64c38d)
    assert.strictEqual(hex(encodeRowV2(row, 0)), "000406" + "6b657931" + "76616c756531" + "0000000000000001" + "04" +
      "000001a20e64c38d")
  })

  it("tombstones store value_len 0 and keep expire_ts on decode", () => {
    const row: RowEntry = {
      key: text("k"),
      kind: RowKind.Tombstone,
      value: new Uint8Array(0),
      seq: 7,
      createTs: 2,
      expireTs: 1
    }
    const encoded = encodeRowV2(row, 0)
    assert.strictEqual(hex(encoded), "000100" + "6b" + "0000000000000007" + "07" + "0000000000000001" + "0000000000000002")
    const decoded = decodeRowV2(encoded, { pos: 0 }, encoded.length, new Uint8Array(0))
    assert.strictEqual(decoded.kind, RowKind.Tombstone)
    assert.strictEqual(decoded.expireTs, 1)
    assert.strictEqual(decoded.createTs, 2)
  })

  it("multi-byte varints (200- and 20000-byte keys and values)", () => {
    for (const n of [200, 20000]) {
      const row = makeValue(new Uint8Array(n + 5).fill(0x6b), new Uint8Array(n).fill(0x76), 1)
      const encoded = encodeRowV2(row, 5)
      assert.strictEqual(encoded.length, encodedSizeV2(row, 5))
      const decoded = decodeRowV2(encoded, { pos: 0 }, encoded.length, row.key)
      assert.deepStrictEqual(decoded, { ...row, value: decoded.value })
      assert.strictEqual(hex(decoded.value), hex(row.value))
    }
  })

  it("a value row with value_len 0 decodes to an empty value", () => {
    const row = makeValue(text("k"), new Uint8Array(0), 1)
    const encoded = encodeRowV2(row, 0)
    const decoded = decodeRowV2(encoded, { pos: 0 }, encoded.length, new Uint8Array(0))
    assert.strictEqual(decoded.kind, RowKind.Value)
    assert.strictEqual(decoded.value.length, 0)
  })

  it("rejects a shared prefix longer than the previous key, and truncated rows", () => {
    const encoded = encodeRowV2(makeValue(text("abcd"), text("v"), 1), 2)
    expectDataError(() => decodeRowV2(encoded, { pos: 0 }, encoded.length, text("a")), /shares 2 bytes/)
    for (let cut = 0; cut < encoded.length; cut++) {
      expectDataError(() => decodeRowV2(encoded, { pos: 0 }, cut, text("ab")))
    }
  })
})

describe("varints", () => {
  it("SlateDB's examples", () => {
    const examples: ReadonlyArray<readonly [number, string]> = [
      [0, "00"],
      [127, "7f"],
      [128, "8001"],
      [300, "ac02"],
      [16384, "808001"],
      [0xffffffff, "ffffffff0f"]
    ]
    for (const [v, h] of examples) {
      assert.strictEqual(hex(encodeVarint(v)), h)
      const b = Buffer.from(h, "hex")
      const cursor = { pos: 0 }
      assert.strictEqual(readVarint(b, cursor, b.length), v)
      assert.strictEqual(cursor.pos, b.length)
    }
  })

  it("rejects truncated, over-long and > u32 varints", () => {
    for (const h of ["80", "ffff", "8080808080", "ffffffff1f", "ffffffffff01"]) {
      const b = Buffer.from(h, "hex")
      expectDataError(() => readVarint(b, { pos: 0 }, b.length))
    }
  })

  it("round-trips every u32 (sampled)", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const b = encodeVarint(v)
      const cursor = { pos: 0 }
      return readVarint(b, cursor, b.length) === v && cursor.pos === b.length
    }))
  })
})

describe("64-bit integers", () => {
  it("round-trip safe u64 and i64 values, and reject unsafe ones", () => {
    fc.assert(fc.property(fc.maxSafeNat(), fc.maxSafeInteger(), (u, i) => {
      const b = new Uint8Array(8)
      writeU64(b, 0, u)
      const okU = readU64(b, 0) === u
      writeI64(b, 0, i)
      return okU && readI64(b, 0) === i
    }))
    const big = Buffer.from("0020000000000000", "hex") // 2^53
    expectDataError(() => readU64(big, 0))
    expectDataError(() => readI64(big, 0))
    const minI64 = Buffer.from("8000000000000000", "hex")
    expectDataError(() => readI64(minI64, 0))
    const minusOne = Buffer.from("ffffffffffffffff", "hex")
    assert.strictEqual(readI64(minusOne, 0), -1)
  })
})

describe("row flags", () => {
  it("accepts the 16 combinations of known bits except TOMBSTONE|MERGE", () => {
    for (let f = 0; f < 0x100; f++) {
      const valid = f < 0x10 && (f & 0x09) !== 0x09
      if (valid) checkFlags(f)
      else expectDataError(() => checkFlags(f), /invalid row flags/)
    }
  })

  it("decoders reject bad flags with DataError (V0 and V2)", () => {
    for (const flags of [0x10, 0x80, 0x09, 0x0f]) {
      const v0 = encodeRowV0(makeValue(text("k"), text("v"), 1), 0)
      v0[4 + 1 + 8] = flags
      expectDataError(() => decodeRowV0(v0, { pos: 0 }, v0.length, new Uint8Array(0)), /invalid row flags/)
      const v2 = encodeRowV2(makeValue(text("k"), text("v"), 1), 0)
      v2[3 + 1 + 1 + 8] = flags
      expectDataError(() => decodeRowV2(v2, { pos: 0 }, v2.length, new Uint8Array(0)), /invalid row flags/)
    }
  })

  it("writers derive flags from the row", () => {
    const flagsOf = (row: RowEntry) => encodeRowV2(row, 0)[3 + row.key.length + row.value.length + 8]
    assert.strictEqual(flagsOf(makeValue(text("k"), text("v"), 1)), 0x00)
    assert.strictEqual(flagsOf(makeTombstone(text("k"), 1)), 0x01)
    assert.strictEqual(flagsOf(makeValue(text("k"), text("v"), 1, undefined, 5)), 0x02)
    assert.strictEqual(flagsOf(makeValue(text("k"), text("v"), 1, 5)), 0x04)
    assert.strictEqual(flagsOf(makeMerge(text("k"), text("v"), 1, 5, 6)), 0x0e)
    assert.strictEqual(flagsOf(makeTombstone(text("k"), 1, 3)), 0x05)
  })
})

describe("row codec round trips (fast-check)", () => {
  it("V0: decode(encode(row, prefix)) = row (tombstones lose expire_ts)", () => {
    fc.assert(fc.property(arbRow, fc.nat(), (row, p) => {
      const prefix = row.key.length === 0 ? 0 : p % (row.key.length + 1)
      const encoded = encodeRowV0(row, prefix)
      if (encoded.length !== encodedSizeV0(row, prefix)) return false
      const cursor = { pos: 0 }
      const decoded = decodeRowV0(encoded, cursor, encoded.length, row.key)
      const expected = row.kind === RowKind.Tombstone ? { ...row, expireTs: undefined } : row
      assert.deepStrictEqual(normalize(decoded), normalize(expected))
      return cursor.pos === encoded.length
    }), { numRuns: 500 })
  })

  it("V2: decode(encode(row, shared)) = row", () => {
    fc.assert(fc.property(arbRow, fc.nat(), (row, p) => {
      const shared = p % (row.key.length + 1)
      const encoded = encodeRowV2(row, shared)
      if (encoded.length !== encodedSizeV2(row, shared)) return false
      const cursor = { pos: 0 }
      const decoded = decodeRowV2(encoded, cursor, encoded.length, row.key)
      assert.deepStrictEqual(normalize(decoded), normalize(row))
      return cursor.pos === encoded.length
    }), { numRuns: 500 })
  })

  it("decoders never throw anything but DataError on arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 8 }), (bytes, ref) => {
      for (const decode of [decodeRowV0, decodeRowV2]) {
        try {
          decode(bytes, { pos: 0 }, bytes.length, ref)
        } catch (e) {
          if (!(e instanceof DataError)) throw e
        }
      }
    }), { numRuns: 2000 })
  })
})

const normalize = (r: RowEntry) => ({
  key: hex(r.key),
  kind: r.kind,
  value: hex(r.value),
  seq: r.seq,
  createTs: r.createTs,
  expireTs: r.expireTs
})
