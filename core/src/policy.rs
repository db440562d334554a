//! The policy language: what an operator writes, in TOML or JSON. Every field is
//! documented in `docs/policy.md`. A [`Policy`] is data; [`crate::Engine`] compiles it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::value::{Condition, Value, ValueList};

fn never() -> Condition {
    Condition::Always(false)
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A whole policy file.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The realm named in `WWW-Authenticate` challenges. Default `"admit"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Report instead of enforce: denials pass with `dry_run: true`. Default `false`; a
    /// condition (`{ env = "NAME" }`) lets an operator switch it from the environment.
    #[serde(default = "never", skip_serializing_if = "Condition::is_always_false")]
    pub dry_run: Condition,
    /// Every scope that routes may require.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Roles by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, RoleSpec>,
    /// The authenticators, tried in the order written (see `docs/policy.md`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authenticators: Vec<AuthenticatorSpec>,
    /// Route rules; the first that matches the request decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteSpec>,
    /// Cross-origin resource sharing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<CorsSpec>,
    /// How denials are answered.
    #[serde(default, skip_serializing_if = "ResponsesSpec::is_default")]
    pub responses: ResponsesSpec,
    /// Size limits on what a request may carry.
    #[serde(default, skip_serializing_if = "LimitsSpec::is_default")]
    pub limits: LimitsSpec,
    /// Which request targets are refused because routers read them differently.
    #[serde(default, skip_serializing_if = "PathsSpec::is_default")]
    pub paths: PathsSpec,
}

/// A role: the scopes it grants and the roles it includes.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// Scopes granted, with wildcards: `*`, `artifacts:*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Other roles whose scopes this one also grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<String>,
}

/// One authenticator, by `type`.
///
/// Read by hand rather than with serde's internally tagged enums, which buffer every
/// table into an intermediate form and lose the place of an error inside it: here the
/// table is read as a JSON object, `type` taken out, and the rest read as that type, so
/// an error names the field (`authenticators[1].keys[0].sha256`), and the WASM build
/// carries one deserializer per type instead of two.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthenticatorSpec {
    /// Zero-auth: every request gets a fixed principal.
    Anonymous(AnonymousSpec),
    /// No credentials, but only from the machine itself.
    Local(LocalSpec),
    /// Keys in a header (default `X-API-Key`), kept as SHA-256 digests.
    ApiKey(ApiKeySpec),
    /// Static bearer tokens and personal access tokens, kept as SHA-256 digests.
    BearerToken(BearerTokenSpec),
    /// Signed JSON Web Tokens in `Authorization: Bearer`.
    Jwt(Box<JwtSpec>),
    /// Credentials only the host's application can check (a session in its database, an
    /// opaque token to introspect): the engine finds the credential, the host's check
    /// names the principal or refuses, the engine applies the rest of the policy.
    Delegated(DelegatedSpec),
}

/// The `type` names, in the order the documentation lists them.
const AUTHENTICATOR_TYPES: &str = "`anonymous`, `local`, `api_key`, `bearer_token`, `jwt`, `delegated`";

impl<'de> Deserialize<'de> for AuthenticatorSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = serde_json::Map::deserialize(d)?;
        let kind = match table.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("`type` must be a string")),
            None => return Err(D::Error::custom(format_args!("missing field `type` (one of {AUTHENTICATOR_TYPES})"))),
        };
        let rest = serde_json::Value::Object(table);
        let spec = match kind.as_str() {
            "anonymous" => read(rest).map(AuthenticatorSpec::Anonymous),
            "local" => read(rest).map(AuthenticatorSpec::Local),
            "api_key" => read(rest).map(AuthenticatorSpec::ApiKey),
            "bearer_token" => read(rest).map(AuthenticatorSpec::BearerToken),
            "jwt" => read(rest).map(AuthenticatorSpec::Jwt),
            "delegated" => read(rest).map(AuthenticatorSpec::Delegated),
            other => {
                return Err(D::Error::custom(format_args!(
                    "unknown authenticator type `{other}`, expected one of {AUTHENTICATOR_TYPES}"
                )));
            }
        };
        spec.map_err(D::Error::custom)
    }
}

/// Reads one authenticator's fields. An error leaves as text that starts with its place
/// inside the table (`` `keys[0].sha256`: ... ``), which the tree reader takes back into
/// the error's place.
fn read<T: serde::de::DeserializeOwned>(table: serde_json::Value) -> Result<T, String> {
    crate::tree::from_tree(table).map_err(|e| e.to_string())
}

impl AuthenticatorSpec {
    /// The authenticator's id.
    pub fn id(&self) -> &str {
        match self {
            AuthenticatorSpec::Anonymous(s) => &s.id,
            AuthenticatorSpec::Local(s) => &s.id,
            AuthenticatorSpec::ApiKey(s) => &s.id,
            AuthenticatorSpec::BearerToken(s) => &s.id,
            AuthenticatorSpec::Jwt(s) => &s.id,
            AuthenticatorSpec::Delegated(s) => &s.id,
        }
    }

    /// Whether the authenticator is switched on.
    pub fn enabled(&self) -> &Condition {
        match self {
            AuthenticatorSpec::Anonymous(s) => &s.enabled,
            AuthenticatorSpec::Local(s) => &s.enabled,
            AuthenticatorSpec::ApiKey(s) => &s.enabled,
            AuthenticatorSpec::BearerToken(s) => &s.enabled,
            AuthenticatorSpec::Jwt(s) => &s.enabled,
            AuthenticatorSpec::Delegated(s) => &s.enabled,
        }
    }

    /// The `type` as written.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthenticatorSpec::Anonymous(_) => "anonymous",
            AuthenticatorSpec::Local(_) => "local",
            AuthenticatorSpec::ApiKey(_) => "api_key",
            AuthenticatorSpec::BearerToken(_) => "bearer_token",
            AuthenticatorSpec::Jwt(_) => "jwt",
            AuthenticatorSpec::Delegated(_) => "delegated",
        }
    }
}

/// `type = "anonymous"`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousSpec {
    /// The authenticator's id.
    pub id: String,
    /// Whether it is switched on. Default `true`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
    /// The principal's id. Default `"anonymous"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    /// Roles of the principal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Scopes of the principal, beyond its roles'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// `type = "local"`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSpec {
    /// The authenticator's id.
    pub id: String,
    /// Whether it is switched on. Default `true`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
    /// The principal's id (e.g. `{ env = "ARTIFACT_MINER_EMAIL" }`). Default `"local"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    /// Roles of the principal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Scopes of the principal, beyond its roles'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Host header names accepted (port ignored). Default `localhost`, `127.0.0.1`, `[::1]`.
    #[serde(default, skip_serializing_if = "ValueList::is_empty")]
    pub hosts: ValueList,
    /// Origins a browser request may come from (patterns as in `[cors]`). Default none:
    /// any request that carries an `Origin` header is refused.
    #[serde(default, skip_serializing_if = "ValueList::is_empty")]
    pub origins: ValueList,
    /// Accept `Sec-Fetch-Site: same-site` without an allowed `Origin` (a page on another
    /// port of this machine). Default `false`; `cross-site` is always refused.
    #[serde(default, skip_serializing_if = "is_false")]
    pub same_site: bool,
}

/// A key or token the policy knows: by its SHA-256, or by a reference to its
/// plaintext that the engine hashes at load.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// The key's id, reported in errors and logs instead of the key.
    pub id: String,
    /// The principal the key stands for. Default: the key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Value>,
    /// The key's SHA-256, 64 hex digits (`admit hash KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Value>,
    /// Where the key's plaintext is (`{ env = "NAME" }` or `{ file = "PATH" }`); never the
    /// plaintext itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::secret_reference"))]
    pub secret: Option<Value>,
    /// Roles of the principal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Scopes of the principal, beyond its roles'.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// When the key stops working: unix seconds or RFC 3339 (`2027-01-01T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Value>,
    /// A revoked key is refused with reason `revoked`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoked: bool,
    /// Whether this key is switched on. Default `true`; a key whose `secret` is an unset
    /// environment variable can be made optional with `{ set = "NAME" }`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
}

/// `type = "api_key"`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    /// The authenticator's id.
    pub id: String,
    /// Whether it is switched on. Default `true`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
    /// The header the key arrives in. Default `X-API-Key`. Shorthand for
    /// `sources = [{ header = "..." }]`; not with `sources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Where the key may arrive: headers, cookies, an opted-in query parameter. Default
    /// `[{ header = "X-API-Key" }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceSpec>>,
    /// The keys: a list, or a keys file kept outside the policy (`{ file = "PATH" }`, or
    /// `{ env = "NAME" }` naming the file's path) that the host can replace at run time.
    #[serde(default)]
    pub keys: Credentials,
}

/// `type = "bearer_token"`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenSpec {
    /// The authenticator's id.
    pub id: String,
    /// Whether it is switched on. Default `true`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
    /// Where the token may arrive. Default `[{ header = "Authorization", prefix = "Bearer " }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceSpec>>,
    /// The tokens: a list, or a keys file kept outside the policy, as for `api_key`.
    #[serde(default)]
    pub tokens: Credentials,
}

/// The credentials of an `api_key` or `bearer_token` authenticator: written in the policy,
/// or kept in a keys file of their own (see [`KeysFile`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    /// `keys = [{ id = ..., sha256 = ... }, ...]`.
    Inline(Vec<CredentialSpec>),
    /// `keys = { file = "PATH" }`, or `keys = { env = "NAME" }` whose value is the path.
    File(Value),
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials::Inline(Vec::new())
    }
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CredentialsVisitor;
        impl<'de> serde::de::Visitor<'de> for CredentialsVisitor {
            type Value = Credentials;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of keys, or a keys file: `{ file = \"PATH\" }` or `{ env = \"NAME\" }`")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Credentials, A::Error> {
                let mut items = Vec::new();
                while let Some(c) = seq.next_element::<CredentialSpec>()? {
                    items.push(c);
                }
                Ok(Credentials::Inline(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Credentials, A::Error> {
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Credentials::File(v))
            }
        }
        d.deserialize_any(CredentialsVisitor)
    }
}

impl Serialize for Credentials {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Credentials::Inline(list) => list.serialize(s),
            Credentials::File(v) => v.serialize(s),
        }
    }
}

/// A keys file: the credentials of one `api_key` or `bearer_token` authenticator, kept
/// apart from the policy so that keys are added and revoked without touching it.
///
/// ```toml
/// [[keys]]
/// id = "bob"
/// sha256 = "ba0fd156826bd8b9d591c4dde23be07e3fe78a0d9946b7a2c362e8a996d5c60d"
/// roles = ["researcher"]
/// ```
///
/// Each entry has the fields of a key in the policy but `secret` and `enabled`, and
/// every value is written literally: a keys file is data, not a place for references.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    /// The keys. Required, though it may be empty (`keys = []`): a file without it is
    /// more likely cut short while being written than meant to hold no key.
    pub keys: Vec<CredentialSpec>,
}

/// `type = "delegated"`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatedSpec {
    /// The authenticator's id: the name the host registers its check under.
    pub id: String,
    /// Whether it is switched on. Default `true`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
    /// Where the credential may arrive. Default `[{ header = "Authorization", prefix = "Bearer " }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceSpec>>,
}

/// One place a credential may arrive in: exactly one of `header`, `cookie` and `query`.
/// `{ header = "Authorization", prefix = "Bearer " }` is RFC 6750's Bearer header;
/// `{ query = "access_token", allow_query = true }` must opt in (RFC 6750 section 2.3).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A request header (name case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// With `header`: the text the value starts with (ASCII case-insensitive), taken off
    /// with the spaces after it; a value without it holds no credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A cookie of the `Cookie` header (name case-sensitive, RFC 6265).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// A query parameter of the request target. Needs `allow_query = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// With `query`: the operator's explicit opt-in to a source RFC 6750 section 2.3
    /// discourages (query strings are logged by servers, proxies and browsers).
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_query: bool,
}

/// `type = "jwt"`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// The authenticator's id.
    pub id: String,
    /// Whether it is switched on. Default `true`.
    #[serde(default, skip_serializing_if = "Condition::is_always_true")]
    pub enabled: Condition,
    /// Accepted algorithms (`HS256`, `RS256`, `ES256`, `EdDSA`, ...). Required; `none` is
    /// never accepted.
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::algorithms"))]
    pub algorithms: ValueList,
    /// Where the token may arrive. Default `[{ header = "Authorization", prefix = "Bearer " }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceSpec>>,
    /// An HMAC secret (HS256/384/512), as a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::secret_reference"))]
    pub secret: Option<Value>,
    /// `utf8` (default) or `base64`: how the secret's text is turned into key bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::secret_encoding"))]
    pub secret_encoding: Option<String>,
    /// A PEM public key (RSA, EC or Ed25519).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Value>,
    /// A JSON Web Key Set, as JSON text or the path of a file holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Where the host fetches the JSON Web Key Set from (`https://`, or `http://` on a
    /// loopback address). The engine never fetches: it lists the URL
    /// ([`crate::Engine::jwks_urls`]) and takes the set through `set_jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<Value>,
    /// A PEM private key for issuing tokens with RS/PS/ES/EdDSA algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::secret_reference"))]
    pub signing_key: Option<Value>,
    /// The required `iss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Value>,
    /// Accepted audiences: the token's `aud` must name at least one.
    #[serde(default, skip_serializing_if = "ValueList::is_empty")]
    pub audience: ValueList,
    /// Accepted authorized parties: the token's `azp` must be one.
    #[serde(default, skip_serializing_if = "ValueList::is_empty")]
    pub authorized_parties: ValueList,
    /// Accepted `typ` header values (case-insensitive). Default: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Claims that must be present.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_claims: Vec<String>,
    /// Whether `exp` must be present. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_exp: Option<bool>,
    /// Seconds of clock skew allowed for `exp` and `nbf`. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<Value>,
    /// The longest lifetime a token may claim (`exp - iat`), in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<Value>,
    /// The claim naming the principal. Default `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_claim: Option<String>,
    /// Claim paths holding roles, first present wins (`org_role`, `o.rol`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles_claims: Vec<String>,
    /// Claim value -> role. When set, only mapped values count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub role_map: BTreeMap<String, String>,
    /// The role of a token that yields no role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    /// Claim paths holding scopes (space-separated string or list). Default `scope`, `scp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_claims: Option<Vec<String>>,
    /// Lifetime of tokens this authenticator issues, in seconds. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<Value>,
    /// How many tokens whose RSA, ECDSA or Ed25519 signature checked out are remembered,
    /// so that a token seen again skips the signature (its claims are still checked on
    /// every request). Default 1024; 0 switches the cache off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_cache: Option<Value>,
}

/// One route rule.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// A name for the rule, reported in decisions. Default: its methods and path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Methods, or `*` for any. Default any. `GET` also matches `HEAD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// A path pattern: `/api/v1/artifacts/{id}`, `*` for one segment, `**` at the end for
    /// any rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Several path patterns for the same rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Open to everyone; no credential is looked at.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public: bool,
    /// Never served (`route_denied`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deny: bool,
    /// Scopes the principal must all hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    /// Scopes of which the principal must hold at least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_any: Vec<String>,
    /// Only these authenticators may admit a request on this route. Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticators: Option<Vec<String>>,
    /// Limits the grant to the principal's own resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerSpec>,
    /// Report instead of enforce for this rule.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

/// `owner = { param = "owner", unless = ["jobs:all"] }`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerSpec {
    /// A path parameter that must equal the principal's id. Without it the decision
    /// only carries the constraint, for the handler to filter by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Scopes that lift the restriction (an admin sees everyone's resources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<String>,
    /// The key of the constraint in the decision. Default `owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
}

/// `[cors]`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSpec {
    /// Allowed origins: exact (`https://app.example.com`), subdomain patterns
    /// (`https://*.example.com`), any port (`http://localhost:*`), or `*`.
    pub origins: ValueList,
    /// Allowed methods. Default `GET, HEAD, POST`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Allowed request headers (case-insensitive). Default none beyond the safelisted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Response headers the page may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Whether credentials (cookies, Authorization) may be sent. Default `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub credentials: bool,
    /// `Access-Control-Max-Age` of preflight answers, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

/// `[responses]`: how denials are answered.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesSpec {
    /// The body of a denial: `"none"` (default), `"text"`, `"fastapi"`
    /// (`{"detail": message}`), or a JSON template with `{message}`, `{status}` and
    /// `{reason}` placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The scheme of `WWW-Authenticate` challenges: `Bearer` (default), another
    /// scheme name, or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// Overrides by reason code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "crate::schema::reason_responses"))]
    pub reasons: BTreeMap<String, ReasonResponseSpec>,
}

impl ResponsesSpec {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[responses.reasons.NAME]`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonResponseSpec {
    /// The status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether to send a `WWW-Authenticate` challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<bool>,
}

/// `[limits]`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// The longest value of a header admit reads (Authorization, the API key header,
    /// Origin, Host). Default 8192 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_header_bytes: Option<usize>,
    /// The longest request path. Default 8192 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_path_bytes: Option<usize>,
}

impl LimitsSpec {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `[paths]`: what to do with request targets that routers read differently. Each
/// default refuses the target (`malformed_request`, 400); the other choice is for a host
/// whose router is known to read them the way admit then does (see `docs/policy.md` 6.3).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSpec {
    /// `%2F` and `%5C` (an encoded `/` or `\`): `reject` (default) or `keep` (inside
    /// its segment, for a router that matches on the undecoded path).
    #[serde(default, skip_serializing_if = "is_default")]
    pub escaped_slashes: EscapedSlashes,
    /// `.` and `..` segments, raw or encoded: `reject` (default) or `resolve` (RFC 3986
    /// 5.2.4, for a router that resolves them before matching).
    #[serde(default, skip_serializing_if = "is_default")]
    pub dot_segments: DotSegments,
    /// Empty segments (`//`): `reject` (default) or `merge` (for a router that merges
    /// slashes, as nginx does).
    #[serde(default, skip_serializing_if = "is_default")]
    pub empty_segments: EmptySegments,
    /// A path ending in `/`: `reject` (default) or `strip` (for a router that treats
    /// `/a/` as `/a`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub trailing_slash: TrailingSlash,
    /// A `#` in the target (a request-target has no fragment, RFC 9112 3.2): `reject`
    /// (default) or `drop` (cut the target there, for a server that does).
    #[serde(default, skip_serializing_if = "is_default")]
    pub fragment: Fragment,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl PathsSpec {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `paths.escaped_slashes`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EscapedSlashes {
    /// Refuse the target.
    #[default]
    Reject,
    /// Keep the escape inside its segment.
    Keep,
}

/// `paths.dot_segments`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DotSegments {
    /// Refuse the target.
    #[default]
    Reject,
    /// Remove `.`; `..` removes the segment before it.
    Resolve,
}

/// `paths.empty_segments`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptySegments {
    /// Refuse the target.
    #[default]
    Reject,
    /// Treat `//` as `/`.
    Merge,
}

/// `paths.trailing_slash`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrailingSlash {
    /// Refuse the target.
    #[default]
    Reject,
    /// Treat `/a/` as `/a`.
    Strip,
}

/// `paths.fragment`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fragment {
    /// Refuse the target.
    #[default]
    Reject,
    /// Cut the target at the `#`.
    Drop,
}
