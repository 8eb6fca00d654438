/**
 * `@shale/testing/conformance`: the `ObjectStore` conformance suite, which every backend runs in its own
 * tests (vitest, through `@effect/vitest`): `objectStoreConformance("name", layer, options)`.
 */
export * from "./ObjectStoreConformance.ts"
