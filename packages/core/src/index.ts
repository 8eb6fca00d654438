/**
 * `@shale/core`: an embedded key-value store on object storage, byte-compatible with SlateDB 0.12.1.
 *
 * The public surface, as namespaces in Effect's style (each is one module under ./api/, which re-exports
 * from the engine's modules and says what it is for):
 *
 * - `Db`: the database for Effect programs: the `Db.Db` service, `Db.layer(options)`, the options and
 *   results of its operations, `Db.WriteBatch`, and its errors (`Db.ClosedError`, `Db.InvalidError`, ...);
 *   `Db.openReadOnly(options)`, a read-only view that writes nothing (SlateDB's `DbReader`); `Db.metrics`,
 *   SlateDB's metrics in the current context (docs/design/observability.md).
 * - `Shale`: the same database driven by Promises: `Shale.open`, `Shale.openReadOnly`, `Shale.stores`,
 *   `Shale.loadSettings`.
 * - `ObjectStore`: the store service, the in-memory store, stores by URL, store errors, and what a new
 *   backend needs.
 * - `Settings`: settings with SlateDB's defaults, from JSON/TOML/YAML and the environment.
 * - `Compactor`: the compactor as a service of its own (`Compactor.layer`); the writer embeds one by default.
 * - `GarbageCollector`: the garbage collector as a service of its own (`GarbageCollector.layer`); the
 *   writer embeds one by default.
 * - `Admin`: SlateDB's admin: inspection of a database's objects (manifests, WAL SSTs, the compactions
 *   file), checkpoints, clones, one garbage-collection pass, submitting compactions (`Admin.layer`).
 * - `Changes`: beyond SlateDB: the committed rows in seq order as a `Stream` that follows the WAL
 *   (`Changes.stream({ root, fromSeq })`, also `Db.changes`; fails with `ChangesGapError` naming the seq to
 *   resume from once the WAL it needs was collected; Promise form `Shale.changes`, `db.changes`).
 * - `DbReader`: SlateDB's `DbReader`: a reader that follows a writer in another process under a checkpoint of
 *   its own (`DbReader.layer({ path, checkpointId?, options? })`; the Promise form is `Shale.openReader`).
 * - `WalReader`: SlateDB's `WalReader`: the WAL files of a database and their raw rows, for change data
 *   capture (`WalReader.make(root)`; the Promise form is `Shale.walReader`).
 *
 * Node-only parts (the local-directory store) are in `@shale/core/node`; the S3 store is `@shale/s3`.
 * Internals (codecs, test switches) are not exported here (see `@shale/core/internal`).
 */
export * as Admin from "./api/Admin.ts"
export * as Changes from "./api/Changes.ts"
export * as Compactor from "./api/Compactor.ts"
export * as Db from "./api/Db.ts"
export * as DbReader from "./api/DbReader.ts"
export * as GarbageCollector from "./api/GarbageCollector.ts"
export * as ObjectStore from "./api/ObjectStore.ts"
export * as Settings from "./api/Settings.ts"
export * as Shale from "./api/Shale.ts"
export * as WalReader from "./api/WalReader.ts"
