/**
 * `--only` for the workloads with implementations of their own (W2, W3): the implementations named, and
 * those in the groups named; an unknown name is an error saying which names are known.
 */
export const selectImplementations = <I extends { readonly name: string }>(
  all: ReadonlyArray<I>,
  groups: Readonly<Record<string, (i: I) => boolean>>,
  only: ReadonlyArray<string> | undefined,
  workload: string
): { readonly selected: ReadonlyArray<I> } | { readonly error: string } => {
  if (only === undefined) return { selected: all }
  const unknown = only.filter((o) => !(o in groups) && !all.some((i) => i.name === o))
  if (unknown.length > 0) {
    const known = [...all.map((i) => i.name), ...Object.keys(groups)].join(", ")
    return { error: `--only: unknown ${unknown.join(", ")} for ${workload}; known: ${known}` }
  }
  return { selected: all.filter((i) => only.some((o) => o === i.name || groups[o]?.(i) === true)) }
}
