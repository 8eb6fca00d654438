/** The `shale` command as a library: the command itself and its pieces, for tests and embedding. */
export { main, presenter, runWith, shale, VERSION } from "./Cli.ts"
export { argBytes, prefixEnd, scanRange } from "./DataCommands.ts"
export * from "./Display.ts"
export { decodeText, type Encoding, ENCODINGS, encodeBytes, fromJsonBytes, toJsonBytes } from "./Encoding.ts"
export { ExitCode, explain, PipeClosed, ShaleCliError } from "./Errors.ts"
export { formatManifest, manifestJson } from "./InspectCommands.ts"
export { CliIO, nodeIO } from "./Io.ts"
