/** What the tests of SlateDB-style settings share (SettingsSlateDb*.test.ts). */
import { assert } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem } from "effect"
import { InvalidError } from "../../src/errors.ts"

/** Runs an effect with `env` as its environment (what `Settings.load()` and `SLATEDB_*` read). */
export const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

/** The message of the `InvalidError` the effect fails with. */
export const failure = <A, R>(effect: Effect.Effect<A, InvalidError, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => {
    assert.instanceOf(e, InvalidError)
    return e.message
  }))

export const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "shale-settings-" }))
