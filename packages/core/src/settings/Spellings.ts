/**
 * How settings values may be written: durations and byte sizes as strings.
 *
 * Durations: a number and a unit, repeated (`"100ms"`, `"1s"`, `"1m 30s"`, `"1m30s"`, `"1s+500ms"`,
 * `"2 seconds"`). Units, in any case: `ns`, `us`/`µs`, `ms`/`msec`/`millis`, `s`/`sec`/`second`,
 * `m`/`min`/`minute`, `h`/`hour`, `d`/`day`, `w`/`week`, `mon`/`month` (30 days), `y`/`year` (365 days),
 * with plurals. This accepts everything SlateDB's `duration_str` reads (and SlateDB's own output, such as
 * `"1s+500ms"` or `"005ms"`) plus spaces and plurals. A part without a unit counts in the caller's unit:
 * milliseconds for Shale's `...Ms` settings, seconds for SlateDB's names (SlateDB reads `"100"` as 100 s).
 *
 * Byte sizes: a number (`"67108864"`) or a number and a unit (`"64MiB"`, `"4 KiB"`, `"1GB"`).
 */
import { ByteSize, Option } from "effect"

const MS_PER: Readonly<Record<string, number>> = (() => {
  const table: Record<string, number> = {}
  const add = (ms: number, ...names: ReadonlyArray<string>) => {
    for (const n of names) table[n] = ms
  }
  add(1e-6, "ns", "nsec", "nanosecond", "nanoseconds")
  add(1e-3, "us", "µs", "usec", "microsecond", "microseconds")
  add(1, "ms", "msec", "millis", "millisecond", "milliseconds")
  add(1000, "s", "sec", "secs", "second", "seconds")
  add(60_000, "m", "min", "mins", "minute", "minutes")
  add(3_600_000, "h", "hr", "hrs", "hour", "hours")
  add(86_400_000, "d", "day", "days")
  add(7 * 86_400_000, "w", "week", "weeks")
  add(30 * 86_400_000, "mon", "month", "months")
  add(365 * 86_400_000, "y", "year", "years")
  return table
})()

/** One part: a number, an optional unit, and the separator after it (spaces and at most one `+`). */
const PART = /(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*(?:\+\s*)?/y

/**
 * A duration string → milliseconds (possibly fractional), or undefined if it is not one. `bareUnitMs` is
 * the unit of a number written without one (1 for milliseconds, 1000 for SlateDB's seconds).
 */
export const parseDurationMs = (text: string, bareUnitMs = 1): number | undefined => {
  const s = text.trim()
  if (s.length === 0 || s.endsWith("+")) return undefined
  let total = 0
  let pos = 0
  while (pos < s.length) {
    PART.lastIndex = pos
    const m = PART.exec(s)
    if (m === null || PART.lastIndex === pos) return undefined
    const unit = m[2]!.length === 0 ? bareUnitMs : MS_PER[m[2]!.toLowerCase()]
    if (unit === undefined) return undefined
    total += Number(m[1]) * unit
    pos = PART.lastIndex
  }
  // Rounds away binary noise from the sub-millisecond units (1000000us is exactly 1000 ms).
  return Math.round(total * 1e6) / 1e6
}

/** `"4096"`, `"64MiB"`, `"4 KiB"`, `"1GB"` → bytes; undefined if unparsable. */
export const parseByteSize = (text: string): number | undefined => {
  const s = text.trim()
  if (/^\d+$/.test(s)) return Number(s)
  return Option.match(ByteSize.fromString(s), {
    onNone: () => undefined,
    onSome: (n) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined)
  })
}

/** `"42"` → 42; undefined unless the text is a non-negative integer. */
export const parseInteger = (text: string): number | undefined => (/^\s*\d+\s*$/.test(text) ? Number(text) : undefined)
