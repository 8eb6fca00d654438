/**
 * A scan's pages (sst/SsTableScan.ts `PageRanges`): computed page by page, they are the pages the listing
 * they replace gave (1 block, then twice as many, up to `step`, in scan order), for every block span and
 * step up to 70, both orders; so every block of the span is in exactly one page, in order.
 */
import { assert, describe, it } from "@effect/vitest"
import { PageRanges } from "../../src/sst/SsTableScan.ts"

/** The listing `planScan` made before (the reference). */
const listed = (first: number, last: number, descending: boolean, step: number): Array<[number, number]> => {
  const out: Array<[number, number]> = []
  let width = 1
  if (descending) {
    for (let c = last; c >= first; width = Math.min(step, 2 * width)) {
      const from = Math.max(first, c - width + 1)
      out.push([from, c])
      c = from - 1
    }
  } else {
    for (let c = first; c <= last; width = Math.min(step, 2 * width)) {
      const to = Math.min(last, c + width - 1)
      out.push([c, to])
      c = to + 1
    }
  }
  return out
}

describe("PageRanges", () => {
  it("gives the listed pages for every span and step", () => {
    for (const descending of [false, true]) {
      for (let step = 1; step <= 70; step++) {
        for (let blocks = 0; blocks <= 300; blocks++) {
          const first = 7
          const last = first + blocks - 1
          const pages = new PageRanges(first, last, descending, step)
          const got = Array.from({ length: pages.count }, (_, p): [number, number] => [pages.from(p), pages.to(p)])
          assert.deepStrictEqual(got, listed(first, last, descending, step), `${blocks} blocks, step ${step}, ${descending ? "desc" : "asc"}`)
        }
      }
    }
  })

  it("a large SST: the pages near its start without listing the rest", () => {
    const pages = new PageRanges(0, 16_383, false, 16)
    assert.strictEqual(pages.count, 5 + Math.ceil((16_384 - 31) / 16))
    assert.deepStrictEqual([pages.from(0), pages.to(0), pages.from(4), pages.to(4), pages.from(5), pages.to(5)], [0, 0, 15, 30, 31, 46])
    assert.strictEqual(pages.to(pages.count - 1), 16_383)
  })
})
