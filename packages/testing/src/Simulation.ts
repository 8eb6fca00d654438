/**
 * Deterministic simulation: seeded workloads run on a fault-injecting in-memory store under `TestClock`
 * (transient errors, latency, crashes, permanent failures, a second writer), every read checked against a
 * model of what it may legally return; same seed, same trace hash. docs/design/simulation.md.
 */
export * from "./sim/Runner.ts"
export * from "./sim/Model.ts"
export * from "./sim/Workload.ts"
export * from "./sim/Profiles.ts"
export * from "./sim/TraceHash.ts"
export * from "./sim/SimRandom.ts"
export * from "./sim/SimStore.ts"
export { type FakeDbBugs, openFakeDb } from "./sim/FakeDb.ts"
