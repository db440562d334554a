// A test harness, not an example: runs vector documents inside workerd. POST / with
// `[{ policyText, format, env, files, jwks, keys, checks, cases: [{ request }] }]`; answers, per document, every
// decision (`{ decisions }`) or the load error (`{ loadError }`). The checks are made in
// Node by vectors.test.mjs with the shared helpers, so workerd runs exactly the decisions
// Node and Chromium run. RSA, ECDSA and Ed25519 tokens are verified by workerd's WebCrypto;
// `subtle` counts its verify calls per document.
import { Engine } from "admit-wasm";

let verifyCalls = 0;
const realVerify = crypto.subtle.verify.bind(crypto.subtle);
crypto.subtle.verify = (...args) => {
  verifyCalls++;
  return realVerify(...args);
};

export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("POST vector documents", { status: 405 });
    const docs = await request.json();
    const out = [];
    for (const doc of docs) {
      let engine;
      try {
        engine = new Engine(doc.policyText, { format: doc.format, env: doc.env, files: doc.files });
        // The sets and keys files a host would have fetched or read (tests/README.md).
        for (const [id, set] of Object.entries(doc.jwks ?? {})) engine.setJwks(id, set);
        for (const [id, file] of Object.entries(doc.keys ?? {})) engine.setKeys(id, file);
        // A delegated authenticator's check, as a table of verdicts by credential.
        for (const [id, table] of Object.entries(doc.checks ?? {})) {
          engine.setCheck(id, (credential) => (Object.hasOwn(table, credential) ? table[credential] : null));
        }
      } catch (e) {
        out.push({ loadError: { code: e.code, message: e.message, errors: e.errors?.length ?? 0, place: e.place, first: e.errors?.[0]?.place } });
        continue;
      }
      const before = verifyCalls;
      const decisions = [];
      try {
        for (const c of doc.cases) decisions.push(await engine.decide(c.request));
      } catch (e) {
        out.push({ thrown: String(e && e.stack || e) });
        continue;
      } finally {
        engine.free();
      }
      out.push({ decisions, verifyCalls: verifyCalls - before });
    }
    return Response.json(out);
  },
};
