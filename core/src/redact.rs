//! Keeping credentials out of messages and logs.
//!
//! Two tools, used together:
//!
//! - [`url`] and [`urls_in`] print a URL (or a Go-style DSN, `user:password@tcp(host)/db`) with
//!   the password of its userinfo replaced by `***`, whether or not the value came from a secret.
//!   Every binding quotes URLs through them.
//! - [`Secrets`] holds the values a component resolved from a secret store and every form in
//!   which they could show up in text (percent-encoded, `{:?}`-escaped, the password inside a
//!   URL, base64 at any alignment, a list of byte values), and [`Secrets::scrub`] replaces each
//!   with [`MARK`]. Validation scrubs every diagnostic with it, the bindings of a component with
//!   secrets have their errors scrubbed on the way out, and [`register`] adds the values to the
//!   set that bindery's log writer ([`crate::logging`]) scrubs every line with.

use crate::component::values::unescape;
use std::borrow::Cow;
use std::sync::RwLock;

/// What a secret value is replaced with.
pub const MARK: &str = "<secret>";

/// What a password in a quoted URL is replaced with.
pub const PASSWORD_MARK: &str = "***";

/// Secrets shorter than this are only replaced where they stand as a whole word, so that a
/// secret such as `1` does not take every digit 1 out of a message.
const SHORT: usize = 4;

/// Runs of letters and digits (of both) at least this long, inside a secret, are secrets too.
const TOKEN: usize = 10;

/// Base64 fragments shorter than this are not searched for (they would match by chance).
const MIN_FRAGMENT: usize = 8;

/// Where the userinfo of a URL or DSN is: the byte range of `user[:password]` before the last
/// `@` of its authority (or, for text without `scheme://`, before the last `@` of the text up
/// to `?` or `#`: a password may hold a `/`, which the Go MySQL driver allows).
fn userinfo_range(text: &str) -> Option<(usize, usize)> {
    let start = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[start..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some((start, start + at))
}

/// The user and password of a URL's or DSN's userinfo, as written (percent-encoded, if so).
pub fn userinfo(text: &str) -> Option<(&str, Option<&str>)> {
    let (s, e) = userinfo_range(text)?;
    let info = &text[s..e];
    Some(match info.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (info, None),
    })
}

/// A URL or DSN with the password of its userinfo replaced by `***`
/// (`tcp://u:***@host:1883`, `root:***@tcp(db:3306)/app`); a userinfo without `:` may be a
/// token (`https://<token>@host`), so it goes whole (`https://***@host`). Text without a
/// userinfo is returned as it is.
pub fn url(text: &str) -> Cow<'_, str> {
    match userinfo_range(text) {
        Some((s, e)) => {
            let keep = text[s..e].find(':').map_or(s, |colon| s + colon + 1);
            Cow::Owned(format!("{}{PASSWORD_MARK}{}", &text[..keep], &text[e..]))
        }
        None => Cow::Borrowed(text),
    }
}

/// Free text with the password of every `scheme://user:password@host` in it replaced by `***`
/// (a driver's error quoting the URL it was given, say).
pub fn urls_in(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let ends = |c: char| c.is_whitespace() || "\"'`<>()[]{},;|".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // The scheme: the letters, digits and `+-.` before `://`.
        let scheme_start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
            .map_or(0, |j| j + 1);
        let len = rest[i + 3..].find(ends).map_or(rest.len(), |j| i + 3 + j);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&url(&rest[scheme_start..len]));
        rest = &rest[len..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A metadata value as a message may quote it: itself when it is one plain word (a network
/// name, a scheme), else `***`.
pub fn word(text: &str) -> &str {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        text
    } else {
        PASSWORD_MARK
    }
}

/// `s` percent-encoded: every byte but the unreserved characters (letters, digits, `-._~`).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64 with padding in the given alphabet.
fn base64(data: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The base64 text that stands for `data` wherever it sits in a longer encoded message: for
/// each of the three byte alignments, the characters that depend on `data`'s bits alone.
fn base64_fragments(data: &[u8], alphabet: &[u8; 64]) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..3usize {
        let mut buf = vec![0u8; k];
        buf.extend_from_slice(data);
        let enc = base64(&buf, alphabet);
        let first = (8 * k).div_ceil(6);
        let last = 8 * (k + data.len()) / 6;
        if last > first {
            out.push(enc[first..last].to_string());
        }
    }
    out
}

/// Secret values, and every form in which each could show in a message or a log line.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Replaced wherever they occur.
    needles: Vec<String>,
    /// Short values, replaced only as whole words.
    words: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secrets({} forms)",
            self.needles.len() + self.words.len()
        )
    }
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Secrets::default()
    }

    /// The secrets `values`.
    pub fn of<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut s = Secrets::new();
        for v in values {
            s.add(v);
        }
        s
    }

    /// True when there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty() && self.words.is_empty()
    }

    /// Every form in which `value` could show up in text: itself (trimmed too), percent-decoded
    /// and -encoded, `{:?}`-escaped; the password and `user:password` of a URL or DSN it is,
    /// the value of a `password=` in it, and its runs of letters and digits that look random
    /// (ten or more, mixing both);
    /// and of each of those, base64 (standard and URL-safe, padded or not, and the fragments
    /// that stand for it inside a longer encoded text, such as `user:password` in an HTTP Basic
    /// header or `\0user\0password` in SASL PLAIN) and the list of its byte values (`{:?}` of
    /// bytes). Empty values have no form.
    pub fn forms(value: &str) -> Vec<String> {
        fn push(v: String, to: &mut Vec<String>) {
            if !v.is_empty() && !to.contains(&v) {
                to.push(v);
            }
        }
        let mut plain: Vec<String> = Vec::new();
        push(value.to_string(), &mut plain);
        push(value.trim().to_string(), &mut plain);
        let copy = plain.clone();
        for v in &copy {
            if let Some(d) = unescape(v, false) {
                push(d, &mut plain);
            }
            push(percent_encode(v), &mut plain);
            let dbg = format!("{v:?}");
            push(dbg[1..dbg.len() - 1].to_string(), &mut plain);
        }
        // The value of a `password=` in a key=value connection string.
        let lower = value.to_ascii_lowercase();
        for key in ["password=", "pwd="] {
            for (i, _) in lower.match_indices(key) {
                let rest = &value[i + key.len()..];
                let v = match rest.chars().next() {
                    Some(q @ ('\'' | '"')) => rest[1..].split(q).next().unwrap_or(""),
                    _ => rest.split([' ', '\t', '\n', ';', '&']).next().unwrap_or(""),
                };
                push(v.to_string(), &mut plain);
            }
        }
        // The random-looking parts: runs of letters and digits, of both, long enough not to
        // be a word (a password in a connection string, a token in a schedule or a path).
        for run in value.split(|c: char| !c.is_ascii_alphanumeric()) {
            if run.len() >= TOKEN
                && run.bytes().any(|b| b.is_ascii_digit())
                && run.bytes().any(|b| b.is_ascii_alphabetic())
            {
                push(run.to_string(), &mut plain);
            }
        }
        // The password of a URL or DSN, and user:password, as written and decoded.
        let mut encoded_only: Vec<String> = Vec::new();
        if let Some((user, Some(pass))) = userinfo(value.trim()) {
            for (u, p) in [
                (user.to_string(), pass.to_string()),
                (
                    unescape(user, false).unwrap_or_else(|| user.to_string()),
                    unescape(pass, false).unwrap_or_else(|| pass.to_string()),
                ),
            ] {
                push(p.clone(), &mut plain);
                push(format!("{u}:{p}"), &mut encoded_only);
                push(format!("\0{u}\0{p}"), &mut encoded_only);
            }
        }
        let mut out = plain.clone();
        for v in plain.iter().chain(&encoded_only) {
            let bytes = v.as_bytes();
            for alphabet in [STD, URL_SAFE] {
                let full = base64(bytes, alphabet);
                push(full.trim_end_matches('=').to_string(), &mut out);
                push(full, &mut out);
                for f in base64_fragments(bytes, alphabet) {
                    if f.len() >= MIN_FRAGMENT {
                        push(f, &mut out);
                    }
                }
            }
            if bytes.len() >= SHORT {
                let list: Vec<String> = bytes.iter().map(u8::to_string).collect();
                push(list.join(", "), &mut out);
            }
        }
        out
    }

    /// Add a secret value (with all its forms).
    pub fn add(&mut self, value: &str) {
        for f in Secrets::forms(value) {
            let to = if f.chars().count() < SHORT {
                &mut self.words
            } else {
                &mut self.needles
            };
            if !to.contains(&f) {
                to.push(f);
            }
        }
    }

    /// Add every value of `other`.
    pub fn extend(&mut self, other: &Secrets) {
        for f in &other.needles {
            if !self.needles.contains(f) {
                self.needles.push(f.clone());
            }
        }
        for f in &other.words {
            if !self.words.contains(f) {
                self.words.push(f.clone());
            }
        }
    }

    /// `text` with every form of every secret replaced by [`MARK`], and the password of every
    /// URL in it by `***`.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub_values(text) {
            Cow::Borrowed(t) => urls_in(t),
            Cow::Owned(t) => Cow::Owned(urls_in(&t).into_owned()),
        }
    }

    /// `text` with every form of every secret replaced by [`MARK`] (URLs left as they are:
    /// for text bindery wrote itself, such as a fix's example URL).
    pub fn scrub_values<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for n in &self.needles {
            hits.extend(
                text.match_indices(n.as_str())
                    .map(|(i, m)| (i, i + m.len())),
            );
        }
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
        for w in &self.words {
            for (i, m) in text.match_indices(w.as_str()) {
                let end = i + m.len();
                if !alnum(text[..i].chars().next_back()) && !alnum(text[end..].chars().next()) {
                    hits.push((i, end));
                }
            }
        }
        if hits.is_empty() {
            return Cow::Borrowed(text);
        }
        hits.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (s, e) in hits {
            if e <= at {
                continue;
            }
            if s >= at {
                out.push_str(&text[at..s]);
                out.push_str(MARK);
            }
            at = e;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// Every secret any component of this process resolved: bindery's log writer scrubs each
/// line with them.
static REGISTERED: RwLock<Option<Secrets>> = RwLock::new(None);

/// Add `secrets` to those every log line written through [`crate::logging`] is scrubbed of.
/// Validation registers each component's.
pub fn register(secrets: &Secrets) {
    if secrets.is_empty() {
        return;
    }
    let mut all = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    all.get_or_insert_with(Secrets::new).extend(secrets);
}

/// `text` scrubbed of every registered secret (and of URL passwords).
pub fn scrub_registered(text: &str) -> Cow<'_, str> {
    let all = REGISTERED.read().unwrap_or_else(|e| e.into_inner());
    match all.as_ref() {
        Some(s) => s.scrub(text),
        None => urls_in(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            url("tcp://u:hunter2@127.0.0.1:18x83"),
            "tcp://u:***@127.0.0.1:18x83"
        );
        assert_eq!(
            url("guest:pa/ss@127.0.0.1:5672"),
            "guest:***@127.0.0.1:5672"
        );
        assert_eq!(
            url("root:p@ss@tcp(db:3306)/app?tls=true"),
            "root:***@tcp(db:3306)/app?tls=true"
        );
        assert_eq!(url("amqp://host:5672/vh"), "amqp://host:5672/vh");
        assert_eq!(url("https://tok3n@host/x"), "https://***@host/x");
        assert_eq!(url("localhost:6379"), "localhost:6379");
        assert_eq!(
            urls_in("error sending request for url (http://a:b0b@h:8/p?q=1): refused"),
            "error sending request for url (http://a:***@h:8/p?q=1): refused"
        );
        assert_eq!(
            urls_in("x=\"amqps://g:s3@h\" and redis://:pw@r:1, done"),
            "x=\"amqps://g:***@h\" and redis://:***@r:1, done"
        );
        assert_eq!(word("tcp"), "tcp");
        assert_eq!(word("root:pw"), "***");
    }

    #[test]
    fn base64_matches_the_engine() {
        for (data, std, safe) in [
            (&b""[..], "", ""),
            (b"f", "Zg==", "Zg=="),
            (b"foo", "Zm9v", "Zm9v"),
            (&[0xfb, 0xff][..], "+/8=", "-_8="),
        ] {
            assert_eq!(base64(data, STD), std);
            assert_eq!(base64(data, URL_SAFE), safe);
        }
    }

    #[test]
    fn a_secret_is_found_inside_base64_at_any_alignment() {
        let secret = "Qz8vLr5TwX2mNp4k";
        let s = Secrets::of([secret]);
        for prefix in ["", "a", "ab", "\0guest\0", "guest:"] {
            let encoded = base64(format!("{prefix}{secret}").as_bytes(), STD);
            let out = s.scrub(&encoded);
            assert!(out.contains(MARK), "{prefix:?}: {out}");
        }
    }

    #[test]
    fn scrub_replaces_every_form() {
        let secret = "amqp://guest:Zr7Kq2Vx9Lm4@127.0.0.1:5672";
        let s = Secrets::of([secret]);
        let text = format!(
            "host {secret:?}: password Zr7Kq2Vx9Lm4 refused; PLAIN {}; bytes [0, {}]",
            base64(b"\0guest\0Zr7Kq2Vx9Lm4", STD),
            "90, 114, 55, 75, 113, 50, 86, 120, 57, 76, 109, 52"
        );
        let out = s.scrub(&text);
        assert!(!out.contains("Zr7Kq2Vx9Lm4"), "{out}");
        assert!(
            !out.contains(&base64(b"\0guest\0Zr7Kq2Vx9Lm4", STD)),
            "{out}"
        );
        assert!(!out.contains("90, 114, 55"), "{out}");
        assert!(
            out.starts_with("host \"<secret>\": password <secret> refused"),
            "{out}"
        );
    }

    #[test]
    fn parts_of_a_secret_are_secret() {
        let s = Secrets::of([
            "host=db user=app password='x y Zq' dbname=app",
            "TZ=Leak/FcqWfzhIrYvhp72XCd 0 * * * * *",
        ]);
        assert_eq!(
            s.scrub("auth with x y Zq failed; unknown time zone \"Leak/FcqWfzhIrYvhp72XCd\""),
            "auth with <secret> failed; unknown time zone \"Leak/<secret>\""
        );
        // Words and numbers alone are not taken for secrets.
        assert_eq!(
            Secrets::of(["redis://default:pw9@cache.example.com:6379/0"])
                .scrub("cache.example.com:6379"),
            "cache.example.com:6379"
        );
    }

    #[test]
    fn short_secrets_go_as_whole_words_only() {
        let s = Secrets::of(["ab1"]);
        assert_eq!(
            s.scrub("ab1 and cab12 and (ab1)"),
            "<secret> and cab12 and (<secret>)"
        );
        assert_eq!(Secrets::of([""]).scrub("nothing"), "nothing");
        assert!(Secrets::of([""]).is_empty());
    }

    #[test]
    fn a_secret_that_is_part_of_the_mark_does_not_break_it() {
        let s = Secrets::of(["secret", "<secret>x"]);
        assert_eq!(s.scrub("a secret <secret>x"), "a <secret> <secret>");
    }
}
