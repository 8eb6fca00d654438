/**
 * Database settings: SlateDB 0.12.1's with its defaults, plus Shale's own; from JSON, TOML or YAML text
 * and files with Shale's or SlateDB's names, and from `SLATEDB_*` / `SHALE_*` environment variables.
 * `load()` (and `fromFile`) read files through the `FileSystem` in context (`NodeFileSystem.layer` from
 * `@effect/platform-node` on Node; the Promise API's `Shale.loadSettings` provides it).
 */
import { Settings as S } from "../Settings.ts"

export {
  BLOCK_SIZES,
  type BlockSize,
  type CompactorSettings,
  type CompressionCodec,
  CompressionCodecs,
  type EnvOptions,
  envVarName,
  type GcResourceInput,
  type GcResourceSettings,
  type GcSettings,
  type GcSettingsInput,
  type LoadOptions,
  parseByteSize,
  parseDurationMs,
  type Settings,
  type SettingsInput,
  type SettingsInput as Input,
  type SettingsField as Field,
  type SettingsFormat as Format,
  SettingsSchema as schema
} from "../Settings.ts"

/** SlateDB's defaults (and Shale's). */
export const defaults = S.default
/** The names of the settings (Shale's). */
export const fields = S.fields
export const fromText = S.fromText
export const fromJson = S.fromJson
export const fromToml = S.fromToml
export const fromYaml = S.fromYaml
export const fromFile = S.fromFile
export const fromEnv = S.fromEnv
export const load = S.load
