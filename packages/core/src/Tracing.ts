/**
 * Spans at no cost when nobody collects them.
 *
 * `Effect.withSpan` (and `Effect.fn("name")`) always make a span: without a tracer installed, Effect's
 * native tracer still builds a span object, reads the clock twice, captures a stack frame and provides
 * the span to the wrapped effect as its parent (a new context). On a put or a get that costs more than
 * the operation. Spans no exporter will see are of no use, so the database's hot operations ask first
 * (`tracing()`) and make their span only when the fiber running them has a tracer of its own (an OTLP
 * exporter's, `Tracer` provided by a layer) and tracing is enabled (`References.TracerEnabled`). The
 * check reads the running fiber's cache: no allocation.
 *
 * Object-store requests are as frequent as gets (a cold get is one request, through two wrappers: the
 * retrying store and the backend), so the stores name their operations with `spanned` instead of
 * `Effect.fn(name)`: the same span when someone collects it, none otherwise.
 *
 * Rare operations (open, flush, a compaction, a GC pass) use `Effect.withSpan` / `Effect.fn` directly.
 */
import { Effect, Fiber, Tracer } from "effect"

/** Whether the running fiber would export a span made now (see the module comment). */
export const tracing = (): boolean => {
  const fiber = Fiber.getCurrent()
  if (fiber === undefined) return false
  const cache = fiber.cache
  return cache.tracerEnabled && cache.tracer !== undefined && cache.tracer !== Tracer.nativeTracer
}

/**
 * `effect` in a span named `name` with `attributes` when `tracing()`; `effect` itself otherwise. Call it
 * while the operation runs (inside `Effect.suspend`), not when it is built.
 */
export const traced = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  attributes: Readonly<Record<string, unknown>>
): Effect.Effect<A, E, R> => Effect.withSpan(effect, name, { attributes })

/**
 * `f`, whose effects run in a span named `name` when `tracing()` (checked as each effect runs), and
 * without one otherwise: `Effect.fn(name)` for calls made once per request or row, where a span nobody
 * collects would cost more than the call (`Effect.fn` also captures a stack frame per call).
 */
export const spanned = <Args extends ReadonlyArray<unknown>, A, E, R>(
  name: string,
  f: (...args: Args) => Effect.Effect<A, E, R>
): (...args: Args) => Effect.Effect<A, E, R> =>
(...args) => Effect.suspend(() => (tracing() ? Effect.withSpan(f(...args), name) : f(...args)))
