/**
 * `Admin` for programs that do not use Effect (`Shale.admin(path, { store })`): the same operations as the
 * `Admin` service (admin/AdminService.ts), each returning a Promise that rejects with the same tagged
 * errors. It lives in db/ beside the other Promise handles.
 *
 * ```ts
 * await using admin = await Shale.admin("db", { store: Shale.stores.resolve("./data") })
 * const cp = await admin.createCheckpoint({ lifetimeMs: 3_600_000, name: "backup" })
 * const pass = await admin.runGcOnce()
 * ```
 *
 * It opens nothing as a writer: see AdminService.ts. The store layer is built once, in a scope `close()`
 * releases (a second `close()` does nothing).
 */
import { type Context, Effect, Exit, type Layer, Scope } from "effect"
import type { GcRunStats } from "../gc/GcPass.ts"
import type { GcOptions } from "../gc/GcRules.ts"
import type { Checkpoint, Manifest } from "../manifest/Manifest.ts"
import type { ObjectStore } from "../objectstore/ObjectStore.ts"
import type { LoggingOptions } from "../ShaleLogger.ts"
import type { NumberedObject } from "../admin/Admin.ts"
import { type AdminHandle, makeAdmin } from "../admin/AdminService.ts"
import type { CheckpointOptions } from "../admin/Checkpoints.ts"
import type { CloneCreated } from "../admin/Clone.ts"
import type { CompactionsFile } from "../admin/Compactions.ts"
import { openOnStore } from "./Shale.ts"

export interface ShaleAdminOptions<E = unknown> extends LoggingOptions {
  readonly store: Layer.Layer<ObjectStore, E>
}

/** The `Admin` operations on one database, driven by Promises. */
export class ShaleAdmin implements AsyncDisposable {
  readonly #admin: AdminHandle
  readonly #scope: Scope.Closeable
  readonly #context: Context.Context<never>
  #closed = false

  constructor(admin: AdminHandle, scope: Scope.Closeable, context: Context.Context<never>) {
    this.#admin = admin
    this.#scope = scope
    this.#context = context
  }

  #run<A, E>(effect: Effect.Effect<A, E>): Promise<A> {
    return Effect.runPromiseWith(this.#context)(effect)
  }

  /** The latest manifest (undefined: no database), or version `id`. */
  async readManifest(id?: number): Promise<{ readonly id: number; readonly manifest: Manifest } | undefined> {
    const found = await this.#run(this.#admin.readManifest(id))
    return found._tag === "Some" ? found.value : undefined
  }
  listManifests(): Promise<ReadonlyArray<NumberedObject>> {
    return this.#run(this.#admin.listManifests)
  }
  async readCompactions(): Promise<CompactionsFile | undefined> {
    const found = await this.#run(this.#admin.readCompactions)
    return found._tag === "Some" ? found.value : undefined
  }
  listCheckpoints(name?: string): Promise<ReadonlyArray<Checkpoint>> {
    return this.#run(this.#admin.listCheckpoints(name))
  }
  createCheckpoint(options?: CheckpointOptions): Promise<Checkpoint> {
    return this.#run(this.#admin.createCheckpoint(options))
  }
  refreshCheckpoint(id: string, lifetimeMs?: number): Promise<Checkpoint> {
    return this.#run(this.#admin.refreshCheckpoint(id, lifetimeMs))
  }
  deleteCheckpoint(id: string): Promise<void> {
    return this.#run(this.#admin.deleteCheckpoint(id))
  }
  runGcOnce(options?: GcOptions): Promise<GcRunStats> {
    return this.#run(this.#admin.runGcOnce(options))
  }
  createClone(parentPath: string, checkpointId?: string): Promise<CloneCreated> {
    return this.#run(this.#admin.createClone(parentPath, checkpointId))
  }
  timestampForSequence(seq: number, roundUp = false): Promise<number | undefined> {
    return this.#run(this.#admin.timestampForSequence(seq, roundUp))
  }
  sequenceForTimestamp(timeMs: number, roundUp = false): Promise<number | undefined> {
    return this.#run(this.#admin.sequenceForTimestamp(timeMs, roundUp))
  }

  /** Releases the store layer; a second call does nothing. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    return Effect.runPromise(Scope.close(this.#scope, Exit.void))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/** `Shale.admin(path, { store })`: the admin of the database at `path`; nothing is opened as a writer. */
export const openAdmin = <E>(path: string, options: ShaleAdminOptions<E>): Promise<ShaleAdmin> =>
  openOnStore(path, options, (store, scope, context) => Effect.succeed(new ShaleAdmin(makeAdmin(store, path), scope, context)))
