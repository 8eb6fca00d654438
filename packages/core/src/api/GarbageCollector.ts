/**
 * The garbage collector: deletes the manifests, WAL SSTs, compacted SSTs and compactions files a database
 * no longer needs, and expired checkpoints, by SlateDB 0.12.1's rules (so it and SlateDB's collector can
 * share a database). The writer runs one by default (`Settings.garbageCollector`); `GarbageCollector.layer`
 * runs one as a service of its own; `Admin.runGcOnce` (`shale gc`) runs one pass.
 */
export {
  GarbageCollector,
  type GcHandle,
  type GcLayerOptions,
  type GcRunStats,
  type GcStatus
} from "../gc/GarbageCollector.ts"
export {
  DEFAULT_GC_RESOURCE,
  defaultGcOptions,
  GC_RESOURCES,
  type GcOptions,
  type GcResource,
  type GcResourceOptions,
  withMinAge
} from "../gc/GcRules.ts"

import { GarbageCollector as GcService } from "../gc/GarbageCollector.ts"

/**
 * A garbage collector of its own for the database at `options.path` in the `ObjectStore` in context: each
 * enabled kind on its interval, until the layer's scope ends.
 */
export const layer = GcService.layer
