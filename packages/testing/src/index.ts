export * from "./ObjectStoreConformance.ts"
export * from "./FaultInjectingObjectStore.ts"
