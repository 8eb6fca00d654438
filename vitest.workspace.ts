import type { TestProjectConfiguration } from "vitest/config"

/** The test projects: one per package. Imported by vitest.config.ts (vitest 5 does not read this file itself). */
export default [
  "packages/bench",
  "packages/cli",
  "packages/core",
  "packages/s3",
  "packages/testing"
] satisfies Array<TestProjectConfiguration>
