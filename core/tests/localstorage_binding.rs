//! `bindings.localstorage` with `rootPath` in a temporary folder, through `bindery::Runtime`.
//! What every binding does is tested once for all in `behaviour.rs` (`localstorage::*`).

use std::path::{Path, PathBuf};

use bindery::{ErrorKind, MetadataMap, Runtime};
use tempfile::TempDir;

const NAME: &str = "files";

/// A temporary folder holding the resources folder, `root/` (the binding's rootPath, made by
/// the binding itself) and `outside/` (a sibling that must never be touched).
struct Fixture {
    tmp: TempDir,
    rt: Runtime,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = TempDir::new().unwrap();
        let components = tmp.path().join("components");
        std::fs::create_dir(&components).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        let yaml = format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {NAME}\nspec:\n  type: bindings.localstorage\n  version: v1\n  metadata:\n  - name: rootPath\n    value: \"{}\"\n",
            tmp.path().join("root").display()
        );
        std::fs::write(components.join("files.yaml"), yaml).unwrap();
        let rt = Runtime::from_path(&components).expect("the component is valid");
        Fixture { tmp, rt }
    }

    /// rootPath, created by the binding (call after the first invoke or `init_root`).
    fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.tmp.path().join("root")).unwrap()
    }

    fn outside(&self) -> PathBuf {
        std::fs::canonicalize(self.tmp.path().join("outside")).unwrap()
    }

    /// A fixture whose binding made rootPath.
    async fn started() -> Fixture {
        let fx = Fixture::new();
        fx.init_root().await;
        fx
    }

    /// Let the binding create rootPath.
    async fn init_root(&self) {
        self.rt.start().await.unwrap();
        assert!(
            self.tmp.path().join("root").is_dir(),
            "start creates rootPath"
        );
    }

    async fn invoke(
        &self,
        op: &str,
        data: &[u8],
        file_name: Option<&str>,
    ) -> bindery::Result<bindery::InvokeResponse> {
        let mut md = MetadataMap::new();
        if let Some(f) = file_name {
            md.insert("fileName".into(), f.into());
        }
        self.rt.invoke(NAME, op, data.to_vec(), md).await
    }

    async fn create(&self, name: &str, data: &[u8]) -> serde_json::Value {
        let resp = self
            .invoke("create", data, Some(name))
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e}"));
        serde_json::from_slice(&resp.data).unwrap()
    }

    async fn get(&self, name: &str) -> bindery::Result<Vec<u8>> {
        self.invoke("get", b"", Some(name)).await.map(|r| r.data)
    }

    async fn list(&self, name: Option<&str>) -> Vec<String> {
        let resp = self.invoke("list", b"", name).await.unwrap();
        serde_json::from_slice(&resp.data).unwrap()
    }

    /// Every file under the temporary folder but outside rootPath and the resources folder.
    fn files_outside_root(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.tmp.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                if p == self.tmp.path().join("root") || p == self.tmp.path().join("components") {
                    continue;
                }
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

fn assert_refused(res: bindery::Result<impl std::fmt::Debug>, what: &str) -> bindery::Error {
    let err = res.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
    assert!(
        err.message().contains("refused") || err.message().contains("absolute path"),
        "{what}: {err}"
    );
    assert!(!err.is_retryable(), "{what}");
    err
}

fn strs(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn create_then_get_returns_the_bytes() {
    let fx = Fixture::new();
    let data = b"hello\0\xff\x00 binary\n";
    let created = fx.create("hello.bin", data).await;
    assert_eq!(created, serde_json::json!({ "fileName": "hello.bin" }));
    assert_eq!(std::fs::read(fx.root().join("hello.bin")).unwrap(), data);
    assert_eq!(fx.get("hello.bin").await.unwrap(), data);

    // create overwrites.
    fx.create("hello.bin", b"second").await;
    assert_eq!(fx.get("hello.bin").await.unwrap(), b"second");

    // An empty file is a file.
    fx.create("empty", b"").await;
    assert_eq!(fx.get("empty").await.unwrap(), b"");
}

#[tokio::test]
async fn create_works_after_start_too() {
    let fx = Fixture::started().await;
    let created = fx.create("./after-start.txt", b"x").await;
    assert_eq!(created["fileName"], "after-start.txt");
    assert_eq!(fx.get("after-start.txt").await.unwrap(), b"x");
}

#[tokio::test]
async fn create_without_file_name_uses_a_uuid() {
    let fx = Fixture::new();
    for md in [None, Some("")] {
        let resp = fx.invoke("create", b"anonymous", md).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&resp.data).unwrap();
        let name = v["fileName"].as_str().expect("fileName is a string");
        let id = uuid::Uuid::parse_str(name).unwrap_or_else(|_| panic!("{name:?} is not a UUID"));
        assert_eq!(id.to_string(), name, "the name is the hyphenated UUID");
        assert_eq!(std::fs::read(fx.root().join(name)).unwrap(), b"anonymous");
        assert_eq!(fx.get(name).await.unwrap(), b"anonymous");
    }
    assert_eq!(fx.list(None).await.len(), 2, "two distinct files");
}

#[tokio::test]
async fn nested_file_name_creates_the_folders() {
    let fx = Fixture::new();
    let created = fx.create("a/b/c.txt", b"deep").await;
    assert_eq!(created, serde_json::json!({ "fileName": "a/b/c.txt" }));
    assert!(fx.root().join("a").is_dir());
    assert!(fx.root().join("a/b").is_dir());
    assert_eq!(std::fs::read(fx.root().join("a/b/c.txt")).unwrap(), b"deep");
    assert_eq!(fx.get("a/b/c.txt").await.unwrap(), b"deep");
    assert_eq!(fx.get("a//b/./c.txt").await.unwrap(), b"deep");
}

#[tokio::test]
async fn list_returns_absolute_paths() {
    let fx = Fixture::new();
    fx.create("top.txt", b"1").await;
    fx.create("sub/one.txt", b"2").await;
    fx.create("sub/deeper/two.txt", b"3").await;
    fx.create("other/three.txt", b"4").await;
    let root = fx.root();

    let mut all = strs(&[
        root.join("top.txt"),
        root.join("sub/one.txt"),
        root.join("sub/deeper/two.txt"),
        root.join("other/three.txt"),
    ]);
    all.sort();
    let listed = fx.list(None).await;
    assert_eq!(listed, all);
    assert!(listed.iter().all(|p| Path::new(p).is_absolute()));

    let mut sub = strs(&[root.join("sub/one.txt"), root.join("sub/deeper/two.txt")]);
    sub.sort();
    assert_eq!(fx.list(Some("sub")).await, sub);
    assert_eq!(
        fx.list(Some("sub/deeper")).await,
        strs(&[root.join("sub/deeper/two.txt")])
    );

    // Listing a file is an error; listing a missing folder is NotFound.
    let err = fx.invoke("list", b"", Some("top.txt")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("not a directory"), "{err}");
    let err = fx.invoke("list", b"", Some("nope")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn list_of_an_empty_root_is_an_empty_array() {
    let fx = Fixture::new();
    let resp = fx.invoke("list", b"", None).await.unwrap();
    assert_eq!(resp.text(), "[]");
}

#[tokio::test]
async fn dot_dot_and_absolute_file_names_are_refused() {
    let fx = Fixture::new();
    let other = TempDir::new().unwrap();
    std::fs::write(fx.outside().join("x"), b"outside").unwrap();
    std::fs::write(other.path().join("secret.txt"), b"other secret").unwrap();
    let before = fx.files_outside_root();

    let evil_abs = other.path().join("evil.txt");
    let secret_abs = other.path().join("secret.txt");
    let names = [
        "../x".to_string(),
        "../outside/x".to_string(),
        "a/../../x".to_string(),
        "a/../../outside/x".to_string(),
        "/etc/passwd".to_string(),
        evil_abs.to_string_lossy().into_owned(),
        secret_abs.to_string_lossy().into_owned(),
    ];
    for name in &names {
        for op in ["create", "get", "delete", "list"] {
            let res = fx.invoke(op, b"pwned", Some(name)).await;
            let err = assert_refused(res, &format!("{op} {name}"));
            assert!(
                err.message().contains(name.as_str()),
                "the message names the fileName: {err}"
            );
        }
    }
    let err = fx.invoke("create", b"", Some("../x")).await.unwrap_err();
    assert!(err.message().contains("\"..\""), "{err}");
    let err = fx
        .invoke("get", b"", Some("/etc/passwd"))
        .await
        .unwrap_err();
    assert!(err.message().contains("absolute path"), "{err}");

    assert_eq!(
        fx.files_outside_root(),
        before,
        "nothing was written or deleted outside rootPath"
    );
    assert_eq!(std::fs::read(fx.outside().join("x")).unwrap(), b"outside");
    assert!(!evil_abs.exists());
    assert_eq!(std::fs::read(&secret_abs).unwrap(), b"other secret");
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 1);
    assert!(
        !fx.root().join("a").exists(),
        "no folder was made for a refused name"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_to_a_folder_outside_is_refused() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::started().await;
    std::fs::write(fx.outside().join("secret.txt"), b"top secret").unwrap();
    symlink(fx.outside(), fx.root().join("link")).unwrap();
    let before = fx.files_outside_root();

    for name in [
        "link/evil.txt",
        "link/new/dir/evil.txt",
        "link/secret.txt",
        "./link/secret.txt",
    ] {
        let err = assert_refused(
            fx.invoke("create", b"pwned", Some(name)).await,
            &format!("create {name}"),
        );
        assert!(err.message().contains("symbolic link"), "{err}");
    }
    let err = assert_refused(fx.get("link/secret.txt").await, "get through the link");
    assert!(err.message().contains("symbolic link"), "{err}");
    assert_refused(
        fx.invoke("list", b"", Some("link")).await,
        "list through the link",
    );
    assert_refused(
        fx.invoke("delete", b"", Some("link/secret.txt")).await,
        "delete through the link",
    );

    assert_eq!(
        fx.files_outside_root(),
        before,
        "nothing was written or deleted outside rootPath"
    );
    assert_eq!(
        std::fs::read(fx.outside().join("secret.txt")).unwrap(),
        b"top secret"
    );
    assert!(
        !fx.outside().join("new").exists(),
        "no folder was made outside"
    );

    // Listing the whole root does not follow the link out.
    assert!(fx.list(None).await.is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_to_a_file_outside_is_refused() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::started().await;
    std::fs::write(fx.outside().join("secret.txt"), b"top secret").unwrap();
    symlink(
        fx.outside().join("secret.txt"),
        fx.root().join("secret-link"),
    )
    .unwrap();

    let err = assert_refused(fx.get("secret-link").await, "get the link");
    assert!(err.message().contains("symbolic link"), "{err}");
    assert_refused(
        fx.invoke("create", b"overwritten", Some("secret-link"))
            .await,
        "create over the link",
    );
    assert_refused(
        fx.invoke("delete", b"", Some("secret-link")).await,
        "delete the link",
    );

    assert_eq!(
        std::fs::read(fx.outside().join("secret.txt")).unwrap(),
        b"top secret"
    );
    assert!(
        fx.list(None).await.is_empty(),
        "list does not show a link leading outside"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_dangling_symlink_is_refused() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::started().await;
    let target = fx.outside().join("not-yet.txt");
    symlink(&target, fx.root().join("dangling")).unwrap();
    symlink(fx.outside().join("no-dir"), fx.root().join("dangling-dir")).unwrap();

    let err = assert_refused(
        fx.invoke("create", b"pwned", Some("dangling")).await,
        "create through it",
    );
    assert!(err.message().contains("dangling symbolic link"), "{err}");
    assert_refused(fx.get("dangling").await, "get it");
    assert_refused(
        fx.invoke("create", b"pwned", Some("dangling-dir/x.txt"))
            .await,
        "create under a dangling folder link",
    );

    assert!(!target.exists(), "the link target was not created");
    assert!(!fx.outside().join("no-dir").exists());
    assert!(fx.files_outside_root().is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn a_symlink_inside_the_root_is_allowed() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::new();
    fx.create("real/data.txt", b"inside").await;
    let root = fx.root();
    symlink(root.join("real"), root.join("alias")).unwrap();
    symlink(root.join("real/data.txt"), root.join("data-link.txt")).unwrap();

    assert_eq!(fx.get("alias/data.txt").await.unwrap(), b"inside");
    assert_eq!(fx.get("data-link.txt").await.unwrap(), b"inside");

    let created = fx.create("alias/new.txt", b"via alias").await;
    assert_eq!(created["fileName"], "alias/new.txt");
    assert_eq!(
        std::fs::read(root.join("real/new.txt")).unwrap(),
        b"via alias"
    );

    // A file link inside the root is listed; a folder link is not walked twice.
    let mut want = strs(&[
        root.join("real/data.txt"),
        root.join("real/new.txt"),
        root.join("data-link.txt"),
    ]);
    want.sort();
    assert_eq!(fx.list(None).await, want);
    assert!(fx.files_outside_root().is_empty());
}

#[tokio::test]
async fn a_file_name_naming_the_root_itself_is_refused() {
    let fx = Fixture::started().await;
    for name in [".", "./", "././"] {
        for op in ["create", "get", "delete"] {
            let err = fx.invoke(op, b"x", Some(name)).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidArgument,
                "{op} {name:?}: {err}"
            );
        }
    }
    assert!(
        fx.tmp.path().join("root").is_dir(),
        "rootPath itself was deleted"
    );
    // Listing "." still lists the whole root.
    assert!(fx.list(Some(".")).await.is_empty());
}

/// The race of issue 10: a second thread swaps, as fast as it can, an entry of the root between
/// what it was (a file or a folder inside) and a symbolic link to the same name outside, while
/// the binding works on it. A binding that checks a path and then opens it (two steps) is
/// redirected outside now and then; one that resolves and opens in one step never is.
#[cfg(target_os = "linux")]
mod race {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const ROUNDS: usize = 3000;

    /// Exchanges `<name>` and `<name>-alt` in the root until dropped; `<name>-alt` starts as a
    /// link to `outside/<name>`. After each swap the real one gets `x` back (for delete).
    struct Swapper {
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<u64>>,
    }

    impl Swapper {
        fn start(fx: &Fixture, name: &str) -> Swapper {
            let (root, outside) = (fx.root(), fx.outside());
            let (a, b) = (root.join(name), root.join(format!("{name}-alt")));
            symlink(outside.join(name), &b).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                let mut swaps = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &a,
                        rustix::fs::CWD,
                        &b,
                        rustix::fs::RenameFlags::EXCHANGE,
                    )
                    .expect("swap");
                    swaps += 1;
                    let real = if swaps % 2 == 1 { &b } else { &a };
                    if real.is_dir() && !real.join("x").exists() {
                        std::fs::write(real.join("x"), b"inside").unwrap();
                    }
                }
                swaps
            });
            Swapper {
                stop,
                thread: Some(thread),
            }
        }

        fn stop(mut self) -> u64 {
            self.stop.store(true, Ordering::Relaxed);
            self.thread.take().unwrap().join().unwrap()
        }
    }

    /// A root with `f` (file "inside") and `d/x` (file "inside"), and the same names outside
    /// holding "SECRET".
    async fn fixture() -> Fixture {
        let fx = Fixture::started().await;
        std::fs::write(fx.root().join("f"), b"inside").unwrap();
        std::fs::create_dir(fx.root().join("d")).unwrap();
        std::fs::write(fx.root().join("d/x"), b"inside").unwrap();
        std::fs::write(fx.outside().join("f"), b"SECRET").unwrap();
        std::fs::create_dir(fx.outside().join("d")).unwrap();
        std::fs::write(fx.outside().join("d/x"), b"SECRET").unwrap();
        fx
    }

    fn outside_untouched(fx: &Fixture) {
        assert_eq!(std::fs::read(fx.outside().join("f")).unwrap(), b"SECRET");
        assert_eq!(std::fs::read(fx.outside().join("d/x")).unwrap(), b"SECRET");
        assert_eq!(
            fx.files_outside_root(),
            vec![fx.outside().join("d/x"), fx.outside().join("f")],
            "nothing was made or removed outside rootPath"
        );
        assert_eq!(std::fs::read_dir(fx.outside()).unwrap().count(), 2);
        assert_eq!(
            std::fs::read_dir(fx.outside().join("d")).unwrap().count(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_never_reads_outside_while_a_link_is_swapped_in() {
        let fx = fixture().await;
        for name in ["f", "d/x"] {
            let swapper = Swapper::start(&fx, name.split('/').next().unwrap());
            let (mut inside, mut refused, mut outside) = (0, 0, 0);
            for _ in 0..ROUNDS {
                match fx.get(name).await {
                    Ok(data) if data == b"inside" => inside += 1,
                    Ok(data) => {
                        assert_eq!(data, b"SECRET", "{name}");
                        outside += 1;
                    }
                    Err(e) => {
                        // The link (refused), or the moment x was missing (deleted: never here).
                        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name}: {e}");
                        refused += 1;
                    }
                }
            }
            let swaps = swapper.stop();
            assert_eq!(
                outside, 0,
                "get {name:?} read the file outside rootPath {outside} times in {ROUNDS} ({inside} inside, {refused} refused, {swaps} swaps)"
            );
            assert!(
                inside > 0 && swaps > 0,
                "the race ran: {inside} inside, {swaps} swaps"
            );
        }
        outside_untouched(&fx);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_never_writes_outside_while_a_link_is_swapped_in() {
        let fx = fixture().await;
        for name in ["f", "d/x", "d/new/y"] {
            let swapper = Swapper::start(&fx, name.split('/').next().unwrap());
            let mut written = 0;
            for _ in 0..ROUNDS {
                match fx.invoke("create", b"PWNED", Some(name)).await {
                    Ok(_) => written += 1,
                    Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{name}: {e}"),
                }
            }
            let swaps = swapper.stop();
            assert!(
                written > 0 && swaps > 0,
                "the race ran: {written} written, {swaps} swaps"
            );
            // Put the entries back where they started, for the next name.
            let (a, b) = (
                fx.root().join(name.split('/').next().unwrap()),
                fx.root()
                    .join(format!("{}-alt", name.split('/').next().unwrap())),
            );
            if std::fs::symlink_metadata(&a)
                .unwrap()
                .file_type()
                .is_symlink()
            {
                std::fs::rename(&b, fx.root().join("tmp")).unwrap();
                std::fs::remove_file(&a).unwrap();
                std::fs::rename(fx.root().join("tmp"), &a).unwrap();
            } else {
                std::fs::remove_file(&b).unwrap();
            }
            outside_untouched(&fx);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delete_never_removes_outside_while_a_link_is_swapped_in() {
        let fx = fixture().await;
        let swapper = Swapper::start(&fx, "d");
        let mut deleted = 0;
        for _ in 0..ROUNDS {
            match fx.invoke("delete", b"", Some("d/x")).await {
                Ok(_) => deleted += 1,
                // Refused (the link), or x not there yet (the swapper puts it back).
                Err(e) => assert!(
                    matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::NotFound),
                    "{e}"
                ),
            }
        }
        let swaps = swapper.stop();
        assert!(
            deleted > 0 && swaps > 0,
            "the race ran: {deleted} deleted, {swaps} swaps"
        );
        outside_untouched(&fx);
    }
}
