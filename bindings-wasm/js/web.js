// Browsers, Deno and other runtimes with fetch and top-level await: fetches the .wasm
// next to this file (or takes it from a bundler that understands `new URL(..., import.meta.url)`).
import init from "../pkg/admit_wasm.js";

await init({ module_or_path: new URL("../pkg/admit_wasm_bg.wasm", import.meta.url) });

export * from "./engine.js";
