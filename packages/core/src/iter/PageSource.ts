/**
 * A merge source (MergeIterator.ts) over a stream of lazily decoded pages (sst/PageRows.ts): the
 * compactor's sources. A page's rows are decoded as the merge reaches them, and built only when the merge
 * yields them (it drops versions retention would drop unbuilt: `MergeOptions.shadows`), so only the
 * sources' heads are alive as row objects. A decoding failure is kept and returned by the next `pull`, as
 * a typed error (not thrown through the merge).
 */
import { Channel, Effect, Pull, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { DbError } from "../errors.ts"
import type { RowEntry } from "../format/RowEntry.ts"
import type { PageRows } from "../sst/PageRows.ts"
import type { Source } from "./MergeIterator.ts"

type PagePull = Pull.Pull<NonEmptyReadonlyArray<PageRows>, DbError, void>

export class PageSource implements Source {
  readonly startsPending = true
  /** Fetched pages not yet read, and the one being read. */
  #pages: ReadonlyArray<PageRows> = []
  #index = 0
  #page: PageRows | undefined = undefined
  /** Whether `#page` stands on a row (the head), and that row once built (the merge may drop it unbuilt). */
  #hasHead = false
  #built: RowEntry | undefined = undefined
  #pull: PagePull | undefined = undefined
  #more = true
  #failure: DbError | undefined = undefined
  readonly #open: Effect.Effect<PagePull>

  constructor(stream: Stream.Stream<PageRows, DbError>, scope: Scope.Scope) {
    this.#open = Channel.toPullScoped(Stream.toChannel(stream), scope)
  }

  get head(): RowEntry | undefined {
    return this.#hasHead ? (this.#built ??= this.#page!.row()) : undefined
  }

  get hasHead(): boolean {
    return this.#hasHead
  }

  get keyBytes(): Uint8Array {
    return this.#page!.keyBytes
  }

  get keyLen(): number {
    return this.#page!.keyLen
  }

  get headSeq(): number {
    return this.#page!.seq
  }

  advance(): boolean {
    return this.#settle()
  }

  /** Moves the head to the next row of the pages at hand: false when a page must be pulled first. */
  #settle(): boolean {
    this.#built = undefined
    this.#hasHead = false
    for (;;) {
      const page = this.#page
      if (page !== undefined) {
        try {
          if (page.step()) {
            this.#hasHead = true
            return true
          }
        } catch (e) {
          this.#failure = e as DbError
          return false
        }
      }
      if (this.#index < this.#pages.length) {
        this.#page = this.#pages[this.#index++]
        continue
      }
      this.#page = undefined
      return !this.#more
    }
  }

  readonly pull: Effect.Effect<void, DbError> = Effect.suspend(() => {
    if (this.#failure !== undefined) return Effect.fail(this.#failure)
    const run = (p: PagePull): Effect.Effect<void, DbError> =>
      p.pipe(
        Effect.flatMap((pages): Effect.Effect<void, DbError> => {
          this.#pages = pages
          this.#index = 0
          if (this.#settle()) return Effect.void
          return this.#failure !== undefined ? Effect.fail(this.#failure) : run(p)
        }),
        Pull.catchDone(() =>
          Effect.sync(() => {
            this.#more = false
            this.#pages = []
            this.#page = undefined
            this.#hasHead = false
            this.#built = undefined
          })
        )
      )
    if (this.#pull !== undefined) return run(this.#pull)
    return Effect.flatMap(this.#open, (p) => {
      this.#pull = p
      return run(p)
    })
  })
}
