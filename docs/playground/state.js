// The playground's whole state in the URL fragment (`#s=...`): base64url of its JSON, so
// a link reproduces the policy, environment, files and request. Nothing leaves the page:
// a fragment is never sent to a server.

const VERSION = 1;

/** The fragment for a state. */
export function encodeState(state) {
  const bytes = new TextEncoder().encode(JSON.stringify({ v: VERSION, ...state }));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return "#s=" + btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The state in a fragment, `null` when there is none, or `{ error }` when it does not
 * read (a link cut short, edited by hand). */
export function decodeState(hash) {
  const m = /^#s=([A-Za-z0-9_-]*)$/.exec(hash || "");
  if (!m) return hash && hash !== "#" ? { error: "the link's state is not in the form #s=..." } : null;
  try {
    const b64 = m[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const state = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (state === null || typeof state !== "object" || state.v !== VERSION) return { error: "the link's state is of another version" };
    return state;
  } catch {
    return { error: "the link's state does not read (cut short?)" };
  }
}

/** `NAME=value` lines (blank lines and `#` comments skipped) as an object. */
export function parseEnv(text) {
  const env = {};
  for (const line of text.split("\n")) {
    if (!line.trim() || line.trimStart().startsWith("#")) continue;
    const i = line.indexOf("=");
    if (i <= 0) continue;
    env[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return env;
}

export function formatEnv(env) {
  return Object.entries(env ?? {}).map(([k, v]) => `${k}=${v}`).join("\n");
}

/** `Name: value` lines as `[name, value]` pairs (duplicates kept, in order). */
export function parseHeaders(text) {
  const pairs = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const i = line.indexOf(":");
    if (i <= 0) continue;
    pairs.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  return pairs;
}

export function formatHeaders(headers) {
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers ?? {}).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]));
  return pairs.map(([k, v]) => `${k}: ${v}`).join("\n");
}
