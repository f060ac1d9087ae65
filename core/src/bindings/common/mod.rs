//! What the bindings share, one place each: TLS and PEM handling, Go's text forms, Dapr's
//! back-off settings and the in-order delivery of a broker's runs.

// Each family uses its part of what is here: a build with some of the bindings leaves the
// rest unused.
#![cfg_attr(not(feature = "all-bindings"), allow(dead_code, unused_imports))]

#[cfg(feature = "_broker")]
pub(crate) mod backoff;
#[cfg(feature = "_broker")]
pub(crate) mod delivery;
#[cfg(feature = "_gotext")]
pub(crate) mod gotext;
#[cfg(feature = "_tls")]
pub(crate) mod tls;

/// Replace every secret in `text` with `***`. Secrets are the values of sensitive metadata
/// (passwords, connection strings); an error text from a driver passes through here before it
/// reaches an `Error`.
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    // Longest first, so a connection string goes before the password inside it.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_hides_every_secret() {
        let text = "cannot connect to postgres://u:hunter22@h/db: password hunter22 refused";
        let out = scrub(
            text,
            &["hunter22".into(), "postgres://u:hunter22@h/db".into()],
        );
        assert!(!out.contains("hunter22"), "{out}");
        assert_eq!(out, "cannot connect to ***: password *** refused");
    }
}
