//! One error type for the whole runtime, with stable numeric codes for the C ABI and the SDKs.

use std::fmt;

use crate::component::Diagnostic;

/// The kind of an error. The numeric value of each kind is stable: the C ABI, the Python
/// exception classes and the Node `.code` are derived from it, and a code is never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The component files are invalid (syntax, schema, metadata values, secrets).
    InvalidConfig = 1,
    /// No binding, handler, file or secret by that name.
    NotFound = 2,
    /// The binding has no such operation, or is not usable in that direction.
    UnsupportedOperation = 3,
    /// An argument of the call is invalid (bad metadata value, bad path, bad data).
    InvalidArgument = 4,
    /// The operation did not finish in time.
    Timeout = 5,
    /// A circuit breaker is open; the call was not attempted.
    CircuitOpen = 6,
    /// The external system answered with an error or could not be reached.
    Upstream = 7,
    /// The runtime or binding is shut down.
    Closed = 8,
    /// A bug or an unexpected condition inside bindery.
    Internal = 9,
    /// The call is not valid in the runtime's current state (e.g. registering after start).
    InvalidState = 10,
    /// An application handler failed (returned an error or panicked).
    HandlerFailed = 11,
}

impl ErrorKind {
    /// Every kind, in code order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::InvalidConfig,
        ErrorKind::NotFound,
        ErrorKind::UnsupportedOperation,
        ErrorKind::InvalidArgument,
        ErrorKind::Timeout,
        ErrorKind::CircuitOpen,
        ErrorKind::Upstream,
        ErrorKind::Closed,
        ErrorKind::Internal,
        ErrorKind::InvalidState,
        ErrorKind::HandlerFailed,
    ];

    /// The stable numeric code of this kind (never 0, which means success in C).
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The kind for a numeric code; unknown codes map to `Internal`.
    pub fn from_code(code: i32) -> ErrorKind {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.code() == code)
            .unwrap_or(ErrorKind::Internal)
    }

    /// A stable snake_case name, used as Node's `.code` string and in logs.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::NotFound => "not_found",
            ErrorKind::UnsupportedOperation => "unsupported_operation",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Timeout => "timeout",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Closed => "closed",
            ErrorKind::Internal => "internal",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::HandlerFailed => "handler_failed",
        }
    }

    /// Whether retrying the same call later can succeed, by default for this kind.
    pub fn default_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::CircuitOpen | ErrorKind::Upstream
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A bindery error: a kind, a message, and where it happened.
#[derive(Debug, Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    component: Option<String>,
    operation: Option<String>,
    retryable: bool,
    source_text: Option<String>,
    diagnostics: Vec<Diagnostic>,
}

/// The result type used across bindery.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                component: None,
                operation: None,
                retryable: kind.default_retryable(),
                source_text: None,
                diagnostics: Vec::new(),
            }),
        }
    }

    /// An invalid configuration error carrying every diagnostic found.
    pub fn invalid_config(diagnostics: Vec<Diagnostic>) -> Self {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let mut e = Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{errors} problem{} in the component files",
                if errors == 1 { "" } else { "s" }
            ),
        );
        e.inner.diagnostics = diagnostics;
        e
    }

    /// Shorthand for an `InvalidArgument` error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// Shorthand for an `Upstream` error.
    pub fn upstream(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Upstream, message)
    }

    /// Shorthand for an `Internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// Attach the component name.
    pub fn with_component(mut self, name: impl Into<String>) -> Self {
        self.inner.component = Some(name.into());
        self
    }

    /// Attach the operation name.
    pub fn with_operation(mut self, op: impl Into<String>) -> Self {
        self.inner.operation = Some(op.into());
        self
    }

    /// Override whether a retry can help.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = retryable;
        self
    }

    /// Attach the text of the underlying error.
    pub fn with_source(mut self, source: impl fmt::Display) -> Self {
        self.inner.source_text = Some(source.to_string());
        self
    }

    /// This error with every text in it (message, source, diagnostics) scrubbed of
    /// `secrets` and of URL passwords.
    pub fn redacted(mut self, secrets: &crate::redact::Secrets) -> Self {
        let inner = &mut *self.inner;
        inner.message = secrets.scrub(&inner.message).into_owned();
        if let Some(s) = &inner.source_text {
            inner.source_text = Some(secrets.scrub(s).into_owned());
        }
        for d in &mut inner.diagnostics {
            d.redact(secrets);
        }
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The stable numeric code of this error's kind.
    pub fn code(&self) -> i32 {
        self.inner.kind.code()
    }

    /// The message, without component, operation or source.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The component the error is about, if any.
    pub fn component(&self) -> Option<&str> {
        self.inner.component.as_deref()
    }

    /// The operation the error is about, if any.
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }

    /// Whether retrying the same call later can succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }

    /// The text of the underlying error, if any.
    pub fn source_text(&self) -> Option<&str> {
        self.inner.source_text.as_deref()
    }

    /// Every diagnostic of an `InvalidConfig` error (errors and warnings).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.inner.diagnostics
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.inner.component, &self.inner.operation) {
            (Some(c), Some(o)) => write!(f, "{c} ({o}): ")?,
            (Some(c), None) => write!(f, "{c}: ")?,
            _ => {}
        }
        f.write_str(&self.inner.message)?;
        if let Some(s) = &self.inner.source_text {
            write!(f, ": {s}")?;
        }
        for d in self.inner.diagnostics.iter().filter(|d| d.is_error()) {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// An error's message followed by its sources' (each not already said), joined with ": ".
/// Bindings put it in `Error::with_source` for a driver's error.
pub fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        src = s.source();
    }
    text
}
