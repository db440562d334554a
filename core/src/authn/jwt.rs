//! JSON Web Tokens.
//!
//! The signature is checked by the crypto backend (`crypto`), which is asked nothing
//! else; everything else is checked here, against the request's `now`. The rules:
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
use serde_json::{Map, Value as Json};

use super::crypto::deferred::{HostChecks, SignatureCheck};
pub(crate) use super::crypto::{Algorithm, SigningKey as SignerKey, Verified, VerifyingKey};
use super::material;
use super::token_cache::TokenCache;
use super::{ByteClass, Denial, Identity, Outcome};
use crate::error::EngineError;
use crate::reason::Reason;
use crate::roles::{DirectScopes, RoleTable, Who};
use crate::scopes::ScopeTable;
use crate::tree::Tree;

/// The most signature checks one token may cost. A token that names its key (`kid`)
/// costs one; a token without `kid` is checked against every key that fits its
/// algorithm (and, when the set names its keys, only against the keys without a `kid`),
/// and is refused unchecked when more than this many fit: 40 RSA keys would otherwise
/// make each forged token cost 40 RSA verifications.
pub(crate) const MAX_SIGNATURE_CHECKS: usize = 4;

/// The deepest nesting of a JWS header, a claims set or a key set. Real tokens nest
/// three or four levels (`realm_access.roles`); the parser recurses once per level, and
/// so does dropping what it built.
pub(crate) const MAX_JSON_DEPTH: usize = 16;

/// The most keys a key set may hold.
pub(crate) const MAX_JWKS_KEYS: usize = 1000;

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

/// A verification key, its material checked at load (`material`).
#[derive(Clone)]
pub(crate) struct JwtKey {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The JWK's own `alg`, if it names one.
    pub alg: Option<Algorithm>,
    /// HMAC: the key's length in bytes. RSA: the modulus's length in bytes, which is the
    /// length of every signature the key makes. Other families: 0 (their signatures have
    /// a fixed length).
    pub size: usize,
    pub key: Arc<VerifyingKey>,
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

impl JwtKey {
    /// True when the key may verify a token of `alg`: the algorithm is of the key's
    /// family, is the JWK's own `alg` when it names one, and, for an HMAC key, the key
    /// is at least as long as RFC 7518 section 3.2 asks for that algorithm.
    pub fn fits(&self, alg: Algorithm) -> bool {
        self.family.accepts(alg)
            && self.alg.is_none_or(|a| a == alg)
            && (self.family != KeyFamily::Hmac || self.size >= min_hmac_key_len(alg))
    }

    /// True when the key fits one of `algorithms`.
    pub fn fits_any(&self, algorithms: &[Algorithm]) -> bool {
        algorithms.iter().any(|a| self.fits(*a))
    }

    /// The length in bytes of a signature by this key with `alg` (a fitting one).
    pub fn signature_len(&self, alg: Algorithm) -> usize {
        match self.family {
            KeyFamily::Hmac => min_hmac_key_len(alg),
            KeyFamily::Rsa => self.size,
            KeyFamily::P256 | KeyFamily::Ed25519 => 64,
            KeyFamily::P384 => 96,
        }
    }
}

/// The keys an authenticator verifies with, and the tokens they verified.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub keys: Vec<JwtKey>,
    /// Tokens whose (non-HMAC) signature these keys verified.
    pub verified: TokenCache,
}

/// Parses an algorithm name; `none` and unknown names are errors. The name is quoted
/// back only when it has the shape of an algorithm name: a value put in the wrong place
/// (a secret in `JWT_ALGORITHM`) is not.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    if name.eq_ignore_ascii_case("none") {
        return Err("algorithm `none` is never accepted".into());
    }
    Algorithm::from_str(name).map_err(|()| {
        if name.len() <= 8 && name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            format!("`{name}` is not a supported algorithm")
        } else {
            "the value is not a supported algorithm name (not shown)".to_owned()
        }
    })
}

/// The shortest HMAC key for an algorithm (RFC 7518 section 3.2: at least the hash size).
pub fn min_hmac_key_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// Why text was refused by [`strict_json`]: what kind of fault, and where. Never the text.
#[derive(Debug, Clone, Copy)]
struct JsonFault {
    what: &'static str,
    at: Option<(usize, usize)>,
}

impl std::fmt::Display for JsonFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)?;
        if let Some((line, column)) = self.at {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

/// Reads JSON strictly: a member name twice in one object is refused (serde_json keeps
/// the last one silently, another reader may keep the first), and so is nesting deeper
/// than [`MAX_JSON_DEPTH`].
fn strict_json(bytes: &[u8]) -> Result<Json, JsonFault> {
    if !crate::depth::json_within(bytes, MAX_JSON_DEPTH) {
        return Err(JsonFault { what: "nests too deep", at: None });
    }
    serde_json::from_slice::<Tree>(bytes).map(|Tree(v)| v).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "is not JSON: it ends early",
            serde_json::error::Category::Data => "has a member name twice",
            _ => "is not JSON",
        };
        JsonFault { what, at: Some((e.line(), e.column())) }
    })
}

/// The longest text taken as the path of a key set file rather than as the set itself.
const MAX_JWKS_PATH: usize = 1024;

/// True when a `jwks` value's text is the key set itself, false when it is the path of
/// a file holding it. A rule that cannot take a key set for a path, whatever surrounds
/// it: text with a byte-order mark, a `{`, `[` or `"`, a line break or another control
/// character, or longer than a path, is JSON; so is text that is empty. Only a short
/// single line is a path.
pub(crate) fn jwks_text_is_json(text: &str) -> bool {
    let t = text.trim_matches([' ', '\t']);
    t.is_empty()
        || t.len() > MAX_JWKS_PATH
        || t.chars().any(|c| matches!(c, '{' | '[' | '"' | '\u{feff}') || c.is_control())
}

/// What reading a JWKS found.
#[derive(Debug, Default)]
pub(crate) struct JwksRead {
    /// The keys whose material checks out, in the set's order.
    pub keys: Vec<JwtKey>,
    /// Keys of a type, curve, use or algorithm admit does not verify with.
    pub unsupported: usize,
    /// Keys refused for their material: why, by position in the set (never key bytes).
    pub refused: Vec<String>,
    /// True when the set holds an `oct` (HMAC) member, usable or not: a secret.
    pub has_oct: bool,
}

impl JwksRead {
    /// The error when no key fits one of `algorithms`.
    pub fn check_usable(&self, algorithms: &[Algorithm]) -> Result<(), String> {
        if self.keys.iter().any(|k| k.fits_any(algorithms)) {
            return Ok(());
        }
        let names: Vec<String> = algorithms.iter().map(|a| format!("{a:?}")).collect();
        let mut msg = format!("no key of the set fits an allowed algorithm ({})", names.join(", "));
        let skipped = self.unsupported + self.refused.len();
        msg.push_str(&format!(
            ": of {} key(s), {} are for other algorithms and {skipped} were skipped",
            self.keys.len() + skipped,
            self.keys.len()
        ));
        if let Some(first) = self.refused.first() {
            msg.push_str(&format!(" ({first})"));
        }
        Err(msg)
    }
}

/// Why a JWK was not taken.
enum Skip {
    Unsupported,
    Refused(String),
}

/// Parses a JWKS for an authenticator that allows `algorithms`. Keys of unsupported
/// types, curves or uses are skipped and counted; keys with bad material (see
/// `material`), or HMAC keys too short for every allowed algorithm they may serve, are
/// skipped with the reason. A leading byte-order mark is ignored.
pub fn parse_jwks(text: &str, algorithms: &[Algorithm]) -> Result<JwksRead, String> {
    let text = text.trim_start_matches('\u{feff}');
    let doc = strict_json(text.as_bytes()).map_err(|e| format!("key set {e}"))?;
    let keys = doc.get("keys").and_then(Json::as_array).ok_or("key set is not a JSON object with a `keys` array")?;
    if keys.len() > MAX_JWKS_KEYS {
        return Err(format!("key set has {} keys; at most {MAX_JWKS_KEYS} are read", keys.len()));
    }
    let mut out = JwksRead::default();
    for (i, k) in keys.iter().enumerate() {
        if k.get("kty").and_then(Json::as_str) == Some("oct") {
            out.has_oct = true;
        }
        match jwk_to_key(k, algorithms) {
            Ok(key) => out.keys.push(key),
            Err(Skip::Unsupported) => out.unsupported += 1,
            Err(Skip::Refused(why)) => out.refused.push(format!("key {i}: {why}")),
        }
    }
    Ok(out)
}

/// A base64url member of a JWK.
fn jwk_bytes(obj: &Map<String, Json>, name: &str) -> Result<Vec<u8>, Skip> {
    match obj.get(name) {
        Some(Json::String(s)) => {
            URL_SAFE_NO_PAD.decode(s).map_err(|_| Skip::Refused(format!("`{name}` is not base64url (without padding)")))
        }
        Some(_) => Err(Skip::Refused(format!("`{name}` is not a string"))),
        None => Err(Skip::Refused(format!("`{name}` is missing"))),
    }
}

fn jwk_to_key(value: &Json, algorithms: &[Algorithm]) -> Result<JwtKey, Skip> {
    let obj = value.as_object().ok_or_else(|| Skip::Refused("not a JSON object".into()))?;
    let text = |name: &str| match obj.get(name) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Skip::Refused(format!("`{name}` is not a string"))),
    };
    if text("use")?.is_some_and(|u| u != "sig") {
        return Err(Skip::Unsupported);
    }
    let alg = match text("alg")? {
        Some(a) => Some(Algorithm::from_str(a).map_err(|_| Skip::Unsupported)?),
        None => None,
    };
    let kid = text("kid")?.map(str::to_owned);
    let (family, size, key) = match (text("kty")?, text("crv")?) {
        (Some("RSA"), _) => {
            let (n, e) = (jwk_bytes(obj, "n")?, jwk_bytes(obj, "e")?);
            let rsa = material::rsa(&n, &e).map_err(Skip::Refused)?;
            (KeyFamily::Rsa, rsa.modulus_len(), VerifyingKey::rsa(rsa).map_err(Skip::Refused)?)
        }
        (Some("EC"), Some(crv @ ("P-256" | "P-384"))) => {
            let family = if crv == "P-256" { KeyFamily::P256 } else { KeyFamily::P384 };
            let (x, y) = (jwk_bytes(obj, "x")?, jwk_bytes(obj, "y")?);
            let point = material::ec_coordinates(family, &x, &y).map_err(Skip::Refused)?;
            (family, 0, VerifyingKey::ec(family, &point).map_err(Skip::Refused)?)
        }
        (Some("OKP"), Some("Ed25519")) => {
            let x = jwk_bytes(obj, "x")?;
            material::ed25519(&x).map_err(Skip::Refused)?;
            (KeyFamily::Ed25519, 0, VerifyingKey::ed25519(&x).map_err(Skip::Refused)?)
        }
        (Some("oct"), _) => {
            let k = jwk_bytes(obj, "k")?;
            if k.is_empty() {
                return Err(Skip::Refused("HMAC key of 0 bytes".into()));
            }
            (KeyFamily::Hmac, k.len(), VerifyingKey::hmac(&k))
        }
        (Some(_), _) => return Err(Skip::Unsupported),
        (None, _) => return Err(Skip::Refused("`kty` is missing".into())),
    };
    if alg.is_some_and(|a| !family.accepts(a)) {
        return Err(Skip::Unsupported);
    }
    let key = JwtKey { kid, family, alg, size, key: Arc::new(key) };
    if family == KeyFamily::Hmac {
        // RFC 7518 section 3.2, for each allowed algorithm the key may serve.
        let serves: Vec<Algorithm> =
            algorithms.iter().copied().filter(|a| family.accepts(*a) && alg.is_none_or(|k| k == *a)).collect();
        if let Some(need) = serves.iter().map(|a| min_hmac_key_len(*a)).min() {
            if size < need {
                let names: Vec<String> = serves.iter().map(|a| format!("{a:?}")).collect();
                return Err(Skip::Refused(format!(
                    "HMAC key of {size} bytes; {} needs at least {need}",
                    names.join(" or ")
                )));
            }
        }
    }
    Ok(key)
}

/// Parses a PEM public key of any supported family.
pub fn parse_public_pem(pem: &str) -> Result<JwtKey, String> {
    let (family, size, key) = super::pem::public_key(pem)?;
    Ok(JwtKey { kid: None, family, alg: None, size, key: Arc::new(key) })
}

/// A key for issuing tokens, and the algorithm it issues with.
pub(crate) struct SigningKey {
    pub key: SignerKey,
    pub alg: Algorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// Parses a PEM private key for one of the allowed algorithms.
pub fn parse_signing_pem(pem: &str, allowed: &[Algorithm]) -> Result<SigningKey, String> {
    let key = super::pem::private_key(pem)?;
    let family = key.family();
    let alg = allowed
        .iter()
        .copied()
        .find(|a| family.accepts(*a))
        .ok_or_else(|| "no allowed algorithm fits the signing key".to_owned())?;
    // Sign once now and verify with the key's own public half, so that an EC or Ed25519
    // key the DER reader accepted but the signer cannot use (or whose public half does
    // not match) fails at load, not when the first token is issued. An RSA key is
    // checked as a PKCS#1 structure instead (an RSA signature costs milliseconds); a
    // build that cannot sign with the key (WASM) refuses when a token is issued.
    if let Some(public) = key.public_bytes() {
        const PROBE: &[u8] = b"admit signing key probe";
        let broken = || "the signing key cannot sign (malformed key)".to_owned();
        let sig = key.sign(alg, PROBE).map_err(|_| broken())?;
        let verifier = match family {
            KeyFamily::Ed25519 => VerifyingKey::ed25519(&public),
            _ => VerifyingKey::ec(family, &public),
        }
        .map_err(|_| broken())?;
        if verifier.verify(alg, PROBE, &sig) != Verified::Valid {
            return Err(broken());
        }
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
    /// Where the host fetches the key set from (`jwks_url`), checked at load.
    pub jwks_url: Option<String>,
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
    /// How many verified tokens each key set remembers (0: none).
    pub cache_capacity: usize,
    /// True when an allowed algorithm is not HMAC: only then is the cache consulted.
    pub caches: bool,
}

/// The JWS header members admit reads. Every other member is ignored, but the header
/// as a whole must still be one JSON object with unique member names.
#[derive(Debug)]
struct JwsHeader {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    crit: bool,
}

/// Reads the JWS header: base64url, then a JSON object (never an array, which a struct
/// deserializer would read by position), no member twice; `alg` a string, `kid` and
/// `typ` strings when present (`null` is not a string).
fn read_header(b64: &str) -> Result<JwsHeader, Denial> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| Denial::invalid("token header is not base64url"))?;
    let not_jws = || Denial::invalid("token header is not a JWS header");
    let Ok(Json::Object(mut obj)) = strict_json(&bytes) else {
        return Err(not_jws());
    };
    let mut text = |name: &str| match obj.remove(name) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(not_jws()),
    };
    let alg = text("alg")?.ok_or_else(not_jws)?;
    let kid = text("kid")?;
    let typ = text("typ")?;
    Ok(JwsHeader { alg, kid, typ, crit: obj.contains_key("crit") })
}

/// A compact JWS, split at its two dots once for every check that reads a part.
#[derive(Debug, Clone, Copy)]
struct Compact<'t> {
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
    /// `header.payload`: what the signature signs.
    signing_input: &'t str,
}

/// Splits a token with the shape of a compact JWS: three base64url parts, the first two
/// not empty. One pass over the bytes for the alphabet, without an early exit.
fn compact(token: &str) -> Option<Compact<'_>> {
    let bytes = token.as_bytes();
    let alphabet = bytes.iter().fold(true, |ok, &b| ok & (BASE64URL.has(b) | (b == b'.')));
    let first = bytes.iter().position(|b| *b == b'.')?;
    let second = first + 1 + bytes.get(first + 1..)?.iter().position(|b| *b == b'.')?;
    let (signing_input, dot_signature) = token.split_at_checked(second)?;
    let signature = dot_signature.get(1..)?;
    let (header, dot_payload) = signing_input.split_at_checked(first)?;
    let payload = dot_payload.get(1..)?;
    let shaped = alphabet && !signature.contains('.') && !header.is_empty() && !payload.is_empty();
    shaped.then_some(Compact { header, payload, signature, signing_input })
}

/// True when the value has the shape of a compact JWS: three base64url parts, the
/// first two not empty.
#[cfg(test)]
fn is_jwt_shaped(token: &str) -> bool {
    compact(token).is_some()
}

/// The base64url alphabet (RFC 4648 section 5).
static BASE64URL: ByteClass = ByteClass::alphanumeric_and(b"-_");

/// The payload of a JWT-shaped token as a JSON object, not yet verified: one object,
/// no member name twice at any level (RFC 7519 section 4 lets a parser refuse them; a
/// reader downstream might keep the first where serde_json keeps the last).
fn decode_claims(payload: &str) -> Result<Json, Denial> {
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| Denial::invalid("token payload is not base64url"))?;
    let claims = strict_json(&bytes).map_err(|e| Denial::invalid(format!("token payload {}", e.what)))?;
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

/// The keys a token's signature is checked against, at most [`MAX_SIGNATURE_CHECKS`]:
/// - the token names a key (`kid`) and the set names its keys: the first key with that
///   `kid`; none is `unknown_key` (a hint to refresh the set), one that does not fit the
///   algorithm is refused;
/// - the token has no `kid` and the set names some of its keys: only the keys without a
///   `kid` that fit (a `secret` or `public_key` beside a JWKS, say); none is refused as
///   `invalid_credentials`: refreshing the set would not help a token that names no key;
/// - otherwise (no key has a `kid`): every key that fits.
///
/// More candidates than [`MAX_SIGNATURE_CHECKS`] refuse the token unchecked.
pub(crate) fn select_keys<'k>(
    keys: &'k [JwtKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Vec<&'k JwtKey>, Denial> {
    let any_kid = keys.iter().any(|k| k.kid.is_some());
    let candidates: Vec<&JwtKey> = match (kid, any_kid) {
        (Some(kid), true) => {
            let Some(key) = keys.iter().find(|k| k.kid.as_deref() == Some(kid)) else {
                return Err(Denial::new(Reason::UnknownKey, "token names a key the key set lacks"));
            };
            if !key.fits(alg) {
                return Err(Denial::invalid("token algorithm does not fit its key"));
            }
            vec![key]
        }
        (None, true) => {
            let unnamed: Vec<&JwtKey> = keys.iter().filter(|k| k.kid.is_none() && k.fits(alg)).collect();
            if unnamed.is_empty() {
                return Err(Denial::invalid("token has no `kid`, and the key set names its keys"));
            }
            unnamed
        }
        (_, false) => keys.iter().filter(|k| k.fits(alg)).collect(),
    };
    if candidates.is_empty() {
        return Err(Denial::invalid("no key for the token's algorithm"));
    }
    if candidates.len() > MAX_SIGNATURE_CHECKS {
        return Err(Denial::invalid(format!(
            "more than {MAX_SIGNATURE_CHECKS} keys could verify the token: keys and tokens must name their key (`kid`)"
        )));
    }
    Ok(candidates)
}

impl JwtAuthenticator {
    /// Checks a Bearer value. Values that are not JWT-shaped are `NotMine`.
    pub fn authenticate(
        &self,
        token: &str,
        now: i64,
        roles: &RoleTable,
        scopes: &ScopeTable,
        host: &HostChecks<'_>,
    ) -> Outcome {
        let Some(parts) = compact(token) else {
            return Outcome::NotMine;
        };
        let keyset = match self.keys.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
        // A token these keys verified before, with the identity it gave: everything that
        // depends on the request (`exp`, `nbf`, the lifetime, issuer and audience against
        // `now`) is checked again; what depends on the token and the policy alone (its
        // header, its key, its signature, the roles it maps to) cannot have changed.
        let digest = (self.caches && keyset.verified.is_on()).then(|| TokenCache::digest(token));
        if let Some(identity) = digest.as_ref().and_then(|d| keyset.verified.get(d)) {
            let claims = identity.principal.claims.as_ref();
            return match claims.map_or(Err(Denial::invalid("not a JWT")), |c| self.check_claims(c, now)) {
                Ok(()) => Outcome::Authenticated(identity),
                Err(d) => Outcome::Denied(d),
            };
        }
        // The payload, decoded once: read unverified only to choose the authenticator by
        // `iss` (several issuers may share the Bearer header); trusted only after the
        // signature checks out in `verify`, which reports its errors where it always did.
        let claims = decode_claims(parts.payload);
        if let (Some(issuer), Ok(c)) = (&self.issuer, &claims) {
            if c.get("iss").and_then(Json::as_str).is_some_and(|iss| iss != issuer) {
                return Outcome::NotMine;
            }
        }
        match self.verify(parts, &keyset, claims, now, host) {
            Ok((claims, alg)) => match self.identity(claims, roles, scopes) {
                Ok(identity) => {
                    // Remembered only when all of it checked out, and never for HMAC
                    // (the MAC costs what the digest does).
                    if let (Some(d), false) = (digest, KeyFamily::Hmac.accepts(alg)) {
                        keyset.verified.insert(d, identity.clone());
                    }
                    Outcome::Authenticated(identity)
                }
                Err(d) => Outcome::Denied(d),
            },
            Err(d) => Outcome::Denied(d),
        }
    }

    /// Verifies signature and claims; returns the claims (from `decode_claims`) and the
    /// token's algorithm.
    fn verify(
        &self,
        parts: Compact<'_>,
        keyset: &KeySet,
        claims: Result<Json, Denial>,
        now: i64,
        host: &HostChecks<'_>,
    ) -> Result<(Json, Algorithm), Denial> {
        let (message, signature) = (parts.signing_input, parts.signature);
        let header = read_header(parts.header)?;
        let alg = parse_algorithm(&header.alg).map_err(|_| Denial::invalid("token algorithm not accepted"))?;
        if !self.algorithms.contains(&alg) {
            return Err(Denial::invalid("token algorithm not accepted"));
        }
        if header.crit {
            return Err(Denial::invalid("token has critical header extensions"));
        }
        if !self.types.is_empty() {
            let ok = header.typ.as_deref().is_some_and(|t| self.types.iter().any(|a| a.eq_ignore_ascii_case(t)));
            if !ok {
                return Err(Denial::invalid("token type not accepted"));
            }
        }
        if keyset.keys.is_empty() {
            // A key set not fetched yet: `unknown_key` tells the host to fetch it.
            return Err(Denial::new(Reason::UnknownKey, "no key set has been loaded yet"));
        }
        let candidates = select_keys(&keyset.keys, header.kid.as_deref(), alg)?;
        // The signature's length is checked here, for every backend, before a key sees
        // it: an RSA signature is as long as the modulus, ECDSA (JWS form, R||S) 64 or 96
        // bytes, Ed25519 64, HMAC the hash's size.
        let sig = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Denial::invalid("bad token signature"))?;
        let mut verified = false;
        let mut deferred = Vec::new();
        for k in candidates.iter().filter(|k| sig.len() == k.signature_len(alg)) {
            let verdict = match k.key.verify(alg, message.as_bytes(), &sig) {
                Verified::Deferred => match host.lookup(k.key.handle(), alg.name(), message.as_bytes(), &sig) {
                    Some(true) => Verified::Valid,
                    Some(false) => Verified::Invalid,
                    None => Verified::Deferred,
                },
                v => v,
            };
            match verdict {
                Verified::Valid => {
                    verified = true;
                    break;
                }
                Verified::Invalid => {}
                Verified::Deferred => deferred.push(*k),
            }
        }
        if !verified && !deferred.is_empty() {
            for k in deferred {
                if let Some(jwk) = k.key.jwk() {
                    host.ask(SignatureCheck {
                        key: k.key.handle(),
                        jwk: Arc::clone(jwk),
                        algorithm: alg.name(),
                        message: message.as_bytes().to_vec(),
                        signature: sig.clone(),
                    });
                }
            }
            return Err(Denial::invalid(
                "the token's signature is checked by the host, and no verdict was given (WASM: `await decide`)",
            ));
        }
        if !verified {
            return Err(Denial::invalid("bad token signature"));
        }
        let claims = claims?;
        self.check_claims(&claims, now)?;
        Ok((claims, alg))
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
        let new = Arc::new(KeySet { keys, verified: TokenCache::new(self.cache_capacity) });
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
            // Scopes go where this authenticator reads them; one that reads none (a
            // `role_map` without `scopes_claims`) would ignore them.
            let path = self.scopes_claims.first().ok_or_else(|| {
                EngineError::Unsupported(format!(
                    "authenticator `{}` reads no scope claim (`scopes_claims`) to carry scopes",
                    self.id
                ))
            })?;
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
                    let mut keys: Vec<&str> =
                        self.role_map.iter().filter(|(_, v)| **v == id).map(|(k, _)| k.as_str()).collect();
                    keys.sort_unstable();
                    keys.first()
                        .map(|k| (*k).to_owned())
                        .ok_or_else(|| EngineError::Invalid(format!("no `role_map` entry yields role `{r}`")))?
                };
                values.push(Json::from(value));
            }
            let value = if values.len() == 1 { values.pop().unwrap_or(Json::Null) } else { Json::Array(values) };
            insert_path(&mut claims, path, value);
        }
        let header = format!(r#"{{"typ":"JWT","alg":"{}"}}"#, signing.alg.name());
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| EngineError::Invalid(format!("cannot write the token's claims: {e}")))?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(payload));
        let sig = signing.key.sign(signing.alg, token.as_bytes()).map_err(EngineError::Unsupported)?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(token)
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
        assert!(!is_jwt_shaped("a..b"));
        assert!(!is_jwt_shaped("a.b.c."));
        let c = compact("eyJh.eyJz.c2ln").unwrap();
        assert_eq!((c.header, c.payload, c.signature, c.signing_input), ("eyJh", "eyJz", "c2ln", "eyJh.eyJz"));
        assert_eq!(compact("h.p.").map(|c| c.signature), Some(""));
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
        // "c2VjcmV0" is the 6-byte "secret": too short for HS256, so refused, not kept.
        let long = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let text = format!(
            r#"{{"keys":[
            {{"kty":"oct","k":"{long}","kid":"h"}},
            {{"kty":"EC","crv":"P-521","x":"AA","y":"AA","kid":"x"}},
            {{"kty":"oct","k":"{long}","use":"enc"}},
            {{"kty":"oct","k":"{long}","alg":"RS256"}},
            {{"kty":"weird"}},
            {{"kty":"oct","k":"c2VjcmV0"}},
            {{"kty":"oct","k":""}},
            {{"kty":"oct","k":"{long}","kid":7}},
            "not an object"
        ]}}"#
        );
        let read = parse_jwks(&text, &[Algorithm::HS256]).unwrap();
        assert_eq!(read.keys.len(), 1);
        assert_eq!(read.unsupported, 4);
        assert_eq!(read.refused.len(), 4, "{:?}", read.refused);
        assert!(read.refused.iter().any(|r| r.starts_with("key 5: HMAC key of 6 bytes; HS256 needs at least 32")));
        assert!(read.has_oct);
        assert!(read.check_usable(&[Algorithm::HS256]).is_ok());
        assert!(read.check_usable(&[Algorithm::HS384]).is_err(), "32 bytes are too few for HS384");
        assert!(read.check_usable(&[Algorithm::RS256]).unwrap_err().contains("no key of the set fits"));
        for bad in ["[]", "nope", "", "{}", r#"{"keys":{}}"#, r#"{"keys":[],"keys":[]}"#] {
            assert!(parse_jwks(bad, &[Algorithm::HS256]).is_err(), "{bad}");
        }
        assert!(parse_jwks("\u{feff}{\"keys\":[]}", &[]).is_ok());
        let many = format!(r#"{{"keys":[{}{{}}]}}"#, "{},".repeat(MAX_JWKS_KEYS));
        assert!(parse_jwks(&many, &[]).unwrap_err().contains("at most"));
    }

    fn key(kid: Option<&str>, family: KeyFamily) -> JwtKey {
        let size = if family == KeyFamily::Rsa { 256 } else { 64 };
        JwtKey { kid: kid.map(str::to_owned), family, alg: None, size, key: Arc::new(VerifyingKey::hmac(b"unused")) }
    }

    /// Every shape of key set up to 40 keys, with and without kids, mixed families: the
    /// candidates never exceed the bound, always fit the algorithm, a named token gets
    /// its key alone, and a token without `kid` never meets a named key.
    #[test]
    fn candidate_keys_are_bounded_for_every_key_set() {
        let families = [KeyFamily::Rsa, KeyFamily::Hmac, KeyFamily::P256];
        for n in 0..=40usize {
            for named_every in [0usize, 1, 2, 3, 7] {
                let keys: Vec<JwtKey> = (0..n)
                    .map(|i| {
                        let kid = (named_every > 0 && i % named_every == 0).then(|| format!("k{i}"));
                        key(kid.as_deref(), families[i % families.len()])
                    })
                    .collect();
                for alg in [Algorithm::RS256, Algorithm::PS512, Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
                    for kid in [None, Some("k0"), Some("k3"), Some("absent")] {
                        let Ok(c) = select_keys(&keys, kid, alg) else { continue };
                        assert!(!c.is_empty() && c.len() <= MAX_SIGNATURE_CHECKS, "{n} keys: {} candidates", c.len());
                        assert!(c.iter().all(|k| k.fits(alg)));
                        let any_kid = keys.iter().any(|k| k.kid.is_some());
                        match (kid, any_kid) {
                            (Some(kid), true) => {
                                assert_eq!(c.len(), 1);
                                assert_eq!(c.first().and_then(|k| k.kid.as_deref()), Some(kid));
                            }
                            (None, true) => assert!(c.iter().all(|k| k.kid.is_none())),
                            _ => {}
                        }
                    }
                }
            }
        }
        // 40 unnamed RSA keys: a token without `kid` costs no signature check at all.
        let rsa: Vec<JwtKey> = (0..40).map(|_| key(None, KeyFamily::Rsa)).collect();
        let d = select_keys(&rsa, None, Algorithm::RS256).unwrap_err();
        assert_eq!(d.reason, Reason::InvalidCredentials);
        assert_eq!(select_keys(&rsa[..4], None, Algorithm::RS256).map(|c| c.len()), Ok(4));
        // Named keys only: a token without `kid` is refused, naming one gets that key.
        let named: Vec<JwtKey> = (0..40).map(|i| key(Some(&format!("k{i}")), KeyFamily::Rsa)).collect();
        assert!(select_keys(&named, None, Algorithm::RS256).unwrap_err().detail.contains("no `kid`"));
        assert_eq!(select_keys(&named, Some("k39"), Algorithm::RS256).map(|c| c.len()), Ok(1));
        assert_eq!(select_keys(&named, Some("k40"), Algorithm::RS256).unwrap_err().reason, Reason::UnknownKey);
    }

    #[test]
    fn short_hmac_keys_fit_only_the_algorithms_they_are_long_enough_for() {
        for len in 0..=80usize {
            let k = JwtKey { size: len, ..key(None, KeyFamily::Hmac) };
            assert_eq!(k.fits(Algorithm::HS256), len >= 32, "{len}");
            assert_eq!(k.fits(Algorithm::HS384), len >= 48, "{len}");
            assert_eq!(k.fits(Algorithm::HS512), len >= 64, "{len}");
        }
    }

    #[test]
    fn headers_are_objects_with_string_members() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let h = read_header(&b64(r#"{"alg":"RS256","kid":"a","typ":"JWT","x":[1]}"#)).unwrap();
        assert_eq!(
            (h.alg.as_str(), h.kid.as_deref(), h.typ.as_deref(), h.crit),
            ("RS256", Some("a"), Some("JWT"), false)
        );
        for bad in
            [r#"["RS256"]"#, r#"{"alg":1}"#, r#"{"alg":"RS256","kid":null}"#, r#"{"alg":"a","alg":"a"}"#, "{", ""]
        {
            assert!(read_header(&b64(bad)).is_err(), "{bad}");
        }
        assert!(read_header(&b64(r#"{"alg":"RS256","crit":null}"#)).unwrap().crit);
        assert!(read_header("!!").is_err());
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
