// Run by jwks.test.mjs in a child process, so that NODE_EXTRA_CA_CERTS (read at start)
// can trust the test's certificate: fetches the set at URL (argv[2]) with Node's fetch
// through decideWithJwks and prints the decision's reason for the token (argv[3]).
import { readFileSync } from "node:fs";
import { decideWithJwks, Engine } from "admit-wasm";

const [url, token] = process.argv.slice(2);
const policy = readFileSync(new URL("../../examples/policies/skillmeat.toml", import.meta.url), "utf8");
const engine = new Engine(policy, {
  env: { SKILLMEAT_AUTH_ENABLED: "true", CLERK_ISSUER: "https://test-instance.clerk.accounts.dev", CLERK_AUDIENCE: "skillmeat-api", CLERK_JWKS_URL: url },
});
const d = await decideWithJwks(
  engine,
  { method: "GET", path: "/api/v1/artifacts", headers: [["Authorization", `Bearer ${token}`]], now: 1790000000 },
  { log: (e) => e.event !== "fetched" && console.error(`${e.event}: ${e.reason}`) },
);
console.log(d.reason);
