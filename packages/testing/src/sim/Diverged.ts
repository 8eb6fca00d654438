/**
 * The simulation's stop signal: the model and the database disagree at operation `opIndex`.
 */
import { Data } from "effect"

export class Diverged extends Data.TaggedError("Diverged")<{ readonly opIndex: number; readonly message: string }> {}
