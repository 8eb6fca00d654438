/**
 * Run as a child process by ShaleNiceties.test.ts: opens a database through the Promise API with the
 * default logger, lets a second handle fence it, and closes both. Writes nothing itself: whatever the
 * library logs is what appears on stdout (nothing, we expect) and stderr.
 */
import { Shale } from "../../../src/db/Shale.ts"

const enc = new TextEncoder()
const store = Shale.stores.memory()
const first = await Shale.open("db", { store, settings: { durableFlush: "eager" } })
const second = await Shale.open("db", { store, settings: { durableFlush: "eager" } })
await first.put(enc.encode("x"), enc.encode("1")).catch(() => undefined)
await first.close().catch(() => undefined)
await second.close()
