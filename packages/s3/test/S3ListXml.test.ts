import { assert, describe, it } from "@effect/vitest"
import { parseListPage, unescapeXml } from "../src/S3ListXml.ts"

const bytes = (s: string) => new TextEncoder().encode(s)

describe("S3ListXml", () => {
  it("reads objects, escaped keys and ETags, and the paging fields before or after the objects", () => {
    const doc = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a&amp;b&lt;c&gt;&quot;d&apos;</Key><LastModified>2026-12-06T10:00:00.000Z</LastModified>
<ETag>&quot;abc123&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/&#252;&#x1F600;</Key><LastModified>nonsense</LastModified><Size>7</Size>
<Owner><ID>owner</ID></Owner></Contents>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>`
    const page = parseListPage(bytes(doc))
    assert.deepStrictEqual(page, {
      objects: [
        { key: "p/a&b<c>\"d'", size: 434234, lastModified: Date.UTC(2026, 11, 6, 10), etag: "\"abc123\"" },
        { key: "p/ü😀", size: 7, lastModified: 0, etag: undefined }
      ],
      truncated: true,
      next: "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
    })
    // The paging fields after the objects (radosgw's order) are found as well.
    const after = parseListPage(bytes(
      `<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>`
    ))
    assert.deepStrictEqual(after, { objects: [{ key: "k", size: 1, lastModified: 0, etag: undefined }], truncated: false, next: undefined })
  })

  it("an empty listing has no objects; a document that is not a listing, or is cut short, throws", () => {
    assert.deepStrictEqual(parseListPage(bytes(`<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`)), {
      objects: [],
      truncated: false,
      next: undefined
    })
    assert.throws(() => parseListPage(bytes(`<Error><Code>NoSuchBucket</Code></Error>`)), /not a ListObjectsV2 answer/)
    assert.throws(() => parseListPage(bytes(`<ListBucketResult><Contents><Key>k</Key>`)), /not closed/)
  })

  it("unescapes the five entities and numeric references, and leaves other text alone", () => {
    assert.strictEqual(unescapeXml("a &amp;amp; b"), "a &amp; b")
    assert.strictEqual(unescapeXml("&#65;&#x42;&lt;&gt;&quot;&apos;"), "AB<>\"'")
    assert.strictEqual(unescapeXml("no refs & here; &unknown;"), "no refs & here; &unknown;")
  })
})
