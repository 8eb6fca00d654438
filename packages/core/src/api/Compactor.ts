/**
 * The compactor: merges a database's L0 SSTs and sorted runs (SlateDB 0.12.1's size-tiered compactor,
 * byte-compatible). The writer runs one by default (`Settings.compactor`); `Compactor.layer({ path })` runs
 * one as a service of its own, beside a writer whose `compactor` setting is null. A new compactor fences an
 * older one. `shale compactor` is the same from the shell.
 */
export {
  type CompactionRequest,
  Compactor,
  type CompactorEvent,
  type CompactorHandle,
  type CompactorLayerOptions,
  type CompactorStatus,
  type RunningCompaction
} from "../compactor/Compactor.ts"
export type { CompactionSource, CompactionSpec } from "../compactor/CompactorState.ts"
export { describeSpec } from "../compactor/CompactorState.ts"

import { Compactor as CompactorService } from "../compactor/Compactor.ts"

/**
 * A compactor of its own for the database at `path` in the `ObjectStore` in context: claims the compactor
 * epoch (fencing any other compactor) and compacts until the layer's scope ends or a newer compactor
 * fences it.
 */
export const layer = CompactorService.layer
