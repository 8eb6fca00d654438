/** Runs an effect and returns what it logged too (the messages, as strings). */
import { Effect, Logger } from "effect"

export const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const logs: Array<string> = []
    const value = yield* effect.pipe(Effect.provide(Logger.layer([Logger.make((o) => logs.push(String(o.message)))])))
    return { value, logs }
  })
