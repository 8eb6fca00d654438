/**
 * The schemas of single settings values, shared by every group of settings (Settings.ts,
 * BackgroundSettings.ts): numbers that may be spelt as strings (durations, byte sizes, integers), the
 * "milliseconds or never" duration, defaults, and the "a group of settings, or off" shape of `compactor`
 * and `garbageCollector`.
 *
 * Every number also accepts a string (environment variables are strings, and JSON may use either), read by
 * settings/Spellings.ts: durations in milliseconds (`100`) or with units (`"100ms"`, `"5m"`), byte sizes
 * as numbers or with units (`"64MiB"`).
 */
import { Effect, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { parseByteSize, parseDurationMs, parseInteger } from "./Spellings.ts"

/** A number, or a string spelling of one (JSON may use either; environment variables are strings). */
const numberOrString = (parse: (s: string) => number | undefined, expected: string) =>
  Schema.Union([Schema.Number, Schema.String]).pipe(
    Schema.decodeTo(
      Schema.Number,
      SchemaTransformation.transformEffect({
        decode: (x: number | string, options) => {
          if (typeof x === "number") return Effect.succeed(x)
          const n = parse(x)
          return n === undefined
            ? Effect.fail(new SchemaIssue.InvalidValue({ message: `Expected ${expected}, got ${JSON.stringify(x)}` }, x, options))
            : Effect.succeed(n)
        },
        encode: (n: number) => Effect.succeed(n)
      })
    )
  )

/** Whole milliseconds, at least `min`: `300000`, `"300000"`, `"5m"`, `"1m 30s"`. */
export const durationMs = (min: number) =>
  numberOrString(parseDurationMs, `a duration (milliseconds, or a string like "100ms", "1s", "5m")`).check(
    Schema.isInt(),
    Schema.isGreaterThanOrEqualTo(min)
  )

/** A finite number, at least `min`: `4`, `"2.5"`. */
export const fraction = (min: number) =>
  numberOrString((x) => (/^\s*[0-9]+(\.[0-9]+)?\s*$/.test(x) ? Number(x) : undefined), "a number").check(
    Schema.isFinite(),
    Schema.isGreaterThanOrEqualTo(min)
  )

/** An integer, at least `min`. */
export const integer = (min: number) =>
  numberOrString(parseInteger, "an integer").check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(min))

/** Whole bytes, at least `min`: `67108864`, `"64MiB"`. */
export const byteSize = (min: number) =>
  numberOrString(parseByteSize, `a byte size (a number, or a string like "64MiB")`).check(
    Schema.isInt(),
    Schema.isGreaterThanOrEqualTo(min)
  )

/** A whole number at least 1 read by `parse` from a string, or null (also spelt `"none"` or `"null"`). */
const positiveOrNone = (parse: (s: string) => number | undefined, expected: string) =>
  Schema.Union([Schema.Null, Schema.Number, Schema.String]).pipe(
    Schema.decodeTo(
      Schema.NullOr(Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(1))),
      SchemaTransformation.transformEffect({
        decode: (x: number | string | null, options) => {
          if (x === null || typeof x === "number") return Effect.succeed(x)
          if (x.trim() === "none" || x.trim() === "null") return Effect.succeed(null)
          const n = parse(x)
          return n === undefined
            ? Effect.fail(
              new SchemaIssue.InvalidValue({ message: `Expected ${expected}, or null / "none", got ${JSON.stringify(x)}` }, x, options)
            )
            : Effect.succeed(n)
        },
        encode: (n: number | null) => Effect.succeed(n)
      })
    )
  )

/** Milliseconds (at least 1), or null (also spelt `"none"`) for "never". */
export const durationMsOrNone = positiveOrNone(parseDurationMs, `a duration (milliseconds, or a string like "100ms")`)

/** Bytes (at least 1), or null (also spelt `"none"`) for "no limit of its own". */
export const byteSizeOrNone = positiveOrNone(parseByteSize, `a byte size (a number, or a string like "64MiB")`)

/** `schema`, with `value` (in its encoded form) when the key is absent. */
export const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const DISABLED: ReadonlyArray<unknown> = [null, false, "none", "null", "false"]

/** Whether a group's value turns it off: null, false, or the strings `"none"`, `"null"`, `"false"`. */
export const isDisabled = (x: unknown): boolean => DISABLED.includes(typeof x === "string" ? x.trim() : x)

/** A plain object (not null, not an array). */
export const isObject = (x: unknown): x is Readonly<Record<string, unknown>> =>
  typeof x === "object" && x !== null && !Array.isArray(x)

/** How a group of settings may be written: off, on with its defaults, or a partial object of its settings. */
export type GroupEncoded = boolean | "none" | "null" | "true" | "false" | { readonly [x: string]: unknown } | null

/**
 * A group of settings that can be turned off (`compactor`, `garbageCollector` and each of its resources):
 * null, false or `"none"` (off, decoded as null); true (on, with the defaults); or a partial object of
 * its settings (on, the rest defaulted).
 */
export const optionalGroup = <S extends Schema.Top>(schema: S) =>
  Schema.Union([
    Schema.Null,
    Schema.Boolean,
    Schema.Literals(["none", "null", "true", "false"]),
    Schema.Record(Schema.String, Schema.Unknown)
  ]).pipe(
    Schema.decodeTo(
      Schema.NullOr(schema),
      SchemaTransformation.transform<S["Encoded"] | null, GroupEncoded>({
        decode: (x) => (isDisabled(x) ? null : x === true || x === "true" ? {} : x) as S["Encoded"] | null,
        encode: (c) => c as GroupEncoded
      })
    )
  )
