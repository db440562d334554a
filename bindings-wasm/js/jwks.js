// Fetching the key sets of a policy's `jwks_url`s, with the runtime's own `fetch`, by the
// rules every admit host follows (the core's `admit::fetch`, exported by the .wasm:
// URL check, timeout, size limit, Cache-Control, backoff, the unknown_key rate limit;
// docs/policy.md, "Fetching a key set").
//
// The sets are cached at module level, so for the life of the isolate (a Worker's, a
// Node process's, a page's): one fetch serves every request and every engine built from
// the same policy. A decision waits for a fetch only when it has no set at all (the
// first request) or when it said `unknown_key` (at most once per
// UNKNOWN_KEY_INTERVAL_SECS per URL), and never longer than TIMEOUT_SECS; a stale set is
// refreshed in the background (handed to `waitUntil` when given). A failed fetch, an
// HTTP error, a redirect, an oversized body or a set the engine refuses changes nothing:
// the last good set stays, and the next try backs off.
import { fetchRules, checkJwksUrl, refreshAfter, retryAfter } from "./engine.js";

/** url -> what is known of it (module level: the isolate's life). */
const SETS = new Map();
/** engine -> (authenticator id + "\n" + url -> the generation of the set it holds). */
const APPLIED = new WeakMap();
/** engine -> its [authenticator id, url] list (an engine's URLs never change). */
const URLS = new WeakMap();

let RULES;
const rules = () => (RULES ??= fetchRules());

function entryOf(url) {
  let e = SETS.get(url);
  if (e === undefined) {
    e = { text: null, generation: 0, refreshAt: 0, retryAt: 0, failures: 0, unknownAt: null, inflight: null, fetches: 0 };
    SETS.set(url, e);
  }
  return e;
}

function urlsOf(engine) {
  let list = URLS.get(engine);
  if (list === undefined) {
    list = engine.jwksUrls();
    URLS.set(engine, list);
  }
  return list;
}

function optionsOf(options) {
  if (options === null || typeof options !== "object") {
    const e = new TypeError(`options must be an object, not ${options === null ? "null" : typeof options}`);
    e.code = "invalid_argument";
    throw e;
  }
  const { fetch: f = globalThis.fetch, clock = Date.now, waitUntil, log = defaultLog } = options;
  return { fetch: f, clock, waitUntil, log: typeof log === "function" ? log : () => {} };
}

/** Failures are worth a line in the worker's log; successes are not. No event carries
 * the URL (its query may hold a token) or the body. */
function defaultLog(event) {
  if (event.event === "failed" || event.event === "refused") {
    console.warn(`admit: the key set of authenticator "${event.authenticator}" was not updated (${event.reason}); the last good set stays`);
  }
}

function sleep(ms) {
  let timer;
  const p = new Promise((resolve) => (timer = setTimeout(resolve, ms)));
  return { p, cancel: () => clearTimeout(timer) };
}

/** `p`, or `undefined` once the fetch timeout has passed: a decision never waits longer. */
async function bounded(p) {
  const s = sleep(rules().timeoutSecs * 1000);
  try {
    return await Promise.race([p, s.p]);
  } finally {
    s.cancel();
  }
}

/** One fetch by the rules: `{ text, cacheControl }` or `{ reason }`. Never throws. */
async function fetchSet(url, fetchImpl) {
  const r = rules();
  const bad = checkJwksUrl(url);
  if (bad !== null) return { reason: bad };
  const controller = new AbortController();
  const s = sleep(r.timeoutSecs * 1000);
  s.p.then(() => controller.abort());
  const work = (async () => {
    const res = await fetchImpl(url, { signal: controller.signal, redirect: "manual", headers: { accept: "application/json" } });
    if (res.status < 200 || res.status > 299) {
      try {
        await res.body?.cancel();
      } catch {}
      return { reason: res.status >= 300 && res.status < 400 ? `a redirect (${res.status}), not followed` : `HTTP ${res.status}` };
    }
    const declared = Number(res.headers.get("content-length"));
    if (Number.isFinite(declared) && declared > r.maxBytes) {
      try {
        await res.body?.cancel();
      } catch {}
      return { reason: `the body is over ${r.maxBytes} bytes` };
    }
    const chunks = [];
    let size = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > r.maxBytes) {
          try {
            await reader.cancel();
          } catch {}
          return { reason: `the body is over ${r.maxBytes} bytes` };
        }
        chunks.push(value);
      }
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.byteLength;
    }
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(all);
    } catch {
      return { reason: "the body is not UTF-8" };
    }
    return { text, cacheControl: res.headers.get("cache-control") };
  })();
  try {
    const got = await Promise.race([work, s.p.then(() => ({ reason: `no answer within ${r.timeoutSecs} s` }))]);
    return got;
  } catch (e) {
    return { reason: controller.signal.aborted ? `no answer within ${r.timeoutSecs} s` : `the fetch failed (${e?.name ?? "error"})` };
  } finally {
    s.cancel();
    work.catch(() => {});
  }
}

/** Fetches `url` for `engine`'s authenticator `id`, unless a fetch of it is under way
 * (then that one is shared). Resolves to true when a new set was taken. */
function refresh(entry, url, engine, id, o) {
  if (entry.inflight !== null) return entry.inflight;
  entry.fetches++;
  entry.inflight = (async () => {
    const got = await fetchSet(url, o.fetch);
    let event;
    if (got.text !== undefined) {
      try {
        const keys = engine.setJwks(id, got.text);
        entry.text = got.text;
        entry.generation++;
        entry.failures = 0;
        entry.retryAt = 0;
        entry.refreshAt = o.clock() + refreshAfter(got.cacheControl ?? undefined) * 1000;
        appliedOf(engine).set(`${id}\n${url}`, entry.generation);
        o.log({ event: "fetched", authenticator: id, keys });
        return true;
      } catch (e) {
        event = { event: "refused", authenticator: id, reason: `the engine refused the set: ${e?.message ?? e}` };
      }
    } else {
      event = { event: "failed", authenticator: id, reason: got.reason };
    }
    entry.failures++;
    entry.retryAt = o.clock() + retryAfter(entry.failures) * 1000;
    o.log(event);
    return false;
  })().finally(() => {
    entry.inflight = null;
  });
  return entry.inflight;
}

function appliedOf(engine) {
  let m = APPLIED.get(engine);
  if (m === undefined) {
    m = new Map();
    APPLIED.set(engine, m);
  }
  return m;
}

/** Hands `engine` the cached set of `url` when it holds an older one. */
function applyCached(engine, id, url, entry) {
  const applied = appliedOf(engine);
  const key = `${id}\n${url}`;
  if (entry.text === null || (applied.get(key) ?? 0) >= entry.generation) return;
  applied.set(key, entry.generation);
  try {
    engine.setJwks(id, entry.text);
  } catch {
    // Another engine took this set and this one does not (other algorithms): it keeps its own.
  }
}

/**
 * Gives `engine` the key set of each of its `jwks_url`s, from the module's cache:
 * fetched first when there is none yet (waited for, at most TIMEOUT_SECS), refreshed in
 * the background when stale (per Cache-Control; `waitUntil(promise)` keeps a Worker
 * alive for it). Never rejects: a failure leaves the last good set.
 * Options: `fetch` (the runtime's by default), `waitUntil`, `log(event)`, `clock()` (ms).
 */
export async function syncJwks(engine, options = {}) {
  const o = optionsOf(options);
  const waits = [];
  const list = urlsOf(engine);
  for (const [id, url] of list) {
    const entry = entryOf(url);
    applyCached(engine, id, url, entry);
    const now = o.clock();
    if (now < entry.retryAt || (entry.text !== null && now < entry.refreshAt)) {
      if (entry.text === null && entry.inflight !== null) waits.push(bounded(entry.inflight));
      continue;
    }
    const p = refresh(entry, url, engine, id, o);
    if (entry.text === null) waits.push(bounded(p));
    else if (typeof o.waitUntil === "function") o.waitUntil(p);
  }
  if (waits.length === 0) return;
  await Promise.all(waits);
  for (const [id, url] of list) applyCached(engine, id, url, entryOf(url));
}

/**
 * After an `unknown_key` decision: fetches each of `engine`'s key sets again, at most
 * once per UNKNOWN_KEY_INTERVAL_SECS per URL whatever the number of such decisions (a
 * flood of forged `kid`s is not a flood of fetches), waiting at most TIMEOUT_SECS.
 * Resolves to true when `engine` took a newer set (decide again), false otherwise.
 */
export async function refetchJwks(engine, options = {}) {
  const o = optionsOf(options);
  const interval = rules().unknownKeyIntervalSecs * 1000;
  let changed = false;
  for (const [id, url] of urlsOf(engine)) {
    const entry = entryOf(url);
    const now = o.clock();
    if (entry.unknownAt !== null && now - entry.unknownAt < interval) {
      o.log({ event: "rate_limited", authenticator: id, reason: `one unknown_key fetch per ${rules().unknownKeyIntervalSecs} s` });
      continue;
    }
    entry.unknownAt = now;
    const key = `${id}\n${url}`;
    const before = appliedOf(engine).get(key) ?? 0;
    await bounded(refresh(entry, url, engine, id, o));
    applyCached(engine, id, url, entry);
    if ((appliedOf(engine).get(key) ?? 0) > before) changed = true;
  }
  return changed;
}

/**
 * A decision with the key sets kept by this module: `syncJwks`, then the decision
 * (`decideRequest` for a Fetch `Request`, with `peer` and `now` from `options`; `decide`
 * for a plain request object), and on `unknown_key` one `refetchJwks` and, when it
 * brought a newer set, the decision again.
 */
export async function decideWithJwks(engine, request, options = {}) {
  const { fetch: f, clock, waitUntil, log, ...decideOptions } = optionsOrEmpty(options);
  const helper = { fetch: f ?? globalThis.fetch, clock: clock ?? Date.now, waitUntil, log };
  if (log === undefined) delete helper.log;
  await syncJwks(engine, helper);
  const isFetchRequest = request !== null && typeof request === "object" && typeof request.url === "string";
  const decide = () => (isFetchRequest ? engine.decideRequest(request, decideOptions) : engine.decide(request));
  let d = await decide();
  if (d.reason === "unknown_key" && (await refetchJwks(engine, helper))) d = await decide();
  return d;
}

function optionsOrEmpty(options) {
  optionsOf(options);
  return options;
}

/** What the module knows of each URL it fetched (for tests and health checks), by
 * authenticator-free URL order: `{ url, hasSet, generation, fetches, failures }`. The
 * URLs are the policy's; the sets are not included. */
export function jwksStatus() {
  return [...SETS].map(([url, e]) => ({ url, hasSet: e.text !== null, generation: e.generation, fetches: e.fetches, failures: e.failures }));
}
