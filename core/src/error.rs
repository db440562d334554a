//! Errors found when a policy is loaded: each names its place in the file.

use std::fmt;

/// One problem in a policy, with its place: a path such as
/// `authenticators[2].issuer`, and for TOML and JSON text a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyError {
    /// Where in the policy: `authenticators[2].issuer`, or empty for the whole file.
    pub place: String,
    /// 1-based line, when the policy came from text.
    pub line: Option<usize>,
    /// 1-based column, when the policy came from text.
    pub column: Option<usize>,
    /// What is wrong, lowercase, without any secret value.
    pub message: String,
}

impl PolicyError {
    /// An error at `place`.
    pub fn new(place: impl Into<String>, message: impl Into<String>) -> Self {
        Self { place: place.into(), line: None, column: None, message: message.into() }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(col)) = (self.line, self.column) {
            write!(f, "line {line}, column {col}: ")?;
        }
        if self.place.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.place, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found while loading a policy. Loading stops at the first syntax
/// error; past that, all problems are gathered so an operator fixes them in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The problems, in the order of the file.
    pub errors: Vec<PolicyError>,
}

impl LoadError {
    /// A load error with one problem.
    pub fn one(e: PolicyError) -> Self {
        Self { errors: vec![e] }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.errors {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Something legal but probably unintended, found at load: a rule that an earlier
/// rule hides, an authenticator that can never be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyWarning {
    /// Where in the policy.
    pub place: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What looks wrong.
    pub message: String,
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = PolicyError {
            place: self.place.clone(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
        };
        e.fmt(f)
    }
}

/// An error from an operation on a built engine (rotating a key set, issuing a token).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// No authenticator has this id.
    UnknownAuthenticator(String),
    /// The authenticator cannot do what was asked (e.g. issue without a signing key).
    Unsupported(String),
    /// The input was not acceptable.
    Invalid(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::UnknownAuthenticator(id) => write!(f, "no authenticator has the id `{id}`"),
            EngineError::Unsupported(m) | EngineError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for EngineError {}
