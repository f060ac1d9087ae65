#![cfg(feature = "redis")]
//! `bindings.redis` against the real Redis on 127.0.0.1:6379 (`tests/servers/start redis`),
//! through `bindery::Runtime`, and its TLS against the TLS-only Redis on 127.0.0.1:6380
//! (`tests/servers/start redis-tls`). Every test uses its own keys, so they run in parallel.
//! What every binding does is tested once for all in `behaviour.rs` (`redis::*`).

use std::time::Duration;

use bindery::{ErrorKind, InvokeResponse, Runtime};

#[path = "suite/mod.rs"]
mod suite;
use suite::fixtures::redis::{direct, key, Redis, HOST, TLS_HOST};
use suite::harness::{self, meta as md};
use suite::scenarios::{plain, subject};

const NAME: &str = "redis";

/// Invoke `op` on the binding and expect success.
async fn call(rt: &Runtime, op: &str, data: &[u8], pairs: &[(&str, &str)]) -> InvokeResponse {
    rt.invoke(NAME, op, data.to_vec(), md(pairs))
        .await
        .unwrap_or_else(|e| panic!("{op}: {e}"))
}

/// What `get` of `key` answers, as text.
async fn text_of(rt: &Runtime, key: &str) -> String {
    call(rt, "get", b"", &[("key", key)]).await.text()
}

/// Invoke `op` on the binding and expect an error.
async fn refused(rt: &Runtime, op: &str, pairs: &[(&str, &str)]) -> bindery::Error {
    rt.invoke(NAME, op, b"x".to_vec(), md(pairs))
        .await
        .expect_err(op)
}

/// `op` with `data` on `key` with the request metadata `ttl_field`: then the key's TTL is within
/// `range`.
async fn expires(
    rt: &Runtime,
    (op, data): (&str, &[u8]),
    key: &str,
    ttl_field: (&str, &str),
    range: std::ops::RangeInclusive<i64>,
) {
    call(rt, op, data, &[("key", key), ttl_field]).await;
    let t = ttl(key).await;
    assert!(range.contains(&t), "TTL {t}");
}

/// `GET key` in database `db`, past the binding.
async fn read_directly(db: i64, key: &str) -> Option<String> {
    let mut c = direct(db).await;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

async fn ttl(key: &str) -> i64 {
    let mut c = direct(0).await;
    redis::cmd("TTL")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn get_with_delete_true_removes_the_key() {
    let (_dir, rt) = plain::<Redis>().await;
    let k = key("getdel");
    call(&rt, "create", b"once", &[("key", &k)]).await;
    let resp = call(&rt, "get", b"", &[("key", &k), ("delete", "true")]).await;
    assert_eq!(resp.text(), "once");
    let resp = call(&rt, "get", b"", &[("key", &k)]).await;
    assert!(resp.data.is_empty(), "GETDEL removed it");

    // delete=false is a plain GET.
    call(&rt, "create", b"kept", &[("key", &k)]).await;
    call(&rt, "get", b"", &[("key", &k), ("delete", "false")]).await;
    assert_eq!(text_of(&rt, &k).await, "kept");
    call(&rt, "delete", b"", &[("key", &k)]).await;
}

#[tokio::test]
async fn create_with_ttl_sets_the_expiry() {
    let (_dir, rt) = plain::<Redis>().await;
    let k = key("ttl");
    call(&rt, "create", b"v", &[("key", &k)]).await;
    assert_eq!(ttl(&k).await, -1, "no TTL was asked for");
    expires(&rt, ("create", b"v"), &k, ("ttlInSeconds", "100"), 95..=100).await;
    // `ttl` with a Go duration, as Dapr's TryGetTTL reads it.
    expires(&rt, ("create", b"v"), &k, ("ttl", "2m"), 115..=120).await;

    // A key written without a TTL loses the old one (SET replaces it).
    call(&rt, "create", b"v", &[("key", &k)]).await;
    assert_eq!(ttl(&k).await, -1);

    for bad in ["0", "-5", "soon", "500ms"] {
        let err = refused(&rt, "create", &[("key", &k), ("ttlInSeconds", bad)]).await;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}: {err}");
        assert!(err.to_string().contains("ttlInSeconds"), "{err}");
    }
    // A refused TTL wrote nothing (and the key goes with this last read).
    let last = call(&rt, "get", b"", &[("key", &k), ("delete", "true")]).await;
    assert_eq!(last.text(), "v");
}

#[tokio::test]
async fn increment_counts_and_takes_a_ttl() {
    let (_dir, rt) = plain::<Redis>().await;
    let k = key("counter");
    for _ in 0..3 {
        let resp = call(&rt, "increment", b"", &[("key", &k)]).await;
        assert!(resp.data.is_empty(), "like Dapr, increment answers no data");
    }
    assert_eq!(text_of(&rt, &k).await, "3");
    assert_eq!(ttl(&k).await, -1);

    expires(&rt, ("increment", b""), &k, ("ttlInSeconds", "60"), 55..=60).await;
    assert_eq!(text_of(&rt, &k).await, "4");

    // INCR on text is the server's error, not retryable.
    let t = key("text");
    call(&rt, "create", b"abc", &[("key", &t)]).await;
    let err = refused(&rt, "increment", &[("key", &t)]).await;
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(err.component(), Some(NAME));
    // With a TTL too; the failed INCR leaves the key's expiry alone.
    let err = refused(&rt, "increment", &[("key", &t), ("ttlInSeconds", "60")]).await;
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(ttl(&t).await, -1);
    for k in [k, t] {
        call(&rt, "delete", b"", &[("key", &k)]).await;
    }
}

#[tokio::test]
async fn redis_db_selects_the_database() {
    let (_dir, rt) = subject::<Redis>(&[("redisHost", HOST), ("redisDB", "3")]);
    let k = key("db3");
    call(&rt, "create", b"in three", &[("key", &k)]).await;
    assert_eq!(read_directly(3, &k).await.as_deref(), Some("in three"));
    assert_eq!(read_directly(0, &k).await, None, "not in database 0");
    let mut c3 = direct(3).await;
    let _: () = redis::cmd("DEL")
        .arg(&k)
        .query_async(&mut c3)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_dapr_file_with_every_common_field_loads() {
    let fields = [
        ("redisHost", "127.0.0.1"),
        ("redisPort", "6379"),
        ("redisPassword", ""),
        ("redisUsername", ""),
        ("redisDB", "0"),
        ("redisType", "node"),
        ("enableTLS", "false"),
        ("redisMaxRetries", "5"),
        ("redisMinRetryInterval", "-1"),
        ("redisMaxRetryInterval", "1000"),
        ("dialTimeout", "5s"),
        ("readTimeout", "3s"),
        ("writeTimeout", "3s"),
        ("poolSize", "20"),
        ("poolTimeout", "4s"),
        ("maxConnAge", "30m"),
        ("minIdleConns", "2"),
        ("idleCheckFrequency", "-1"),
        ("idleTimeout", "5m"),
        ("failover", "false"),
        ("sentinelMasterName", ""),
    ];
    let (_dir, rt) = subject::<Redis>(&fields);
    // go-redis's pool fields load, each with a warning that bindery has no pool.
    let warned: Vec<String> = rt
        .diagnostics()
        .iter()
        .map(|d| {
            assert!(!d.is_error(), "{d}");
            assert!(
                d.message
                    .contains("ignored by bindery: bindery holds one multiplexed connection"),
                "{d}"
            );
            d.message.split('"').nth(1).unwrap().to_string()
        })
        .collect();
    assert_eq!(
        warned,
        [
            "poolSize",
            "poolTimeout",
            "maxConnAge",
            "minIdleConns",
            "idleCheckFrequency",
            "idleTimeout"
        ]
    );
    let k = key("dapr-file");
    call(&rt, "create", b"ok", &[("key", &k)]).await;
    let resp = call(&rt, "get", b"", &[("key", &k), ("delete", "true")]).await;
    assert_eq!(resp.text(), "ok");
}

/// Dapr's redis has no CA field: the server's certificate is checked against the CAs this
/// machine trusts, which `SSL_CERT_FILE` names here. The TLS tests set it (one at a time)
/// while the binding connects.
static TRUSTED_CAS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Start `rt` trusting only the CAs in the PEM file `cas`.
async fn start_trusting(rt: &Runtime, cas: &str) -> bindery::Result<()> {
    let _one_at_a_time = TRUSTED_CAS.lock().await;
    std::env::set_var("SSL_CERT_FILE", cas);
    rt.start().await
}

#[tokio::test]
async fn enable_tls_round_trips_with_the_server_ca_trusted() {
    let ca = harness::tls_file("ca.crt");
    // By address (the certificate lists 127.0.0.1) and by name.
    for host in [TLS_HOST, "localhost:6380"] {
        let (_dir, rt) = subject::<Redis>(&[("redisHost", host), ("enableTLS", "true")]);
        start_trusting(&rt, &ca)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        let k = key("tls");
        call(&rt, "create", b"over tls", &[("key", &k)]).await;
        call(&rt, "increment", b"", &[("key", &format!("{k}:n"))]).await;
        let got = call(&rt, "get", b"", &[("key", &k), ("delete", "true")]).await;
        assert_eq!(got.text(), "over tls", "{host}");
        call(&rt, "delete", b"", &[("key", &format!("{k}:n"))]).await;
        let got = call(&rt, "get", b"", &[("key", &k)]).await;
        assert!(got.data.is_empty(), "get with delete=true removed it");
        rt.shutdown(Duration::from_secs(5)).await.unwrap();
    }
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_fails_the_start() {
    let other = harness::other_ca_file();
    let (_dir, rt) = subject::<Redis>(&[("redisHost", TLS_HOST), ("enableTLS", "true")]);
    let err = start_trusting(&rt, other.path().to_str().unwrap())
        .await
        .unwrap_err();
    let text = harness::untrusted(&err, NAME, "insecureSkipTLSVerify");
    let says = format!("error connecting to redis at {TLS_HOST} over TLS");
    assert!(text.contains(&says), "{text}");
}

#[tokio::test]
async fn insecure_skip_tls_verify_takes_an_untrusted_certificate() {
    let other = harness::other_ca_file();
    let (_dir, rt) = subject::<Redis>(&[
        ("redisHost", TLS_HOST),
        ("enableTLS", "true"),
        ("insecureSkipTLSVerify", "true"),
    ]);
    start_trusting(&rt, other.path().to_str().unwrap())
        .await
        .unwrap();
    let k = key("insecure");
    call(&rt, "create", b"v", &[("key", &k)]).await;
    let got = call(&rt, "get", b"", &[("key", &k), ("delete", "true")]).await;
    assert_eq!(got.text(), "v");
}

#[tokio::test]
async fn client_cert_and_key_are_presented_to_the_server() {
    let ca = harness::tls_file("ca.crt");
    let read = |f: &str| std::fs::read_to_string(harness::tls_file(f)).unwrap();
    let (cert, key_pem) = (read("client.crt"), read("client.key"));
    let (_dir, rt) = subject::<Redis>(&[
        ("redisHost", TLS_HOST),
        ("enableTLS", "true"),
        ("clientCert", &cert),
        ("clientKey", &key_pem),
    ]);
    start_trusting(&rt, &ca).await.unwrap();
    let k = key("mtls");
    call(&rt, "create", b"v", &[("key", &k)]).await;
    call(&rt, "delete", b"", &[("key", &k)]).await;

    // The server checks a certificate it is shown (tls-auth-clients optional): one its CA
    // did not sign is refused, so the binding does present the one it is given.
    let stranger = rcgen::generate_simple_self_signed(vec!["bindery_cert".to_string()]).unwrap();
    let (_dir, rt) = subject::<Redis>(&[
        ("redisHost", TLS_HOST),
        ("enableTLS", "true"),
        ("clientCert", &stranger.cert.pem()),
        ("clientKey", &stranger.signing_key.serialize_pem()),
    ]);
    let err = start_trusting(&rt, &ca).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream, "{err}");
    assert!(
        !err.to_string()
            .contains(&stranger.signing_key.serialize_pem()),
        "the key leaked: {err}"
    );
}

#[tokio::test]
async fn a_plain_connection_to_the_tls_port_says_to_enable_tls() {
    let (_dir, rt) = subject::<Redis>(&[("redisHost", TLS_HOST)]);
    harness::start_fails(
        &rt,
        ErrorKind::Upstream,
        &["if it takes TLS connections only, set enableTLS: true"],
    )
    .await;
}

#[tokio::test]
async fn tls_to_a_plain_server_says_it_may_not_be_tls() {
    // A plain Redis takes the TLS hello for the start of a command and waits for its end.
    let (_dir, rt) = subject::<Redis>(&[
        ("redisHost", HOST),
        ("enableTLS", "true"),
        ("dialTimeout", "1s"),
    ]);
    let err = start_trusting(&rt, &harness::tls_file("ca.crt"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{text}");
    assert!(
        text.contains(
            "no TLS answer in time: if the server takes plain connections, set enableTLS to false"
        ),
        "{text}"
    );
}

/// Dapr reads the Sentinel fields only with `failover` and the OIDC fields only with
/// `useOIDC`: without them, each is a warning saying so.
#[test]
fn sentinel_and_oidc_fields_without_their_switch_are_warnings() {
    let (_dir, rt) = subject::<Redis>(&[
        ("redisHost", "127.0.0.1:6379"),
        ("sentinelMasterName", "mymaster"),
        ("oidcClientID", "me"),
        ("oidcClientAssertionKey", "-----BEGIN PRIVATE KEY-----"),
    ]);
    assert_eq!(
        harness::said(&rt),
        [
            "sentinelMasterName is read only with failover: true (as in Dapr); it is ignored",
            "oidcClientID is read only with useOIDC: true (as in Dapr); it is ignored",
            "oidcClientAssertionKey is read only with useOIDC: true (as in Dapr); it is ignored",
        ]
    );
}
