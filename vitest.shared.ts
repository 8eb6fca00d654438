import { defaultClientConditions, defaultServerConditions, type UserConfig } from "vite"

/** Vitest's own defaults: Vite's, without `module` (which can pick bundler-only ESM builds, e.g. the AWS SDK's). */
const withoutModule = (conditions: ReadonlyArray<string>) => conditions.filter((c) => c !== "module")

/**
 * Tests run the TypeScript sources: the `@shale/source` export condition makes `@shale/core` (and the
 * other workspace packages) resolve to `src/*.ts` instead of the built `dist/` that consumers get
 * (docs/design/packaging.md). Vitest also passes these conditions to its worker processes' Node.
 */
export const sourceResolution: Pick<UserConfig, "resolve" | "ssr"> = {
  resolve: { conditions: ["@shale/source", ...withoutModule(defaultClientConditions)] },
  ssr: { resolve: { conditions: ["@shale/source", ...withoutModule(defaultServerConditions)] } }
}
