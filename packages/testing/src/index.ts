/**
 * `@shale/testing`: what tests of Shale (and of code built on it) reuse.
 *
 * - `FaultInjectingObjectStore`: an `ObjectStore` wrapper that injects transient errors, latency, crashes
 *   and permanent failures, deterministically from a seed.
 * - `Simulation`: seeded deterministic simulation of a database under faults, checked against a model
 *   (`npm run sim` in the repository).
 *
 * The `ObjectStore` conformance suite (needs `@effect/vitest`) is `@shale/testing/conformance`.
 */
export * as FaultInjectingObjectStore from "./FaultInjectingObjectStore.ts"
export * as Simulation from "./Simulation.ts"
