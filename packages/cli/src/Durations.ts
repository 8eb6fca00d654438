/**
 * Durations and ids as the admin commands take and show them.
 *
 * Durations (`--lifetime`, `--min-age`, `min_age=`/`period=` of `gc --schedule`) are SlateDB's human forms
 * (its CLI reads them with the `humantime` crate): a number and a unit, repeated, as in `"7days 30min
 * 10s"`, `"1h"`, `"300s"`, `"0s"`. They are read by `Settings.parseDurationMs` (settings/Spellings.ts:
 * `ns`, `us`, `ms`, `s`/`sec`, `m`/`min`, `h`/`hr`, `d`/`day`, `w`/`week`, `month`, `y`/`year`, plurals,
 * any case), with two rules of the CLI's own:
 * - a unit is required (`300` alone is an error, as in SlateDB: seconds or milliseconds?);
 * - a capital `M` alone is refused: humantime reads it as months, the settings parser as minutes, so
 *   `1M` would mean different things to `slatedb-cli` and `shale`; `min` or `month` say which.
 *
 * Ids: checkpoint ids are UUIDs, written hyphenated (`01740ee5-6459-44af-9a45-85deb6e468e3`, any case) or
 * as 32 hex digits (as SlateDB's `Uuid::parse_str` also takes); they are returned hyphenated, lower-case.
 */
import { Settings } from "@shale/core"
import { Effect } from "effect"
import { usage } from "./Errors.ts"

/** `text` as milliseconds, or a usage error naming `flag`. */
export const parseCliDuration = (flag: string, text: string) =>
  Effect.suspend(() => {
    const bad = (why: string) =>
      Effect.fail(usage(`${flag} expects a duration such as "7days 30min 10s", "1h", "300s" or "0s", got ${JSON.stringify(text)}${why}`))
    if (/^\s*\d+(\.\d+)?\s*$/.test(text)) return bad(" (a unit is required)")
    if (/\d\s*M(?![a-zA-Z])/.test(text)) return bad(` ("M" is ambiguous: write "min" for minutes or "month" for months)`)
    const ms = Settings.parseDurationMs(text)
    return ms === undefined ? bad("") : Effect.succeed(Math.round(ms))
  })

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1]
]

/** Milliseconds in the same form: `0s`, `300ms`, `5m`, `7d 30m 10s` (which `parseCliDuration` reads back). */
export const formatDuration = (ms: number): string => {
  if (ms <= 0) return "0s"
  const parts: Array<string> = []
  let rest = Math.round(ms)
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size)
    if (n > 0) parts.push(`${n}${unit}`)
    rest -= n * size
  }
  return parts.join(" ")
}

const HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const SIMPLE = /^[0-9a-f]{32}$/i

/** A checkpoint id given to `flag`, hyphenated and lower-cased; a usage error if it is not a UUID. */
export const parseUuid = (flag: string, text: string) =>
  Effect.suspend(() => {
    const s = text.trim()
    if (HYPHENATED.test(s)) return Effect.succeed(s.toLowerCase())
    if (SIMPLE.test(s)) {
      const h = s.toLowerCase()
      return Effect.succeed(`${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`)
    }
    return Effect.fail(
      usage(`${flag} expects a checkpoint id (a UUID such as 01740ee5-6459-44af-9a45-85deb6e468e3), got ${JSON.stringify(text)}`)
    )
  })

/** Unix seconds as an ISO-8601 UTC time without the (always zero) milliseconds. */
export const formatSeconds = (s: number): string => new Date(s * 1000).toISOString().replace(".000Z", "Z")
