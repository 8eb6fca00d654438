/**
 * The answer of a `ListObjectsV2` request on the lean transport (S3Lean.ts): the XML document S3 sends
 * (`<ListBucketResult>` with a `<Contents>` per object, `<IsTruncated>`, `<NextContinuationToken>`), read
 * for the four fields of each object the store returns and the two that drive paging. The document is
 * flat and its elements hold text only, so this reads them by their tags and decodes XML's character
 * references; nothing else in the document is looked at. Design note: docs/design/s3-object-store.md §4.
 */

/** One object of a listing, its key as S3 sent it (the whole key, store prefix included). */
export interface ListedObject {
  readonly key: string
  readonly size: number
  /** Milliseconds since the epoch (0 when S3 sent none or an unreadable date). */
  readonly lastModified: number
  readonly etag: string | undefined
}

export interface ListedPage {
  readonly objects: ReadonlyArray<ListedObject>
  readonly truncated: boolean
  /** The token of the next page (`continuation-token`), when there is one. */
  readonly next: string | undefined
}

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'" }
const REFERENCE = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g

/** XML text with its character and entity references replaced. */
export const unescapeXml = (text: string): string =>
  text.indexOf("&") < 0
    ? text
    : text.replace(REFERENCE, (_, hex: string | undefined, dec: string | undefined, name: string | undefined) =>
      hex !== undefined
        ? String.fromCodePoint(Number.parseInt(hex, 16))
        : dec !== undefined
        ? String.fromCodePoint(Number.parseInt(dec, 10))
        : NAMED[name!]!)

/** The text of the first `<tag>` element within `xml[from, to)`, unescaped; undefined without one. */
const textOf = (xml: string, tag: string, from: number, to: number): string | undefined => {
  const open = `<${tag}>`
  const start = xml.indexOf(open, from)
  if (start < 0 || start >= to) return undefined
  const end = xml.indexOf(`</${tag}>`, start + open.length)
  if (end < 0 || end > to) return undefined
  return unescapeXml(xml.slice(start + open.length, end))
}

const decoder = new TextDecoder()

/** Reads one page of a `ListObjectsV2` answer. Throws on a document that is not one. */
export const parseListPage = (body: Uint8Array): ListedPage => {
  const xml = decoder.decode(body)
  if (!xml.includes("<ListBucketResult")) throw new Error(`not a ListObjectsV2 answer: ${xml.slice(0, 200)}`)
  const objects: Array<ListedObject> = []
  let at = xml.indexOf("<Contents>")
  const firstContents = at < 0 ? xml.length : at
  let afterContents = firstContents
  while (at >= 0) {
    const end = xml.indexOf("</Contents>", at)
    if (end < 0) throw new Error("a listing's <Contents> element is not closed")
    const key = textOf(xml, "Key", at, end)
    if (key !== undefined) {
      const modified = Date.parse(textOf(xml, "LastModified", at, end) ?? "")
      objects.push({
        key,
        size: Number(textOf(xml, "Size", at, end) ?? 0) || 0,
        lastModified: Number.isNaN(modified) ? 0 : modified,
        etag: textOf(xml, "ETag", at, end)
      })
    }
    afterContents = end + "</Contents>".length
    at = xml.indexOf("<Contents>", afterContents)
  }
  // The paging fields lie outside the objects (before or after them).
  const field = (tag: string) => textOf(xml, tag, 0, firstContents) ?? textOf(xml, tag, afterContents, xml.length)
  return { objects, truncated: field("IsTruncated") === "true", next: field("NextContinuationToken") }
}
