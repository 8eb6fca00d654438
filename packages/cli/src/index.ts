/** The `shale` command as a library: the command itself and its pieces, for tests and embedding. */
export * from "./Cli.ts"
export * from "./DbUrl.ts"
export * from "./Display.ts"
export * from "./Inspect.ts"
