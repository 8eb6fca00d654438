/** The merge operator the tests share: concatenation (SlateDB's test `StringConcatMergeOperator`). */
import type { MergeOperator } from "../../src/iter/MergeOperator.ts"

export const concatBytes = (a: Uint8Array | undefined, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array((a?.length ?? 0) + b.length)
  if (a !== undefined) out.set(a)
  out.set(b, a?.length ?? 0)
  return out
}

export const concatOperator: MergeOperator = { merge: (_key, existing, operand) => concatBytes(existing, operand) }
