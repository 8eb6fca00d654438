import { ObjectStore } from "../src/internal.ts"
import { objectStoreConformance } from "@shale/testing/conformance"

// A page of 7 objects makes every listing test cross page boundaries.
objectStoreConformance("memory store (page size 7)", ObjectStore.layerMemoryWith({ pageSize: 7 }))
