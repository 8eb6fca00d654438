/**
 * What the cross-process replica scenario (ReplicaScenario.ts) must show, as a list of broken promises
 * (empty when all hold), and a summary of a run for failure messages.
 *
 * Writers: run 0 starts on an empty database; every run acknowledged batches, consecutively from where it
 * resumed; a run after a clean close resumes right after the last acknowledged batch, a run after a SIGKILL
 * there or one later (the batch in flight was durable); the compactor completed compactions and the
 * collector deleted WAL SSTs during the runs.
 *
 * Readers: none saw a partial batch, a batch without all earlier ones, a value of another batch, a batch
 * that later vanished or changed its writer (i.e. data that was not durable), or had a read fail; each
 * followed every writer run (showed a state whose newest batch that run wrote), converged to exactly the
 * batches the writers left, each written by the run that made it durable, polled without errors, replaced
 * its checkpoint as L0 and the sorted runs changed, and closed cleanly, removing its checkpoint.
 */
import type { ReaderRun, ScenarioResult, WriterRun } from "./ReplicaScenario.ts"

const writerProblems = (writers: ReadonlyArray<WriterRun>): Array<string> => {
  const problems: Array<string> = []
  writers.forEach((w, i) => {
    const name = `writer run ${w.run}`
    problems.push(...w.problems.map((p) => `${name}: ${p}`))
    if (w.exit !== (w.killed ? "SIGKILL" : "code 0")) problems.push(`${name} exited with ${w.exit}`)
    if (w.acks.length === 0) problems.push(`${name} acknowledged nothing`)
    if (w.acks.some((n, k) => n !== w.resume + k)) problems.push(`${name}'s acks are not consecutive from ${w.resume}`)
    const previous = writers[i - 1]
    if (previous === undefined) {
      if (w.resume !== 0) problems.push(`${name} found batches in a new database (resumed at ${w.resume})`)
      return
    }
    const lastAck = previous.acks.at(-1) ?? previous.resume - 1
    const allowed = previous.killed ? [lastAck + 1, lastAck + 2] : [lastAck + 1]
    if (!allowed.includes(w.resume)) {
      problems.push(`${name} resumed at batch ${w.resume}, run ${previous.run} acknowledged up to ${lastAck} (expected ${allowed.join(" or ")})`)
    }
  })
  const compactions = writers.reduce((n, w) => n + (w.status?.compactions ?? 0), 0)
  const walDeleted = writers.reduce((n, w) => n + (w.status?.gcDeleted?.wal ?? 0), 0)
  if (compactions === 0) problems.push("no compaction completed in any writer run")
  if (walDeleted === 0) problems.push("the collector deleted no WAL SST in any writer run")
  if ((writers.at(-1)?.status?.sortedRuns ?? 0) === 0) problems.push("the database has no sorted run at the end")
  return problems
}

const readerProblems = (r: ReaderRun, result: ScenarioResult): Array<string> => {
  const name = `reader ${r.id}`
  const problems = r.problems.map((p) => `${name}: ${p}`)
  if (r.exit !== "code 0") problems.push(`${name} exited with ${r.exit}`)
  if (r.convergedAfterMs === undefined) problems.push(`${name} never showed the expected batches (last view: ${JSON.stringify(r.views.at(-1)?.ranges)})`)
  if (r.final === undefined) return [...problems, `${name} printed no final report`]
  if (JSON.stringify(r.final.ranges) !== JSON.stringify(result.expected)) {
    problems.push(`${name} ends with ${JSON.stringify(r.final.ranges)}, expected ${JSON.stringify(result.expected)}`)
  }
  const st = r.final.status
  if (st.pollErrors !== 0) problems.push(`${name}: ${st.pollErrors} failed polls (last: ${st.lastPollError})`)
  if (st.checkpointsReplaced === 0) problems.push(`${name} never replaced its checkpoint`)
  for (const [run, first, last] of result.expected) {
    if (!r.views.some((v) => v.max >= first && v.max <= last)) {
      problems.push(`${name} never showed a state whose newest batch run ${run} wrote (${first}..${last})`)
    }
  }
  return problems
}

/** Every broken promise of the scenario (see the module comment). */
export const scenarioProblems = (result: ScenarioResult): Array<string> => [
  ...writerProblems(result.writers),
  ...(result.expected.length === 0 ? ["no batches expected"] : []),
  ...(result.readerCheckpointsLeft === 0 ? [] : [`${result.readerCheckpointsLeft} reader checkpoint(s) left after the readers closed`]),
  ...result.readers.flatMap((r) => readerProblems(r, result))
].slice(0, 40)

/** A few lines on what happened, for failure messages and the verbose log. */
export const scenarioSummary = (result: ScenarioResult): string =>
  [
    `elapsed ${Math.round(result.elapsedMs)} ms; expected ${JSON.stringify(result.expected)}; ` +
    `reader checkpoints left after they closed: ${result.readerCheckpointsLeft}`,
    ...result.writers.map((w) =>
      `writer run ${w.run}: open ${w.openMs} ms, resumed at ${w.resume}, ${w.acks.length} acks, closed at ${w.lifeMs ?? "-"} ms, ${w.killed ? "killed" : "closed"} (${w.exit}), ` +
      `last status ${JSON.stringify(w.status)}${w.stderr.length > 0 ? `\n  stderr: ${w.stderr.slice(-1500)}` : ""}`
    ),
    ...result.readers.map((r) =>
      `reader ${r.id}: open ${r.openMs} ms, ${r.views.length} views, ${r.final?.scans ?? "?"} scans (slowest seen ${Math.max(0, ...r.views.map((v) => v.ms))} ms), converged ${
        r.convergedAfterMs === undefined ? "never" : `${Math.round(r.convergedAfterMs)} ms after the last close`
      }, status ${JSON.stringify(r.final?.status)} (${r.exit})${r.stderr.length > 0 ? `\n  stderr: ${r.stderr.slice(-1500)}` : ""}`
    )
  ].join("\n")
