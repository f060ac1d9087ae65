//! The AWS bindings (`bindings.aws.s3`, `.sqs`, `.sns`, `.dynamodb`) and what they share, one
//! place each: the connection fields of Dapr's `aws` authentication profile
//! (`aws.metadata.yaml`), the SDK configuration built from them, the HTTP client the SDK's
//! requests go through (`http`), and how an SDK error reads.
//!
//! # Credentials and region, as Dapr's AWS bindings find them
//! - `accessKey` and `secretKey` (with `sessionToken` for temporary keys): those keys.
//! - Otherwise the AWS SDK's default chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, the
//!   shared config and credentials files (`AWS_PROFILE`, SSO, `credential_process`), web
//!   identity (EKS: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), the ECS container
//!   endpoint, EC2 instance metadata.
//! - `region` (Dapr's older `awsRegion` too), else `AWS_REGION` or the profile's.
//!
//! Both are found when the binding starts: a missing region or no credentials anywhere is an
//! error then, naming what to set, rather than an error at every call (Dapr's). Dapr's IAM
//! Roles Anywhere (`trustAnchorArn` + `trustProfileArn` + `assumeRoleArn`) signs with the
//! SPIFFE certificate its sidecar gets from Sentry, which a process without the sidecar does
//! not have: refused before start.
//!
//! # Libraries
//! The official SDK crates (`aws-config` for the chain, `aws-sdk-*` per service), their
//! default features off: those would bring aws-lc and a second HTTP client. Requests go
//! through reqwest (rustls with ring), the client the HTTP binding uses (`http`).

// Each binding uses its part of what is here: a build with some of them leaves the rest unused.
#![cfg_attr(not(feature = "all-bindings"), allow(dead_code))]

mod http;

#[cfg(feature = "aws-dynamodb")]
pub mod dynamodb;
#[cfg(feature = "aws-kinesis")]
pub mod kinesis;
#[cfg(feature = "aws-s3")]
pub mod s3;
#[cfg(feature = "aws-sns")]
pub mod sns;
#[cfg(feature = "aws-sqs")]
pub mod sqs;

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::binding::{declared_fields, Field, Settings};
use crate::error::{source_chain, Error, ErrorKind, Result};

/// The fields of Dapr's `aws` authentication profile, which every AWS binding takes.
pub(crate) fn fields() -> &'static [Field] {
    static FIELDS: OnceLock<&'static [Field]> = OnceLock::new();
    FIELDS.get_or_init(|| declared_fields(include_str!("aws.metadata.yaml"), "aws"))
}

const KEYS_FIX: &str = "give both accessKey and secretKey, or neither (then the AWS environment's credentials are used: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, ECS or EC2 metadata)";
const ENDPOINT_FIX: &str = "give the endpoint as a URL with its scheme, e.g. http://localhost:4566";

/// Where and as whom an AWS binding connects, read from its settings (no I/O).
#[derive(Clone)]
pub(crate) struct Connection {
    /// The component's name, for errors.
    component: String,
    region: Option<String>,
    /// `endpoint`, with its scheme.
    endpoint: Option<String>,
    keys: Option<(String, String, Option<String>)>,
    /// Accept any server certificate (S3's `insecureSSL`).
    insecure_tls: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("component", &self.component)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("keys", &self.keys.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Connection {
    /// Read the profile's fields. `plain_endpoint`: an endpoint without a scheme is
    /// `http://` (S3's `disableSSL`), else it is a mistake.
    pub(crate) fn read(s: &mut Settings, plain_endpoint: bool) -> Connection {
        let region = s.text("region").map(|r| r.trim().to_string());
        let endpoint = s.text("endpoint").map(str::trim).and_then(|e| {
            let e = if plain_endpoint && !e.contains("://") {
                format!("http://{e}")
            } else {
                e.to_string()
            };
            match reqwest::Url::parse(&e) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(e),
                _ => {
                    s.problem(
                        "endpoint",
                        format!(
                            "endpoint {:?} is not an http:// or https:// URL",
                            crate::redact::url(&e)
                        ),
                        ENDPOINT_FIX,
                    );
                    None
                }
            }
        });
        let access = s.text("accessKey").map(str::to_string);
        let secret = s.text("secretKey").map(str::to_string);
        let token = s.text("sessionToken").map(str::to_string);
        let keys = match (access, secret) {
            (Some(a), Some(k)) => Some((a, k, token)),
            (None, None) => {
                if token.is_some() {
                    s.warn(
                        "sessionToken",
                        "sessionToken without accessKey and secretKey is not used: the credentials of the AWS environment are",
                        KEYS_FIX,
                    );
                }
                None
            }
            (a, _) => {
                let (given, missing) = if a.is_some() {
                    ("accessKey", "secretKey")
                } else {
                    ("secretKey", "accessKey")
                };
                s.warn(
                    given,
                    format!("{given} without {missing}: Dapr then uses neither, and takes the credentials of the AWS environment"),
                    KEYS_FIX,
                );
                None
            }
        };
        if ["trustAnchorArn", "trustProfileArn", "assumeRoleArn"]
            .iter()
            .all(|f| s.metadata().get_nonempty(f).is_some())
        {
            s.component_problem(
                "IAM Roles Anywhere (trustAnchorArn, trustProfileArn and assumeRoleArn) signs with the SPIFFE certificate the Dapr sidecar gets from Sentry, which bindery, running without the sidecar, does not have",
                "remove trustAnchorArn and trustProfileArn and give credentials as the AWS environment has them (accessKey/secretKey, AWS_PROFILE, web identity, ECS or EC2 metadata)",
            );
        } else {
            for f in ["trustAnchorArn", "trustProfileArn"] {
                if s.metadata().get_nonempty(f).is_some() {
                    s.warn(
                        f,
                        format!("{f} is ignored: Dapr uses IAM Roles Anywhere only when trustAnchorArn, trustProfileArn and assumeRoleArn are all given (and bindery not at all)"),
                        "remove it, and give credentials as the AWS environment has them",
                    );
                }
            }
        }
        Connection {
            component: s.name().to_string(),
            region,
            endpoint,
            keys,
            insecure_tls: false,
        }
    }

    /// Accept any server certificate (S3's `insecureSSL`).
    pub(crate) fn insecure_tls(mut self, yes: bool) -> Self {
        self.insecure_tls = yes;
        self
    }

    /// The endpoint given, if any.
    pub(crate) fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The SDK configuration: region, endpoint, credentials, the HTTP client. Finds the
    /// region and the credentials now, failing with what to set when there are none.
    pub(crate) async fn sdk_config(&self) -> Result<SdkConfig> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http::client(self.insecure_tls));
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &self.endpoint {
            loader = loader.endpoint_url(e.clone());
        }
        if let Some((access, secret, token)) = &self.keys {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                access.clone(),
                secret.clone(),
                token.clone(),
                None,
                "component metadata",
            ));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "no AWS region: the component gives no region, and AWS_REGION and the AWS profile none either (set region in the component, e.g. us-east-1)",
            )
            .with_component(&self.component));
        }
        if self.keys.is_none() {
            use aws_credential_types::provider::ProvideCredentials;
            let Some(chain) = config.credentials_provider() else {
                return Err(
                    Error::internal("the AWS configuration has no credentials chain")
                        .with_component(&self.component),
                );
            };
            if let Err(e) = chain.provide_credentials().await {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "no AWS credentials: the component gives no accessKey and secretKey, and the AWS environment has none ({})",
                        source_chain(&e)
                    ),
                )
                .with_component(&self.component));
            }
        }
        Ok(config)
    }

    /// An SDK error of `doing` (e.g. `put object "k" in bucket "b"`), as bindery reports it:
    /// the service's code and message (`NotFound` for a resource that is not there), a
    /// timeout, or why the endpoint could not be reached.
    pub(crate) fn error<E>(&self, doing: &str, e: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_error(&self.component, doing, e)
    }

    /// `error`, but `NotFound` saying `gone()` when the service answers that the thing (the
    /// key, the queue) is not there.
    pub(crate) fn error_or_gone<E>(
        &self,
        doing: &str,
        e: SdkError<E, HttpResponse>,
        gone: impl FnOnce() -> String,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let missing = e
            .as_service_error()
            .and_then(|se| se.code())
            .is_some_and(is_not_found);
        if missing {
            Error::new(ErrorKind::NotFound, gone()).with_component(&self.component)
        } else {
            self.error(doing, e)
        }
    }
}

/// Service error codes that mean the bucket, key, queue, topic or table is not there.
fn is_not_found(code: &str) -> bool {
    ["NoSuch", "NotFound", "NonExistent", "DoesNotExist"]
        .iter()
        .any(|w| code.contains(w))
}

/// See `Connection::error`.
fn sdk_error<E>(component: &str, doing: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let err = match &e {
        SdkError::ServiceError(se) => {
            let (code, message) = (se.err().code(), se.err().message());
            answered(doing, se.raw(), code, message)
        }
        // An answer the SDK could not read at all (an emulator's XML error to a JSON
        // protocol): its <Code> and <Message>, when it has them.
        SdkError::ResponseError(re) if !re.raw().status().is_success() => {
            answered(doing, re.raw(), None, None)
        }
        SdkError::TimeoutError(_) => {
            Error::new(ErrorKind::Timeout, format!("{doing}: no answer in time"))
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => Error::new(
            ErrorKind::Timeout,
            format!("{doing}: no answer in time ({})", source_chain(&e)),
        ),
        _ => Error::upstream(format!("{doing}: {}", source_chain(&e))),
    };
    err.with_component(component)
}

/// An error answer of the service: its code and message as the SDK read them, else as the
/// body's XML `<Code>` and `<Message>` have them, else its HTTP status.
fn answered(doing: &str, raw: &HttpResponse, code: Option<&str>, message: Option<&str>) -> Error {
    let status = raw.status().as_u16();
    let body = raw
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let element = |tag: &str| {
        let open = format!("<{tag}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find(&format!("</{tag}>"))?;
        Some(body[start..start + len].to_string())
    };
    let code = code
        .map(str::to_string)
        .or_else(|| element("Code"))
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = message
        .map(str::to_string)
        .or_else(|| element("Message"))
        .unwrap_or_default();
    let kind = if is_not_found(&code) {
        ErrorKind::NotFound
    } else {
        ErrorKind::Upstream
    };
    let sep = if message.is_empty() { "" } else { ": " };
    // A refusal (wrong keys, no permission, a bad request) stays one; throttling, a timeout
    // and a server's own failure may pass.
    let retryable = kind == ErrorKind::Upstream
        && (status >= 500 || status == 429 || status == 408 || code.contains("Throttl"));
    Error::new(kind, format!("{doing}: {code}{sep}{message}")).with_retryable(retryable)
}

/// What a binding makes at its start (its SDK client), once: an input and an output side
/// that share it, started together, make it once.
pub(crate) struct Started<T>(tokio::sync::OnceCell<T>);

impl<T> Default for Started<T> {
    fn default() -> Self {
        Started(tokio::sync::OnceCell::new())
    }
}

impl<T> Started<T> {
    /// Make it with `make`, unless it was made already.
    pub(crate) async fn start<F, Fut>(&self, make: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.0.get_or_try_init(make).await.map(|_| ())
    }

    /// What `start` made; an internal error before it ran.
    pub(crate) fn get(&self, component: &str) -> Result<&T> {
        self.0.get().ok_or_else(|| {
            Error::internal("the binding is used before it started").with_component(component)
        })
    }
}
