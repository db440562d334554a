//! JSON Web Tokens.
//!
//! The signature is checked by `jsonwebtoken`'s crypto layer; everything else is checked
//! here, against the request's `now` (jsonwebtoken's own `exp` check reads the system
//! clock, which does not exist on wasm32). The rules:
//! - the header's `alg` must be on the authenticator's allowlist; `none` never is;
//! - a key is used only with the algorithms of its own family (no HS/RS confusion);
//! - `kid` chooses among the configured keys; the header's `jwk`, `jku`, `x5u` and `x5c`
//!   are ignored, so a token can never bring its own key;
//! - ECDSA signatures are accepted only in the JWS form (raw R||S), not DER;
//! - a `crit` header is refused: admit implements no extension;
//! - a configured issuer, audience or authorized party must be in the token.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use super::{Denial, Identity, Outcome};
use crate::error::EngineError;
use crate::reason::Reason;
use crate::roles::{DirectScopes, RoleTable, Who};
use crate::scopes::ScopeTable;

/// The key families, finer than jsonwebtoken's: an EC key is good for one curve only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Hmac,
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyFamily {
    pub fn accepts(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyFamily::Hmac => matches!(alg, HS256 | HS384 | HS512),
            KeyFamily::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyFamily::P256 => alg == ES256,
            KeyFamily::P384 => alg == ES384,
            KeyFamily::Ed25519 => alg == EdDSA,
        }
    }
}

/// A verification key.
#[derive(Clone)]
pub(crate) struct JwtKey {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The JWK's own `alg`, if it names one.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material (an HMAC key is a secret).
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The keys an authenticator verifies with.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub keys: Vec<JwtKey>,
}

/// Parses an algorithm name; `none` and unknown names are errors.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err("algorithm `none` is never accepted".into());
    }
    Algorithm::from_str(name).map_err(|_| format!("`{name}` is not a supported algorithm"))
}

/// The shortest HMAC key for an algorithm (RFC 7518 section 3.2: at least the hash size).
pub fn min_hmac_key_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// Parses a JWKS. Keys of unsupported types, curves or uses are skipped and counted.
pub fn parse_jwks(text: &str) -> Result<(Vec<JwtKey>, usize), String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("key set is not JSON: {e}"))?;
    let keys = doc.get("keys").and_then(Json::as_array).ok_or("key set has no `keys` array")?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for k in keys {
        match jwk_to_key(k) {
            Some(key) => out.push(key),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

fn jwk_to_key(value: &Json) -> Option<JwtKey> {
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
        AlgorithmParameters::OctetKey(_) => KeyFamily::Hmac,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => KeyFamily::P256,
            EllipticCurve::P384 => KeyFamily::P384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => KeyFamily::Ed25519,
            _ => return None,
        },
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(Algorithm::from_str(&a.to_string()).ok()?),
        None => None,
    };
    if alg.is_some_and(|a| !family.accepts(a)) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(JwtKey { kid: jwk.common.key_id.clone(), family, alg, key })
}

/// Parses a PEM public key of any supported family.
pub fn parse_public_pem(pem: &str) -> Result<JwtKey, String> {
    let (family, key) = super::pem::public_key(pem)?;
    Ok(JwtKey { kid: None, family, alg: None, key })
}

/// A key for issuing tokens.
pub(crate) struct SigningKey {
    pub key: EncodingKey,
    pub alg: Algorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// Parses a PEM private key for one of the allowed algorithms.
pub fn parse_signing_pem(pem: &str, allowed: &[Algorithm]) -> Result<SigningKey, String> {
    let (family, key) = super::pem::private_key(pem)?;
    let alg = allowed
        .iter()
        .copied()
        .find(|a| family.accepts(*a))
        .ok_or_else(|| "no allowed algorithm fits the signing key".to_owned())?;
    // Sign once now, so that an EC or Ed25519 key the DER reader accepted but the signer
    // cannot use fails at load, not when the first token is issued. (ECDSA here is
    // deterministic, RFC 6979.) An RSA signature costs milliseconds, tens of them in
    // WASM: an RSA key is checked as a PKCS#1 structure instead.
    if family != KeyFamily::Rsa {
        jsonwebtoken::crypto::sign(b"admit signing key probe", &key, alg)
            .map_err(|_| "the signing key cannot sign (malformed key)".to_owned())?;
    }
    Ok(SigningKey { key, alg })
}

/// A compiled `jwt` authenticator.
#[derive(Debug)]
pub(crate) struct JwtAuthenticator {
    pub id: Arc<str>,
    pub algorithms: Vec<Algorithm>,
    pub keys: RwLock<Arc<KeySet>>,
    /// Keys from `secret` and `public_key`: kept when the JWKS is replaced.
    pub static_keys: Vec<JwtKey>,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub authorized_parties: Vec<String>,
    /// Upper-cased.
    pub types: Vec<String>,
    pub required_claims: Vec<String>,
    pub require_exp: bool,
    pub leeway: i64,
    pub max_lifetime: Option<i64>,
    pub subject_claim: String,
    pub roles_claims: Vec<Vec<String>>,
    /// Claim value -> role id; empty means claim values name roles directly.
    pub role_map: HashMap<String, usize>,
    pub default_role: Option<usize>,
    pub scopes_claims: Vec<Vec<String>>,
    pub signing: Option<SigningKey>,
    pub lifetime: i64,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    crit: Option<Json>,
}

/// True when the value has the shape of a compact JWS: three base64url parts.
pub fn is_jwt_shaped(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let b64 = |x: &str| x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    !h.is_empty() && !p.is_empty() && b64(h) && b64(p) && b64(s)
}

/// The payload of a JWT-shaped token as a JSON object, not yet verified.
fn decode_claims(token: &str) -> Result<Json, Denial> {
    let payload = token.split('.').nth(1).ok_or_else(|| Denial::invalid("not a JWT"))?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Denial::invalid("token payload is not base64url"))?;
    let claims: Json = serde_json::from_slice(&bytes).map_err(|_| Denial::invalid("token payload is not JSON"))?;
    if !claims.is_object() {
        return Err(Denial::invalid("token payload is not a JSON object"));
    }
    Ok(claims)
}

fn claim_path<'a>(claims: &'a Json, path: &[String]) -> Option<&'a Json> {
    let mut node = claims;
    for step in path {
        node = node.get(step)?;
    }
    if node.is_null() { None } else { Some(node) }
}

/// Strings in a claim: a string (split on spaces when `split`) or a list of strings.
fn claim_strings(value: &Json, split: bool) -> Vec<String> {
    match value {
        Json::String(s) if split => s.split_whitespace().map(str::to_owned).collect(),
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items.iter().filter_map(Json::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// A NumericDate (RFC 7519): integer or fractional seconds, floored.
fn numeric_date(claims: &Json, name: &str) -> Result<Option<i64>, Denial> {
    match claims.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15) {
                #[expect(clippy::cast_possible_truncation, reason = "bounded to below 1e15 just above")]
                Ok(Some(f.floor() as i64))
            } else {
                Err(Denial::invalid(format!("`{name}` claim is out of range")))
            }
        }
        Some(_) => Err(Denial::invalid(format!("`{name}` claim is not a number"))),
    }
}

impl JwtAuthenticator {
    /// Checks a Bearer value. Values that are not JWT-shaped are `NotMine`.
    pub fn authenticate(&self, token: &str, now: i64, roles: &RoleTable, scopes: &ScopeTable) -> Outcome {
        if !is_jwt_shaped(token) {
            return Outcome::NotMine;
        }
        // The payload, decoded once: read unverified only to choose the authenticator by
        // `iss` (several issuers may share the Bearer header); trusted only after the
        // signature checks out in `verify`, which reports its errors where it always did.
        let claims = decode_claims(token);
        if let (Some(issuer), Ok(c)) = (&self.issuer, &claims) {
            if c.get("iss").and_then(Json::as_str).is_some_and(|iss| iss != issuer) {
                return Outcome::NotMine;
            }
        }
        match self.verify(token, claims, now) {
            Ok(claims) => match self.identity(claims, roles, scopes) {
                Ok(identity) => Outcome::Authenticated(identity),
                Err(d) => Outcome::Denied(d),
            },
            Err(d) => Outcome::Denied(d),
        }
    }

    /// Verifies signature and claims; returns the claims (from `decode_claims`).
    fn verify(&self, token: &str, claims: Result<Json, Denial>, now: i64) -> Result<Json, Denial> {
        let (message, signature) = token.rsplit_once('.').ok_or_else(|| Denial::invalid("not a JWT"))?;
        let (header_b64, _) = message.split_once('.').ok_or_else(|| Denial::invalid("not a JWT"))?;
        let header_bytes =
            URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| Denial::invalid("token header is not base64url"))?;
        let header: RawHeader =
            serde_json::from_slice(&header_bytes).map_err(|_| Denial::invalid("token header is not a JWS header"))?;
        let alg = parse_algorithm(&header.alg).map_err(|_| Denial::invalid("token algorithm not accepted"))?;
        if !self.algorithms.contains(&alg) {
            return Err(Denial::invalid("token algorithm not accepted"));
        }
        if header.crit.is_some() {
            return Err(Denial::invalid("token has critical header extensions"));
        }
        if !self.types.is_empty() {
            let ok = header.typ.as_deref().is_some_and(|t| self.types.iter().any(|a| a.eq_ignore_ascii_case(t)));
            if !ok {
                return Err(Denial::invalid("token type not accepted"));
            }
        }
        let keyset = match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        if keyset.keys.is_empty() {
            // A key set not fetched yet: `unknown_key` tells the host to fetch it.
            return Err(Denial::new(Reason::UnknownKey, "no key set has been loaded yet"));
        }
        let any_kid = keyset.keys.iter().any(|k| k.kid.is_some());
        let fits = |k: &&JwtKey| k.family.accepts(alg) && k.alg.is_none_or(|a| a == alg);
        let candidates: Vec<&JwtKey> = match (&header.kid, any_kid) {
            (Some(kid), true) => {
                let Some(key) = keyset.keys.iter().find(|k| k.kid.as_deref() == Some(kid.as_str())) else {
                    return Err(Denial::new(Reason::UnknownKey, "token names a key the key set lacks"));
                };
                if !fits(&key) {
                    return Err(Denial::invalid("token algorithm does not fit its key"));
                }
                vec![key]
            }
            _ => keyset.keys.iter().filter(fits).collect(),
        };
        if candidates.is_empty() {
            return Err(Denial::invalid("no key for the token's algorithm"));
        }
        let verified = candidates
            .iter()
            .any(|k| matches!(jsonwebtoken::crypto::verify(signature, message.as_bytes(), &k.key, alg), Ok(true)));
        if !verified {
            return Err(Denial::invalid("bad token signature"));
        }
        let claims = claims?;
        self.check_claims(&claims, now)?;
        Ok(claims)
    }

    fn check_claims(&self, claims: &Json, now: i64) -> Result<(), Denial> {
        let exp = numeric_date(claims, "exp")?;
        let nbf = numeric_date(claims, "nbf")?;
        let iat = numeric_date(claims, "iat")?;
        match exp {
            Some(exp) if now >= exp.saturating_add(self.leeway) => {
                return Err(Denial::new(Reason::Expired, "token expired"));
            }
            None if self.require_exp => return Err(Denial::invalid("token has no `exp`")),
            _ => {}
        }
        if let Some(nbf) = nbf {
            if now.saturating_add(self.leeway) < nbf {
                return Err(Denial::new(Reason::NotYetValid, "token not yet valid"));
            }
        }
        if let (Some(max), Some(exp)) = (self.max_lifetime, exp) {
            let start = iat.unwrap_or(now);
            if exp.saturating_sub(start) > max {
                return Err(Denial::invalid("token lifetime exceeds the allowed maximum"));
            }
        }
        if let Some(iss) = &self.issuer {
            if claims.get("iss").and_then(Json::as_str) != Some(iss.as_str()) {
                return Err(Denial::invalid("token issuer not accepted"));
            }
        }
        if !self.audience.is_empty() {
            let aud = claims.get("aud").map(|a| claim_strings(a, false)).unwrap_or_default();
            if !aud.iter().any(|a| self.audience.contains(a)) {
                return Err(Denial::invalid("token audience not accepted"));
            }
        }
        if !self.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(Json::as_str);
            if !azp.is_some_and(|a| self.authorized_parties.iter().any(|p| p == a)) {
                return Err(Denial::invalid("token authorized party not accepted"));
            }
        }
        for c in &self.required_claims {
            if claims.get(c).is_none_or(Json::is_null) {
                return Err(Denial::invalid(format!("token lacks the `{c}` claim")));
            }
        }
        Ok(())
    }

    fn identity(&self, claims: Json, roles: &RoleTable, scopes: &ScopeTable) -> Result<Identity, Denial> {
        let subject = match claims.get(&self.subject_claim) {
            Some(Json::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(Denial::invalid(format!("token has no `{}` claim", self.subject_claim))),
        };
        let mut role_ids: Vec<usize> = Vec::new();
        if let Some(values) = self.roles_claims.iter().find_map(|p| claim_path(&claims, p)) {
            for v in claim_strings(values, false) {
                let id = if self.role_map.is_empty() { roles.id(&v) } else { self.role_map.get(&v).copied() };
                if let Some(id) = id {
                    if !role_ids.contains(&id) {
                        role_ids.push(id);
                    }
                }
            }
        }
        if role_ids.is_empty() {
            role_ids.extend(self.default_role);
        }
        let token_scopes = self
            .scopes_claims
            .iter()
            .find_map(|p| claim_path(&claims, p))
            .map(|v| claim_strings(v, true))
            .unwrap_or_default();
        let who = Who { id: &subject, authenticator: &self.id, kind: "jwt" };
        Ok(roles.identity(who, &role_ids, &token_scopes, DirectScopes::Exact, scopes, Some(claims)))
    }

    /// Replaces the key set (JWKS rotation).
    pub fn set_keys(&self, jwks: Vec<JwtKey>) {
        let mut keys = self.static_keys.clone();
        keys.extend(jwks);
        let new = Arc::new(KeySet { keys });
        match self.keys.write() {
            Ok(mut guard) => *guard = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// Issues a token this authenticator accepts.
    pub fn issue(&self, req: &TokenRequest<'_>, roles: &RoleTable) -> Result<String, EngineError> {
        let signing = self.signing.as_ref().ok_or_else(|| {
            EngineError::Unsupported(format!(
                "authenticator `{}` has no signing key (`secret` or `signing_key`)",
                self.id
            ))
        })?;
        if req.subject.is_empty() {
            return Err(EngineError::Invalid("a token needs a subject".into()));
        }
        let lifetime = req.lifetime.unwrap_or(self.lifetime);
        if !(1..=10 * 365 * 86_400).contains(&lifetime) {
            return Err(EngineError::Invalid("lifetime must be between 1 second and 10 years".into()));
        }
        if let Some(max) = self.max_lifetime {
            if lifetime > max {
                return Err(EngineError::Invalid(format!(
                    "lifetime exceeds this authenticator's max_lifetime of {max} s"
                )));
            }
        }
        let mut claims = req.extra.clone().unwrap_or_default();
        claims.insert(self.subject_claim.clone(), Json::from(req.subject));
        claims.insert("iat".into(), Json::from(req.now));
        claims.insert("exp".into(), Json::from(req.now.saturating_add(lifetime)));
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), Json::from(iss.as_str()));
        }
        if let Some(aud) = self.audience.first() {
            claims.insert("aud".into(), Json::from(aud.as_str()));
        }
        if let Some(azp) = self.authorized_parties.first() {
            claims.insert("azp".into(), Json::from(azp.as_str()));
        }
        if !req.scopes.is_empty() {
            let default_path = vec!["scope".to_owned()];
            let path = self.scopes_claims.first().unwrap_or(&default_path);
            insert_path(&mut claims, path, Json::from(req.scopes.join(" ")));
        }
        if !req.roles.is_empty() {
            let path = self.roles_claims.first().ok_or_else(|| {
                EngineError::Unsupported(format!("authenticator `{}` has no `roles_claims` to carry roles", self.id))
            })?;
            let mut values = Vec::new();
            for r in req.roles {
                let id = roles.id(r).ok_or_else(|| EngineError::Invalid(format!("role `{r}` is not defined")))?;
                let value = if self.role_map.is_empty() {
                    r.clone()
                } else {
                    let mut keys: Vec<&String> =
                        self.role_map.iter().filter(|(_, v)| **v == id).map(|(k, _)| k).collect();
                    keys.sort();
                    keys.first()
                        .map(|k| (*k).clone())
                        .ok_or_else(|| EngineError::Invalid(format!("no `role_map` entry yields role `{r}`")))?
                };
                values.push(Json::from(value));
            }
            let value = if values.len() == 1 { values.pop().unwrap_or(Json::Null) } else { Json::Array(values) };
            insert_path(&mut claims, path, value);
        }
        let header = Header::new(signing.alg);
        jsonwebtoken::encode(&header, &claims, &signing.key)
            .map_err(|e| EngineError::Invalid(format!("cannot sign the token: {e}")))
    }
}

fn insert_path(claims: &mut Map<String, Json>, path: &[String], value: Json) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = claims;
    for p in parents {
        let entry = node.entry(p.clone()).or_insert_with(|| Json::Object(Map::new()));
        if !entry.is_object() {
            *entry = Json::Object(Map::new());
        }
        let Json::Object(next) = entry else { return };
        node = next;
    }
    node.insert(last.clone(), value);
}

/// What to put in an issued token.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest<'a> {
    /// The subject (`sub`, or the authenticator's `subject_claim`).
    pub subject: &'a str,
    /// Roles, by their names in the policy.
    pub roles: &'a [String],
    /// Scopes, written to `scope` space-separated.
    pub scopes: &'a [String],
    /// Seconds; default: the authenticator's `lifetime`.
    pub lifetime: Option<i64>,
    /// Unix seconds of issue.
    pub now: i64,
    /// Further claims.
    pub extra: Option<Map<String, Json>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        assert!(is_jwt_shaped("eyJh.eyJz.c2ln"));
        assert!(is_jwt_shaped("eyJh.eyJz."));
        assert!(!is_jwt_shaped("eyJh.eyJz"));
        assert!(!is_jwt_shaped("a.b.c.d"));
        assert!(!is_jwt_shaped(".b.c"));
        assert!(!is_jwt_shaped("a+b.c.d"));
        assert!(!is_jwt_shaped("sk-plain-token"));
    }

    #[test]
    fn algorithms() {
        assert!(parse_algorithm("none").is_err());
        assert!(parse_algorithm("NONE").is_err());
        assert!(parse_algorithm("HS1").is_err());
        assert_eq!(parse_algorithm("EdDSA").unwrap(), Algorithm::EdDSA);
        assert!(KeyFamily::Rsa.accepts(Algorithm::PS256));
        assert!(!KeyFamily::Rsa.accepts(Algorithm::HS256));
        assert!(!KeyFamily::Hmac.accepts(Algorithm::RS256));
        assert!(!KeyFamily::P256.accepts(Algorithm::ES384));
    }

    #[test]
    fn numeric_dates() {
        let c: Json = serde_json::json!({"a": 5, "b": 5.9, "c": "5", "d": 1e300});
        assert_eq!(numeric_date(&c, "a").unwrap(), Some(5));
        assert_eq!(numeric_date(&c, "b").unwrap(), Some(5));
        assert!(numeric_date(&c, "c").is_err());
        assert!(numeric_date(&c, "d").is_err());
        assert_eq!(numeric_date(&c, "z").unwrap(), None);
    }

    #[test]
    fn jwks_skips_unusable_keys() {
        let text = r#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"h"},
            {"kty":"EC","crv":"P-521","x":"AA","y":"AA","kid":"x"},
            {"kty":"oct","k":"c2VjcmV0","use":"enc"},
            {"kty":"oct","k":"c2VjcmV0","alg":"RS256"},
            {"kty":"weird"}
        ]}"#;
        let (keys, skipped) = parse_jwks(text).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(skipped, 4);
        assert!(parse_jwks("[]").is_err());
        assert!(parse_jwks("nope").is_err());
    }

    #[test]
    fn claim_paths_and_insertion() {
        let mut m = Map::new();
        insert_path(&mut m, &["o".into(), "rol".into()], Json::from("admin"));
        let v = Json::Object(m);
        assert_eq!(claim_path(&v, &["o".into(), "rol".into()]), Some(&Json::from("admin")));
        assert_eq!(claim_path(&v, &["o".into(), "x".into()]), None);
        assert_eq!(claim_strings(&Json::from("a b  c"), true), vec!["a", "b", "c"]);
        assert_eq!(claim_strings(&serde_json::json!(["a", 1, "b"]), false), vec!["a", "b"]);
    }
}
