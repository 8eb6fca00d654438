/**
 * A merge source (MergeIterator.ts) over a stream of lazily decoded pages (sst/PageRows.ts): the
 * compactor's sources. A page's rows are decoded as the merge reaches them, so only the sources' heads
 * are alive as row objects. A decoding failure is kept and returned by the next `pull`, as a typed error
 * (not thrown through the merge).
 */
import { Channel, Effect, Pull, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { DbError } from "../errors.ts"
import type { PageRows } from "../sst/PageRows.ts"
import { EagerSource } from "./MergeIterator.ts"

type PagePull = Pull.Pull<NonEmptyReadonlyArray<PageRows>, DbError, void>

export class PageSource extends EagerSource {
  readonly startsPending = true
  /** Fetched pages not yet read, and the one being read. */
  #pages: ReadonlyArray<PageRows> = []
  #index = 0
  #page: PageRows | undefined = undefined
  #pull: PagePull | undefined = undefined
  #more = true
  #failure: DbError | undefined = undefined
  readonly #open: Effect.Effect<PagePull>

  constructor(stream: Stream.Stream<PageRows, DbError>, scope: Scope.Scope) {
    super()
    this.#open = Channel.toPullScoped(Stream.toChannel(stream), scope)
  }

  advance(): boolean {
    return this.#settle()
  }

  /** Moves `head` to the next row of the pages at hand: false when a page must be pulled first. */
  #settle(): boolean {
    for (;;) {
      const page = this.#page
      if (page !== undefined) {
        try {
          const row = page.next()
          if (row !== undefined) {
            this.head = row
            return true
          }
        } catch (e) {
          this.#failure = e as DbError
          this.head = undefined
          return false
        }
      }
      if (this.#index < this.#pages.length) {
        this.#page = this.#pages[this.#index++]
        continue
      }
      this.#page = undefined
      this.head = undefined
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
            this.head = undefined
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
