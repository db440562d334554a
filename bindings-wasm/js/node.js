// Node (20+): loads the .wasm synchronously from the package folder.
import { readFileSync } from "node:fs";
import { initSync } from "../pkg/admit_wasm.js";

initSync({ module: readFileSync(new URL("../pkg/admit_wasm_bg.wasm", import.meta.url)) });

export * from "./engine.js";
