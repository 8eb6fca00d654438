import { ObjectStore } from "../src/index.ts"
import { objectStoreConformance } from "../../testing/src/ObjectStoreConformance.ts"

// A page of 7 objects makes every listing test cross page boundaries.
objectStoreConformance("memory store (page size 7)", ObjectStore.layerMemoryWith({ pageSize: 7 }))
