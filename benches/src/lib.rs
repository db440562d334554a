//! The scenarios the benchmarks time, kept apart so a test can check that each one
//! decides what its name says (a benchmark of the wrong path measures nothing).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "benchmark fixtures: a broken fixture should stop the run loudly"
)]

use std::collections::BTreeMap;

use admit::{Decision, Engine, MapResolver, Reason, Request};

/// The `now` of every scenario (the fixtures' tokens are valid then).
pub const NOW: i64 = 1_790_000_000;
/// SkillMeat's test API key.
pub const API_KEY: &str = "sk-test-only-skillmeat-key";
/// RAG Modulo's test secret.
pub const RAG_SECRET: &str = "test-only-rag-modulo-secret-0123456789abcdef";

fn root() -> String {
    format!("{}/..", env!("CARGO_MANIFEST_DIR"))
}

/// A file of the repository.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", root())).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture token by name.
pub fn token(name: &str) -> String {
    let tokens: BTreeMap<String, String> = serde_json::from_str(&read("tests/fixtures/tokens.json")).unwrap();
    tokens[name].clone()
}

/// An example policy compiled with an environment.
pub fn example(name: &str, env: &[(&str, &str)]) -> Engine {
    let text = read(&format!("examples/policies/{name}.toml"));
    Engine::from_toml(&text, &examples_resolver(env)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The environment given, and the files beside the example policies (FetchML's keys file).
fn examples_resolver(env: &[(&str, &str)]) -> MapResolver {
    let mut r = MapResolver::from_env(env.iter().copied());
    r.files.insert("fetchml-keys.toml".to_owned(), read("examples/policies/fetchml-keys.toml"));
    r
}

/// The engine with the key set a host would have fetched for its Clerk `jwks_url`.
pub fn with_clerk_keys(engine: Engine) -> Engine {
    engine.set_jwks("clerk", &read("tests/fixtures/jwks.json")).unwrap_or_else(|e| panic!("clerk jwks: {e}"));
    engine
}

/// An example policy whose JWT authenticators remember no verified token: every
/// decision checks the signature, as for a token seen for the first time.
pub fn example_fresh(name: &str, env: &[(&str, &str)]) -> Engine {
    let text = uncached(&read(&format!("examples/policies/{name}.toml")));
    Engine::from_toml(&text, &examples_resolver(env)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The policy text with `verified_cache = 0` in each `jwt` authenticator.
fn uncached(text: &str) -> String {
    let out = text.replace("type = \"jwt\"\n", "type = \"jwt\"\nverified_cache = 0\n");
    assert_ne!(out, text, "no jwt authenticator to uncache");
    out
}

/// A JWT authenticator with every key kind, for the per-algorithm figures; it checks
/// every signature (no verified-token cache), as for fresh tokens.
pub fn jwt_engine() -> Engine {
    let policy = r#"
[[authenticators]]
type = "jwt"
id = "idp"
algorithms = ["RS256", "ES256", "EdDSA", "HS256"]
verified_cache = 0
jwks = { env = "JWKS" }
secret = { env = "RAG" }

[[routes]]
path = "/**"
"#;
    let jwks = read("tests/fixtures/jwks.json");
    Engine::from_toml(policy, &MapResolver::from_env([("JWKS", jwks.as_str()), ("RAG", RAG_SECRET)])).unwrap()
}

/// One timed request.
pub struct Scenario {
    /// The benchmark's name.
    pub name: &'static str,
    /// What the decision must say.
    pub reason: Reason,
    /// The engine.
    pub engine: Engine,
    /// The method.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// Headers.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Peer address.
    pub peer: Option<&'static str>,
}

impl Scenario {
    /// The header pairs, borrowed.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect()
    }

    /// Decides once.
    pub fn decide(&self, pairs: &[(&[u8], &[u8])]) -> Decision {
        self.engine.decide(&Request { method: self.method, path: self.path, headers: pairs, peer: self.peer, now: NOW })
    }
}

fn h(name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    (name.as_bytes().to_vec(), value.as_bytes().to_vec())
}

fn bearer(token: &str) -> (Vec<u8>, Vec<u8>) {
    h("Authorization", &format!("Bearer {token}"))
}

/// One decision of each kind on the example policies, and a denial of each main reason.
pub fn scenarios() -> Vec<Scenario> {
    let origin = "http://sot4-model-registry-dev.s3-website.us-east-2.amazonaws.com";
    let skillmeat_on =
        [("SKILLMEAT_AUTH_ENABLED", "true"), ("SKILLMEAT_API_KEY_ENABLED", "true"), ("SKILLMEAT_API_KEY", API_KEY)];
    let clerk_env = [
        ("SKILLMEAT_AUTH_ENABLED", "true"),
        ("CLERK_ISSUER", "https://test-instance.clerk.accounts.dev"),
        ("CLERK_JWKS_URL", "https://test-instance.clerk.accounts.dev/.well-known/jwks.json"),
    ];
    let common = vec![h("Host", "api.example.com"), h("User-Agent", "bench/1.0"), h("Accept", "application/json")];
    let with = |extra: Vec<(Vec<u8>, Vec<u8>)>| {
        let mut v = common.clone();
        v.extend(extra);
        v
    };
    vec![
        Scenario {
            name: "anonymous (SkillMeat zero-auth)",
            reason: Reason::Ok,
            engine: example("skillmeat", &[]),
            method: "GET",
            path: "/api/v1/artifacts",
            headers: with(vec![]),
            peer: None,
        },
        Scenario {
            name: "local (Artifact Miner)",
            reason: Reason::Ok,
            engine: example("artifact-miner", &[("ARTIFACT_MINER_EMAIL", "dev@example.com")]),
            method: "GET",
            path: "/portfolio",
            headers: vec![h("Host", "127.0.0.1:8000"), h("Accept", "application/json")],
            peer: Some("127.0.0.1"),
        },
        Scenario {
            name: "API key (FetchML, owner check)",
            reason: Reason::Ok,
            engine: example("fetchml", &[]),
            method: "GET",
            path: "/api/v1/jobs/bob/7",
            headers: with(vec![h("X-API-Key", "demo-researcher-key")]),
            peer: None,
        },
        Scenario {
            name: "static bearer (Model Registry)",
            reason: Reason::Ok,
            engine: example("model-registry", &[("AUTH_TOKEN", "test-only-model-registry-token")]),
            method: "GET",
            path: "/api/health",
            headers: with(vec![bearer("test-only-model-registry-token")]),
            peer: None,
        },
        Scenario {
            name: "JWT HS256 (RAG Modulo)",
            reason: Reason::Ok,
            engine: example("rag-modulo", &[("JWT_SECRET_KEY", RAG_SECRET)]),
            method: "POST",
            path: "/api/search",
            headers: with(vec![bearer(&token("rag_valid"))]),
            peer: None,
        },
        Scenario {
            name: "JWT RS256 (SkillMeat Clerk)",
            reason: Reason::Ok,
            engine: with_clerk_keys(example_fresh("skillmeat", &clerk_env)),
            method: "DELETE",
            path: "/api/v1/artifacts/7",
            headers: with(vec![bearer(&token("clerk_org_admin"))]),
            peer: None,
        },
        Scenario {
            name: "JWT RS256 repeated: a verified-token cache hit (SkillMeat Clerk)",
            reason: Reason::Ok,
            engine: with_clerk_keys(example("skillmeat", &clerk_env)),
            method: "DELETE",
            path: "/api/v1/artifacts/7",
            headers: with(vec![bearer(&token("clerk_org_admin"))]),
            peer: None,
        },
        Scenario {
            name: "JWT ES256",
            reason: Reason::Ok,
            engine: jwt_engine(),
            method: "GET",
            path: "/x",
            headers: with(vec![bearer(&token("clerk_es256"))]),
            peer: None,
        },
        Scenario {
            name: "JWT EdDSA",
            reason: Reason::Ok,
            engine: jwt_engine(),
            method: "GET",
            path: "/x",
            headers: with(vec![bearer(&token("clerk_eddsa"))]),
            peer: None,
        },
        Scenario {
            name: "CORS preflight (Model Registry)",
            reason: Reason::Preflight,
            engine: example("model-registry", &[("AUTH_TOKEN", "test-only-model-registry-token")]),
            method: "OPTIONS",
            path: "/api/artifact/model",
            headers: with(vec![
                h("Origin", origin),
                h("Access-Control-Request-Method", "POST"),
                h("Access-Control-Request-Headers", "content-type,authorization"),
            ]),
            peer: None,
        },
        Scenario {
            name: "deny: missing credentials",
            reason: Reason::MissingCredentials,
            engine: example("skillmeat", &skillmeat_on),
            method: "GET",
            path: "/api/v1/artifacts",
            headers: with(vec![]),
            peer: None,
        },
        Scenario {
            name: "deny: invalid API key",
            reason: Reason::InvalidCredentials,
            engine: example("skillmeat", &skillmeat_on),
            method: "GET",
            path: "/api/v1/artifacts",
            headers: with(vec![h("X-API-Key", "sk-wrong")]),
            peer: None,
        },
        Scenario {
            name: "deny: bad JWT signature",
            reason: Reason::InvalidCredentials,
            engine: example("rag-modulo", &[("JWT_SECRET_KEY", RAG_SECRET)]),
            method: "POST",
            path: "/api/search",
            headers: with(vec![bearer(&token("rag_wrong_secret"))]),
            peer: None,
        },
        Scenario {
            name: "deny: insufficient scope",
            reason: Reason::InsufficientScope,
            engine: example("skillmeat", &skillmeat_on),
            method: "DELETE",
            path: "/api/v1/artifacts/7",
            headers: with(vec![h("X-API-Key", API_KEY)]),
            peer: None,
        },
        Scenario {
            name: "deny: origin not allowed",
            reason: Reason::OriginNotAllowed,
            engine: example("model-registry", &[]),
            method: "GET",
            path: "/api/health",
            headers: with(vec![h("Origin", "https://evil.example")]),
            peer: None,
        },
        Scenario {
            name: "deny: no route",
            reason: Reason::NoRoute,
            engine: example("fetchml", &[]),
            method: "GET",
            path: "/nowhere/at/all",
            headers: with(vec![h("X-API-Key", "demo-researcher-key")]),
            peer: None,
        },
    ]
}

/// A policy with `n` API keys (`key-0` ... ), one role, one route.
pub fn many_keys(n: usize) -> Engine {
    let mut text = String::from(
        "scopes = [\"r\"]\n[roles.reader]\nscopes = [\"r\"]\n[[authenticators]]\ntype = \"api_key\"\nid = \"keys\"\n",
    );
    for i in 0..n {
        let digest = admit::hash_key(&format!("key-{i}"));
        text.push_str(&format!(
            "[[authenticators.keys]]\nid = \"k{i}\"\nsha256 = \"{digest}\"\nroles = [\"reader\"]\n"
        ));
    }
    text.push_str("[[routes]]\npath = \"/items/**\"\nrequire = [\"r\"]\n");
    Engine::from_toml(&text, &MapResolver::default()).unwrap()
}

/// A policy with `n` routes (`/svc{i}/items/{id}`), the request matching the last.
pub fn many_routes(n: usize) -> Engine {
    let mut text = String::from("[[authenticators]]\ntype = \"anonymous\"\nid = \"a\"\n");
    for i in 0..n {
        text.push_str(&format!("[[routes]]\nmethods = [\"GET\"]\npath = \"/svc{i}/items/{{id}}\"\n"));
    }
    Engine::from_toml(&text, &MapResolver::default()).unwrap()
}

/// A chain of `depth` roles, each including the next; the scope sits at the end.
pub fn deep_roles(depth: usize) -> Engine {
    let mut text = String::from("scopes = [\"deep\"]\n");
    for i in 0..depth {
        if i + 1 < depth {
            text.push_str(&format!("[roles.r{i}]\nincludes = [\"r{}\"]\n", i + 1));
        } else {
            text.push_str(&format!("[roles.r{i}]\nscopes = [\"deep\"]\n"));
        }
    }
    text.push_str("[[authenticators]]\ntype = \"anonymous\"\nid = \"a\"\nroles = [\"r0\"]\n[[routes]]\npath = \"/**\"\nrequire = [\"deep\"]\n");
    Engine::from_toml(&text, &MapResolver::default()).unwrap()
}

/// The RBAC decision compared with Cedar and Rego: a principal whose role includes
/// `team_member` may write artifacts.
pub fn rbac_engine() -> Engine {
    let text = r#"
scopes = ["artifacts:read", "artifacts:write", "artifacts:delete"]
[roles.viewer]
scopes = ["artifacts:read"]
[roles.team_member]
scopes = ["artifacts:write"]
includes = ["viewer"]
[[authenticators]]
type = "anonymous"
id = "user"
principal = "alice"
roles = ["team_member"]
[[routes]]
methods = ["POST"]
path = "/api/v1/artifacts"
require = ["artifacts:write"]
"#;
    Engine::from_toml(text, &MapResolver::default()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_decides_what_its_name_says() {
        for s in scenarios() {
            let d = s.decide(&s.pairs());
            assert_eq!(d.reason, s.reason, "{}: {d:?}", s.name);
        }
        for n in [10, 1000] {
            let e = many_keys(n);
            let key = format!("key-{}", n - 1);
            let d = e.decide(&Request {
                method: "GET",
                path: "/items/1",
                headers: &[(b"X-API-Key", key.as_bytes())],
                peer: None,
                now: NOW,
            });
            assert!(d.allow);
            let e = many_routes(n);
            let path = format!("/svc{}/items/9", n - 1);
            let d = e.decide(&Request { method: "GET", path: &path, headers: &[], peer: None, now: NOW });
            assert!(d.allow, "{d:?}");
            assert_eq!(d.rule.as_deref(), Some(format!("GET /svc{}/items/{{id}}", n - 1).as_str()));
        }
        let d = deep_roles(64).decide(&Request { method: "GET", path: "/x", headers: &[], peer: None, now: NOW });
        assert!(d.allow);
        let d = rbac_engine().decide(&Request {
            method: "POST",
            path: "/api/v1/artifacts",
            headers: &[],
            peer: None,
            now: NOW,
        });
        assert!(d.allow);
    }
}
