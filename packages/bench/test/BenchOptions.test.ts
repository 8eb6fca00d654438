import { assert, describe, it } from "@effect/vitest"
import { parseOptions, positiveInt, UsageError } from "../src/BenchOptions.ts"

describe("BenchOptions", () => {
  it("passes W2's --scan-rows through as given, and leaves it out when absent", () => {
    const options = parseOptions(["--workload", "w2", "--scan-rows", "1000", "--pace", "20000"])!
    assert.strictEqual(options.workload, "W2")
    assert.strictEqual(options.given.scanRows, "1000")
    assert.strictEqual(options.given.pace, "20000")
    assert.isFalse("scanRows" in parseOptions(["--workload", "W2"])!.given)
  })

  it("rejects a scan length that is not a positive integer", () => {
    assert.strictEqual(positiveInt("scan-rows", "1000", 100), 1000)
    assert.strictEqual(positiveInt("scan-rows", undefined, 100), 100)
    for (const bad of ["0", "-5", "2.5", "many"]) assert.throws(() => positiveInt("scan-rows", bad, 100), UsageError)
  })
})
