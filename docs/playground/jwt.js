// Decodes the JSON Web Tokens a request carries, in the page: header and claims are
// base64url JSON, read here and never sent anywhere. The signature is not checked here
// (the engine does that, with the policy's keys); this only shows what the token says.

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Tokens in the request's headers: `Authorization: Bearer <jwt>` first, then any other
 * header or cookie whose value has a JWT's shape. Each `{ where, token }`. */
export function findTokens(headers) {
  const found = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "authorization") {
      const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
      if (m && JWT_SHAPE.test(m[1])) found.push({ where: `${name} header (Bearer)`, token: m[1] });
    } else if (lower === "cookie") {
      for (const part of value.split(";")) {
        const i = part.indexOf("=");
        const v = i < 0 ? "" : part.slice(i + 1).trim();
        if (JWT_SHAPE.test(v)) found.push({ where: `cookie ${part.slice(0, i).trim()}`, token: v });
      }
    } else {
      const v = value.trim().split(/\s+/).pop() ?? "";
      if (JWT_SHAPE.test(v)) found.push({ where: `${name} header`, token: v });
    }
  }
  return found;
}

function base64urlJson(part) {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new Error("not base64url");
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
}

/** `{ header, claims, signatureBytes }`, or `{ error }` for a token that does not decode. */
export function decodeJwt(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return { error: "a JWT has three parts separated by `.`" };
  let header;
  let claims;
  try {
    header = base64urlJson(parts[0]);
  } catch {
    return { error: "the header is not base64url JSON" };
  }
  try {
    claims = base64urlJson(parts[1]);
  } catch {
    return { error: "the claims are not base64url JSON", header };
  }
  const signatureBytes = Math.floor((parts[2].length * 3) / 4);
  return { header, claims, signatureBytes };
}

/** The time claims (`exp`, `nbf`, `iat`) as dates, and each against the request's `now`. */
export function timeClaims(claims, now) {
  const out = [];
  for (const name of ["iat", "nbf", "exp"]) {
    const t = claims?.[name];
    if (typeof t !== "number" || !Number.isFinite(t)) continue;
    let date;
    try {
      date = new Date(t * 1000).toISOString();
    } catch {
      date = "out of range";
    }
    let note = "";
    if (typeof now === "number") {
      const d = t - now;
      note = d === 0 ? "at the request's time" : d > 0 ? `${d} s after the request's time` : `${-d} s before the request's time`;
    }
    out.push({ name, value: t, date, note });
  }
  return out;
}
