//! bindery: Dapr-compatible bindings inside the application process.
//!
//! Load a folder of Dapr component YAML files, register a handler per input binding, start,
//! and call output bindings by function:
//!
//! ```no_run
//! # async fn demo() -> bindery::Result<()> {
//! let rt = bindery::Runtime::from_path("./components")?;
//! let out = rt.clone();
//! rt.on_event("cleanup-cron", move |event| {
//!     let out = out.clone();
//!     async move {
//!         out.invoke("monitoring-webhook", "post", br#"{"event":"swept"}"#.to_vec(), Default::default())
//!             .await?;
//!         println!("tick at {}", event.metadata["readTimeUTC"]);
//!         Ok(())
//!     }
//! })?;
//! rt.start().await?;
//! # rt.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

// The core has no unsafe code (the system calls of local storage go through rustix).
#![forbid(unsafe_code)]

pub mod binding;
pub mod bindings;
pub mod component;
pub mod embed;
pub mod error;
#[cfg(feature = "logging")]
pub mod logging;
pub mod redact;
pub mod registry;
pub mod runtime;

/// The old names of `RunVerdict` and `PendingRun`.
#[allow(deprecated)]
pub use binding::{BatchVerdict, InOrderRun};
pub use binding::{
    Event, InvokeRequest, InvokeResponse, MetadataMap, PendingRun, Refusal, Reject, RunProgress,
    RunStep, RunVerdict, Verdict,
};
pub use error::{Error, ErrorKind, Result};
pub use registry::Registry;
pub use runtime::{
    BindingInfo, HandlerResult, InputOptions, InputStats, Options, Runtime, RuntimeBuilder,
    ShutdownReport,
};
