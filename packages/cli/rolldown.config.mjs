/**
 * The `shale` bin as one bundle (plus lazily loaded chunks): `dist/bin/shale.js`, from the compiled
 * `dist/main.js`. Loading Effect and the engine as hundreds of separate modules takes most of a command's
 * start-up; the tree-shaken bundle starts about 2.5× faster (docs/cli.md, "Start-up time"). Native
 * addons (the lz4 and snappy codecs) stay outside, as must anything loaded by a computed import
 * (`@shale/s3`, which `s3://` URLs load, and with it the AWS SDK).
 */
import { defineConfig } from "rolldown"

export default defineConfig({
  input: { shale: "dist/main.js" },
  platform: "node",
  external: ["lz4-napi", "snappy", "@shale/s3", /^@aws-sdk\//],
  output: {
    dir: "dist/bin",
    format: "esm",
    // Readable, unminified code (stack traces of internal errors name real functions); no source maps,
    // which would be twice the bundle's size for little use in an installed command.
    sourcemap: false,
    chunkFileNames: "[name]-[hash].js"
  }
})
