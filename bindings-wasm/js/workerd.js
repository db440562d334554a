// Cloudflare Workers / workerd: the .wasm is imported as a compiled WebAssembly.Module
// (a `CompiledWasm` module in workerd's config, a wasm module rule in wrangler), since
// workers may not compile WebAssembly from bytes at run time.
import { initSync } from "../pkg/admit_wasm.js";
import wasm from "../pkg/admit_wasm_bg.wasm";

initSync({ module: wasm });

export * from "./engine.js";
