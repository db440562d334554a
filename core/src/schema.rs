//! The JSON Schema of a policy file, derived from the parser's own types (feature
//! `schema`, used by `admit schema`; no build of the engine carries it).
//!
//! The structs of [`crate::policy`] derive their schema with `schemars`, which reads the
//! same serde attributes the parser obeys (`deny_unknown_fields`, `default`,
//! `rename_all`), so a field cannot be renamed, added or retyped in one and not the
//! other. The types whose deserializers are written by hand ([`Value`], [`ValueList`],
//! [`Condition`], [`Credentials`], [`AuthenticatorSpec`]) describe here, beside those
//! deserializers' module, exactly the forms they accept; `admit`'s schema tests feed
//! every form and every mutation of a policy to both the schema and the parser.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Value as Json, json};

use crate::authn::crypto::Algorithm;
use crate::policy::{
    AnonymousSpec, ApiKeySpec, AuthenticatorSpec, BearerTokenSpec, Credentials, DelegatedSpec, JwtSpec, KeysFile,
    LocalSpec, Policy,
};
use crate::reason::Reason;
use crate::value::{Condition, Value, ValueList};

/// The JSON Schema (draft 7, which taplo and every editor read) of a policy file, in
/// either form: a TOML policy's tables are the same tree as a JSON policy's objects.
pub fn policy_schema() -> Json {
    root_schema::<Policy>()
}

/// The JSON Schema of a keys file (docs/policy.md 5.4.1): the policy's key entries as the
/// keys-file loader takes them, every value literal (a reference becomes its literal
/// form, a condition a boolean) and no `secret` (a keys file holds digests).
pub fn keys_file_schema() -> Json {
    let mut schema = root_schema::<KeysFile>();
    literal_only(&mut schema);
    if let Some(credential) = schema.pointer_mut("/definitions/CredentialSpec/properties").and_then(Json::as_object_mut)
    {
        credential.remove("secret");
    }
    if let Some(definitions) = schema.get_mut("definitions").and_then(Json::as_object_mut) {
        definitions.remove("Value");
        definitions.remove("Condition");
    }
    schema
}

/// Replaces each use of [`Value`] by its literal form and of [`Condition`] by a boolean.
fn literal_only(node: &mut Json) {
    match node {
        Json::Object(map) => {
            match map.get("$ref").and_then(Json::as_str) {
                Some("#/definitions/Value") => {
                    map.remove("$ref");
                    map.insert("type".to_owned(), json!(["string", "integer", "boolean"]));
                }
                Some("#/definitions/Condition") => {
                    map.remove("$ref");
                    map.insert("type".to_owned(), json!("boolean"));
                }
                _ => {}
            }
            map.values_mut().for_each(literal_only);
        }
        Json::Array(items) => items.iter_mut().for_each(literal_only),
        _ => {}
    }
}

fn root_schema<T: JsonSchema>() -> Json {
    schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<T>().to_value()
}

/// A schema from JSON text the code writes itself; every literal here is an object.
fn schema(value: Json) -> Schema {
    Schema::try_from(value).unwrap_or_default()
}

/// `{ env = "NAME", default = ..., split = "," }` (docs/policy.md 2.1).
fn env_reference() -> Json {
    json!({
        "type": "object",
        "description": "An environment variable; an empty variable counts as unset.",
        "properties": {
            "env": { "type": "string", "minLength": 1, "description": "The variable's name." },
            "default": {
                "type": ["string", "integer", "boolean"],
                "description": "Used when the variable is unset or empty."
            },
            "split": {
                "type": "string",
                "minLength": 1,
                "description": "In a list field: the separator the variable's text is split on."
            }
        },
        "required": ["env"],
        "additionalProperties": false
    })
}

/// `{ file = "PATH" }` (docs/policy.md 2.1).
fn file_reference() -> Json {
    json!({
        "type": "object",
        "description": "A file's text, relative to the policy's folder; trailing newlines are removed.",
        "properties": { "file": { "type": "string", "description": "The file's path." } },
        "required": ["file"],
        "additionalProperties": false
    })
}

/// A reference to a secret: `{ env = "NAME" }` without a `default`, or `{ file = "PATH" }`
/// (docs/policy.md 2.3). A literal, or a default, is a load error.
pub(crate) fn secret_reference(_: &mut SchemaGenerator) -> Schema {
    schema(json!({
        "description": "A secret: `{ env = \"NAME\" }` or `{ file = \"PATH\" }`, never the secret itself and never a `default`.",
        "anyOf": [
            {
                "type": "object",
                "properties": { "env": { "type": "string", "minLength": 1, "description": "The variable's name." } },
                "required": ["env"],
                "additionalProperties": false
            },
            file_reference(),
            { "type": "null" }
        ]
    }))
}

impl JsonSchema for Value {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schema(json!({
            "description": "A literal (string, integer or boolean, read as its text) or a reference: `{ env = \"NAME\" }`, `{ env = \"NAME\", default = ... }`, `{ file = \"PATH\" }`.",
            "anyOf": [
                { "type": ["string", "integer", "boolean"] },
                env_reference(),
                file_reference()
            ]
        }))
    }
}

impl JsonSchema for ValueList {
    fn schema_name() -> Cow<'static, str> {
        "ValueList".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<Value>();
        schema(json!({
            "description": "A list of values, a single string, or a single reference (`{ env = \"NAME\", split = \",\" }`).",
            "anyOf": [
                { "type": "array", "items": item.to_value() },
                { "type": "string" },
                env_reference(),
                file_reference()
            ]
        }))
    }
}

impl JsonSchema for Condition {
    fn schema_name() -> Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let this = generator.subschema_for::<Condition>().to_value();
        let one = |key: &str, mut value: Json, what: &str| {
            if let Some(value) = value.as_object_mut() {
                value.insert("description".to_owned(), Json::from(what));
            }
            json!({
                "type": "object",
                "description": what,
                "properties": { key: value },
                "required": [key],
                "additionalProperties": false
            })
        };
        let name = json!({ "type": "string" });
        let list = json!({ "type": "array", "items": this });
        schema(json!({
            "description": "Whether a part of the policy is switched on: `true`, `false`, or a test of the host's environment.",
            "anyOf": [
                { "type": "boolean" },
                {
                    "type": "object",
                    "description": "The variable read as a boolean (true/1/yes/on, false/0/no/off).",
                    "properties": {
                        "env": { "type": "string", "description": "The variable's name." },
                        "default": { "type": "boolean", "description": "The answer when it is unset. Default `false`." }
                    },
                    "required": ["env"],
                    "additionalProperties": false
                },
                one("set", name.clone(), "True when the variable has a non-empty value."),
                one("unset", name, "True when the variable is unset or empty."),
                one("all", list.clone(), "True when every condition is."),
                one("any", list, "True when at least one condition is."),
                one("not", this, "True when the condition is not.")
            ]
        }))
    }
}

impl JsonSchema for Credentials {
    fn schema_name() -> Cow<'static, str> {
        "Credentials".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let key = generator.subschema_for::<crate::policy::CredentialSpec>().to_value();
        schema(json!({
            "description": "The keys: a list, or a keys file kept outside the policy (`{ file = \"PATH\" }`, or `{ env = \"NAME\" }` naming the file's path).",
            "anyOf": [
                { "type": "array", "items": key },
                env_reference(),
                file_reference()
            ]
        }))
    }
}

impl JsonSchema for AuthenticatorSpec {
    fn schema_name() -> Cow<'static, str> {
        "Authenticator".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // Each type's fields inline, plus its `type`: the parser takes `type` out and reads
        // the rest as that type's table, which refuses unknown fields.
        let kinds = [
            ("anonymous", AnonymousSpec::json_schema(generator)),
            ("local", LocalSpec::json_schema(generator)),
            ("api_key", ApiKeySpec::json_schema(generator)),
            ("bearer_token", BearerTokenSpec::json_schema(generator)),
            ("jwt", JwtSpec::json_schema(generator)),
            ("delegated", DelegatedSpec::json_schema(generator)),
        ];
        let names: Vec<&str> = kinds.iter().map(|(name, _)| *name).collect();
        let variants: Vec<Json> = kinds
            .into_iter()
            .map(|(name, variant)| {
                let mut variant = variant.to_value();
                if let Some(table) = variant.as_object_mut() {
                    if let Some(Json::Object(properties)) = table.get_mut("properties") {
                        properties.insert(
                            "type".to_owned(),
                            json!({ "const": name, "description": "The authenticator's type." }),
                        );
                    }
                    if let Some(Json::Array(required)) = table.get_mut("required") {
                        required.insert(0, json!("type"));
                    }
                }
                variant
            })
            .collect();
        schema(json!({
            "type": "object",
            "description": "One authenticator; `type` says which, and which fields it takes.",
            "properties": {
                "type": { "enum": names, "description": "The authenticator's type." }
            },
            "required": ["type"],
            "oneOf": variants
        }))
    }
}

/// jwt `algorithms`: a list of values whose literals are the algorithm names the parser
/// knows, exactly as spelled (`none` is never one).
pub(crate) fn algorithms(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
    let name = json!({ "enum": names });
    schema(json!({
        "description": "Accepted `alg` values, or references to them.",
        "anyOf": [
            { "type": "array", "items": { "anyOf": [name, env_reference(), file_reference()] } },
            name,
            env_reference(),
            file_reference()
        ]
    }))
}

/// jwt `secret_encoding`: `utf8` or `base64`.
pub(crate) fn secret_encoding(_: &mut SchemaGenerator) -> Schema {
    schema(json!({ "enum": ["utf8", "base64", null] }))
}

/// `[responses.reasons]`: a table keyed by reason code.
pub(crate) fn reason_responses(generator: &mut SchemaGenerator) -> Schema {
    let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    let entry = generator.subschema_for::<crate::policy::ReasonResponseSpec>().to_value();
    schema(json!({
        "type": "object",
        "propertyNames": { "enum": codes },
        "additionalProperties": entry
    }))
}
