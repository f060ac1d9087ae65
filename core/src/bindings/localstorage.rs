//! `bindings.localstorage`: files under `rootPath`, with Dapr's operations
//! `create get list delete` and request metadata `fileName`.
//!
//! `create` without `fileName` names the file with a UUID and answers `{"fileName": ...}`;
//! `list` answers a JSON array of absolute paths (of `fileName`'s folder, or the whole root).
//! Where Dapr clamps a `fileName` that leaves `rootPath`, bindery refuses it: `..`, absolute
//! paths and symbolic links that lead outside the root are all errors. Each path is resolved
//! beneath the root in the same step that opens it (see `Root::open`), so a link swapped in
//! meanwhile cannot redirect a read, write or delete.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component as PathPart, Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use rustix::io::Errno;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::binding::{declare, Settings};
use crate::binding::{BindingParts, InvokeRequest, InvokeResponse, MetadataMap, OutputBinding};
use crate::error::{Error, ErrorKind, Result};

const DISALLOWED_ROOTS: [&str; 4] = ["/proc", "/sys", "/boot", "/var/run/secrets"];

declare!("localstorage.metadata.yaml", build);

fn absolute(p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let Some(given) = s.text("rootPath") else {
        return Ok(BindingParts::default());
    };
    let root = absolute(given);
    if DISALLOWED_ROOTS.iter().any(|d| root.starts_with(d)) {
        s.problem(
            "rootPath",
            format!("rootPath {given:?} points to a disallowed location"),
            format!("choose a folder outside {}", DISALLOWED_ROOTS.join(", ")),
        );
    } else if root.is_file() {
        s.problem(
            "rootPath",
            format!("rootPath {given:?} is a file, not a folder"),
            "point rootPath at a folder (it is created when missing)",
        );
    }
    Ok(BindingParts {
        input: None,
        output: Some(Arc::new(LocalStorage {
            root,
            canonical: OnceCell::new(),
        })),
    })
}

struct LocalStorage {
    root: PathBuf,
    canonical: OnceCell<PathBuf>,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory => {
            ErrorKind::InvalidArgument
        }
        _ => ErrorKind::Upstream,
    };
    Error::new(kind, format!("{what} {}", path.display()))
        .with_source(e)
        .with_retryable(false)
}

/// Check `name` as a path relative to the root: no `..`, nothing absolute, nothing empty.
fn relative_name(name: &str) -> Result<PathBuf> {
    if name.contains('\0') {
        return Err(Error::invalid_argument("fileName contains a NUL byte"));
    }
    let p = Path::new(name);
    let mut out = PathBuf::new();
    for part in p.components() {
        match part {
            PathPart::Normal(s) => out.push(s),
            PathPart::CurDir => {}
            PathPart::ParentDir => {
                return Err(Error::invalid_argument(format!(
                    "fileName {name:?} leaves rootPath through \"..\"; it is refused"
                )))
            }
            PathPart::RootDir | PathPart::Prefix(_) => {
                return Err(Error::invalid_argument(format!(
                    "fileName {name:?} is an absolute path; give a path relative to rootPath"
                )))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(Error::invalid_argument(format!(
            "fileName {name:?} names rootPath itself; give a file name under it"
        )));
    }
    Ok(out)
}

impl LocalStorage {
    /// The canonical root, created on first use.
    async fn root(&self) -> Result<PathBuf> {
        let root = self.root.clone();
        self.canonical
            .get_or_try_init(|| async move {
                blocking(move || {
                    std::fs::create_dir_all(&root)
                        .map_err(|e| io_error("cannot create rootPath", &root, e))?;
                    std::fs::canonicalize(&root)
                        .map_err(|e| io_error("cannot resolve rootPath", &root, e))
                })
                .await
            })
            .await
            .cloned()
    }
}

/// Run file work, which blocks: in place on a multi-thread runtime (the worker hands its other
/// tasks to another worker meanwhile, and no thread hop is paid), else on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread
    {
        return tokio::task::block_in_place(f);
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal("local storage task failed").with_source(e))?
}

// Resolving a fileName beneath rootPath.
//
// Every path is resolved from a descriptor of rootPath, in the same system call that opens it,
// so nothing can be swapped in between a check and the use: `openat2` with `RESOLVE_BENEATH`
// (Linux 5.6+), which fails with EXDEV where the path would leave the root (`..` above it, an
// absolute symbolic link, a link leading out). Where openat2 is missing, and for the absolute
// links that lead back inside the root (which RESOLVE_BENEATH refuses), `walk` resolves the
// path one component at a time with `openat(O_NOFOLLOW)`, reading each symbolic link and
// following it itself; it holds a descriptor for each folder it stands in, so `..` steps back
// to a folder it has already opened and can never climb above the root.

/// Open flags for a folder that is only walked through.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR: OFlags = OFlags::PATH.union(OFlags::DIRECTORY);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY);

/// Open flags for looking at what a path names without reading it.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LOOK: OFlags = OFlags::PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const LOOK: OFlags = OFlags::RDONLY;

/// As many symbolic links as Linux follows in one path.
const MAX_LINKS: usize = 40;

/// Set once openat2 answered ENOSYS (a kernel before 5.6): every path then takes `walk`.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// rootPath, opened for one operation.
struct Root {
    /// The canonical path, for messages, `list`'s answer and absolute links into the root.
    path: PathBuf,
    fd: OwnedFd,
    /// Whether to try openat2 first (false in tests of `walk`).
    openat2: bool,
}

impl Root {
    /// Open the canonical root; `create` makes it again when it was removed meanwhile.
    fn at(path: PathBuf, create: bool) -> Result<Root> {
        let open = || rfs::open(&path, DIR | OFlags::CLOEXEC, Mode::empty());
        let fd = match open() {
            Err(Errno::NOENT) if create => {
                std::fs::create_dir_all(&path)
                    .map_err(|e| io_error("cannot create rootPath", &path, e))?;
                open()
            }
            r => r,
        }
        .map_err(|e| io_error("cannot open rootPath", &path, e.into()))?;
        Ok(Root {
            path,
            fd,
            openat2: !NO_OPENAT2.load(Ordering::Relaxed),
        })
    }

    /// `rel` under the root, for messages and answers.
    fn display(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// Open `rel` (relative, made only of normal components) beneath the root, following
    /// symbolic links only as long as they stay inside it. EXDEV means it would leave the root.
    fn open(&self, rel: &Path, flags: OFlags, mode: Mode) -> std::result::Result<OwnedFd, Errno> {
        if rel.as_os_str().is_empty() {
            return rfs::openat(&self.fd, ".", flags | OFlags::CLOEXEC, mode);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.openat2 {
            use rustix::fs::ResolveFlags;
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            for _ in 0..4 {
                match rfs::openat2(&self.fd, rel, flags | OFlags::CLOEXEC, mode, resolve) {
                    // A rename elsewhere raced the lookup: the kernel asks to try again.
                    Err(Errno::AGAIN) => continue,
                    // Out of the root, or through an absolute link that may lead back into it:
                    // the walk tells which.
                    Err(Errno::XDEV) => break,
                    Err(Errno::NOSYS) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        break;
                    }
                    // Refused by a seccomp filter, or a real EPERM: the walk answers either way.
                    Err(Errno::PERM) => break,
                    r => return r,
                }
            }
        }
        walk(self, rel, flags, mode)
    }
}

/// The parts of a relative path, last first (a stack): `..` kept, `.` dropped.
fn parts_reversed(p: &Path) -> Vec<OsString> {
    p.components()
        .rev()
        .filter_map(|c| match c {
            PathPart::Normal(s) => Some(s.to_os_string()),
            PathPart::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// Resolve `rel` beneath the root one component at a time (see above).
fn walk(root: &Root, rel: &Path, flags: OFlags, mode: Mode) -> std::result::Result<OwnedFd, Errno> {
    // The folders below the root that the path has entered so far, innermost last.
    let mut dirs: Vec<OwnedFd> = Vec::new();
    let mut todo = parts_reversed(rel);
    let mut links = 0;
    loop {
        let here = dirs.last().map_or(root.fd.as_fd(), |d| d.as_fd());
        let Some(part) = todo.pop() else {
            // The path ends at a folder it already stands in (a link to "." or "..").
            return rfs::openat(here, ".", flags | OFlags::CLOEXEC, mode);
        };
        if part == ".." {
            if dirs.pop().is_none() {
                return Err(Errno::XDEV);
            }
            continue;
        }
        let last = todo.is_empty();
        let opened = if last {
            rfs::openat(
                here,
                &part,
                flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                mode,
            )
        } else {
            rfs::openat(
                here,
                &part,
                DIR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let maybe_link = match &opened {
            // O_NOFOLLOW fails on a link with ELOOP (ENOTDIR where a folder was asked for),
            // except with O_PATH, which opens the link itself.
            Err(Errno::LOOP | Errno::NOTDIR) => true,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Ok(fd) if last && flags.contains(OFlags::PATH) => rfs::fstat(fd)
                .map(|st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Symlink)
                .unwrap_or(false),
            _ => false,
        };
        if maybe_link {
            if let Ok(target) = rfs::readlinkat(here, &part, Vec::new()) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::LOOP);
                }
                let target = PathBuf::from(OsString::from_vec(target.into_bytes()));
                let inner = if target.is_absolute() {
                    // Absolute: followed only when it names a place inside the root.
                    let inner = target
                        .strip_prefix(&root.path)
                        .map_err(|_| Errno::XDEV)?
                        .to_path_buf();
                    dirs.clear();
                    inner
                } else {
                    target
                };
                todo.extend(parts_reversed(&inner));
                continue;
            }
        }
        let fd = opened?;
        if last {
            return Ok(fd);
        }
        dirs.push(fd);
    }
}

/// The error for a path refused with EXDEV or ELOOP, or any other failure of `what`.
fn path_error(root: &Root, rel: &Path, name: &str, what: &str, e: Errno) -> Error {
    match e {
        Errno::XDEV if through_dangling_link(root, rel) => Error::invalid_argument(format!(
            "fileName {name:?} goes through a dangling symbolic link; it is refused"
        )),
        Errno::XDEV => Error::invalid_argument(format!(
            "fileName {name:?} leads outside rootPath through a symbolic link; it is refused"
        )),
        Errno::LOOP => Error::invalid_argument(format!(
            "fileName {name:?} goes through more than {MAX_LINKS} symbolic links (a loop?); it is refused"
        )),
        e => io_error(what, &root.display(rel), e.into()),
    }
}

/// Whether the deepest existing part of `rel` is a link to nothing: only to word a refusal,
/// which was decided without looking at paths.
fn through_dangling_link(root: &Root, rel: &Path) -> bool {
    let mut probe = root.path.join(rel);
    while probe.starts_with(&root.path) && probe != root.path {
        if let Ok(m) = std::fs::symlink_metadata(&probe) {
            return m.file_type().is_symlink() && std::fs::metadata(&probe).is_err();
        }
        probe.pop();
    }
    false
}

fn file_name(req: &InvokeRequest) -> Option<&str> {
    req.metadata
        .get("fileName")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// Make the folder `dir` and the ones above it, each beneath the root.
fn make_dirs(root: &Root, dir: &Path) -> std::result::Result<(), Errno> {
    match root.open(dir, DIR, Mode::empty()) {
        Err(Errno::NOENT) => {}
        r => return r.map(drop),
    }
    let mut done = PathBuf::new();
    for part in dir.components() {
        let parent = if done.as_os_str().is_empty() {
            None
        } else {
            Some(root.open(&done, DIR, Mode::empty())?)
        };
        let at = parent.as_ref().map_or(root.fd.as_fd(), |f| f.as_fd());
        // mkdirat does not follow a link in the last place: an existing one is EEXIST, and
        // the next open resolves it beneath the root.
        match rfs::mkdirat(at, part.as_os_str(), Mode::from_raw_mode(0o777)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
        done.push(part);
    }
    root.open(dir, DIR, Mode::empty()).map(drop)
}

/// Open `rel` for writing, truncated, created when missing.
fn open_for_write(root: &Root, rel: &Path) -> std::result::Result<OwnedFd, Errno> {
    for _ in 0..3 {
        match root.open(rel, OFlags::WRONLY | OFlags::TRUNC, Mode::empty()) {
            Err(Errno::NOENT) => {}
            r => return r,
        }
        // O_EXCL: a link in the last place is not followed (EEXIST), so a dangling one is
        // never made to create its target.
        let mode = Mode::from_raw_mode(0o666);
        match root.open(rel, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, mode) {
            Err(Errno::EXIST) => {} // made meanwhile, or a dangling link: look again
            r => return r,
        }
    }
    Err(Errno::XDEV)
}

fn create(root: &Root, req: InvokeRequest) -> Result<InvokeResponse> {
    use std::io::Write;
    let name = file_name(&req)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let rel = relative_name(&name)?;
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        make_dirs(root, parent)
            .map_err(|e| path_error(root, parent, &name, "cannot create the folder", e))?;
    }
    let fd =
        open_for_write(root, &rel).map_err(|e| path_error(root, &rel, &name, "cannot write", e))?;
    std::fs::File::from(fd)
        .write_all(&req.data)
        .map_err(|e| io_error("cannot write", &root.display(&rel), e))?;
    let rel = rel.to_string_lossy().into_owned();
    Ok(InvokeResponse {
        data: serde_json::to_vec(&serde_json::json!({ "fileName": rel })).unwrap_or_default(),
        metadata: MetadataMap::new(),
    })
}

fn get(root: &Root, req: InvokeRequest) -> Result<InvokeResponse> {
    use std::io::Read;
    let name = file_name(&req)
        .ok_or_else(|| Error::invalid_argument("get needs the request metadata fileName"))?;
    let rel = relative_name(name)?;
    let fd = root
        .open(&rel, OFlags::RDONLY, Mode::empty())
        .map_err(|e| match e {
            Errno::NOENT => Error::new(
                ErrorKind::NotFound,
                format!("file not found: {}", root.display(&rel).display()),
            ),
            e => path_error(root, &rel, name, "cannot read", e),
        })?;
    let size = rfs::fstat(&fd).map(|st| st.st_size).unwrap_or(0);
    let mut data = Vec::new();
    // A hint only: the file may change size, and a huge one fails in read_to_end instead.
    let _ = data.try_reserve_exact(usize::try_from(size).unwrap_or(0));
    std::fs::File::from(fd)
        .read_to_end(&mut data)
        .map_err(|e| io_error("cannot read", &root.display(&rel), e))?;
    Ok(InvokeResponse {
        data,
        metadata: MetadataMap::new(),
    })
}

fn list(root: &Root, req: InvokeRequest) -> Result<InvokeResponse> {
    let (name, rel) = match file_name(&req) {
        Some(name) if Path::new(name).components().all(|c| c == PathPart::CurDir) => {
            (name, PathBuf::new())
        }
        Some(name) => (name, relative_name(name)?),
        None => ("", PathBuf::new()),
    };
    let fd = root
        .open(&rel, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
        .map_err(|e| match e {
            Errno::NOTDIR => Error::invalid_argument(format!(
                "unable to list files as the file specified is not a directory: {}",
                root.display(&rel).display()
            )),
            e => path_error(root, &rel, name, "cannot list", e),
        })?;
    let cannot = |rel: &Path, e: Errno| io_error("cannot list", &root.display(rel), e.into());
    let mut files = Vec::new();
    // Folders still to read: their parent (kept open only while some are pending), name and
    // path under the root. Subfolders are opened with O_NOFOLLOW, so a folder swapped for a
    // link while listing is skipped, never followed.
    let mut todo: Vec<(Rc<rfs::Dir>, OsString, PathBuf)> = Vec::new();
    let mut next = Some((fd, rel));
    loop {
        let (fd, dir_rel) = match next.take() {
            Some(first) => first,
            None => match todo.pop() {
                None => break,
                Some((parent, name, rel)) => {
                    let at = parent.fd().map_err(|e| cannot(&rel, e))?;
                    let flags =
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    match rfs::openat(at, &name, flags, Mode::empty()) {
                        Ok(fd) => (fd, rel),
                        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                        Err(e) => return Err(cannot(&rel, e)),
                    }
                }
            },
        };
        let mut dir = rfs::Dir::new(fd).map_err(|e| cannot(&dir_rel, e))?;
        let mut subdirs = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| cannot(&dir_rel, e))?;
            let bytes = entry.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let entry_name = OsStr::from_bytes(bytes).to_os_string();
            let entry_rel = dir_rel.join(&entry_name);
            let mut kind = entry.file_type();
            if kind == rfs::FileType::Unknown {
                let at = dir.fd().map_err(|e| cannot(&dir_rel, e))?;
                kind = match rfs::statat(at, &entry_name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => rfs::FileType::from_raw_mode(st.st_mode),
                    Err(_) => continue, // gone meanwhile
                };
            }
            match kind {
                rfs::FileType::Directory => subdirs.push((entry_name, entry_rel)),
                rfs::FileType::Symlink => {
                    // Listed only when it resolves to a file inside the root.
                    let is_file = root
                        .open(&entry_rel, LOOK, Mode::empty())
                        .and_then(rfs::fstat)
                        .map(|st| rfs::FileType::from_raw_mode(st.st_mode))
                        == Ok(rfs::FileType::RegularFile);
                    if is_file {
                        files.push(root.display(&entry_rel).to_string_lossy().into_owned());
                    }
                }
                _ => files.push(root.display(&entry_rel).to_string_lossy().into_owned()),
            }
        }
        if !subdirs.is_empty() {
            let dir = Rc::new(dir);
            todo.extend(
                subdirs
                    .into_iter()
                    .map(|(name, rel)| (Rc::clone(&dir), name, rel)),
            );
        }
    }
    files.sort();
    Ok(InvokeResponse {
        data: serde_json::to_vec(&files).unwrap_or_default(),
        metadata: MetadataMap::new(),
    })
}

fn delete(root: &Root, req: InvokeRequest) -> Result<InvokeResponse> {
    let name = file_name(&req)
        .ok_or_else(|| Error::invalid_argument("delete needs the request metadata fileName"))?;
    let rel = relative_name(name)?;
    let (parent, last) = match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(last)) => (parent, last),
        _ => {
            return Err(Error::invalid_argument(format!(
                "fileName {name:?} names no file"
            )))
        }
    };
    let parent_fd = root
        .open(parent, DIR, Mode::empty())
        .map_err(|e| path_error(root, parent, name, "error deleting file", e))?;
    let failed = |e: Errno| io_error("error deleting file", &root.display(&rel), e.into());
    // unlinkat removes a link itself, never its target; still, a link that leads outside is
    // refused, as `get` refuses to read through it.
    let kind = rfs::statat(&parent_fd, last, AtFlags::SYMLINK_NOFOLLOW)
        .map(|st| rfs::FileType::from_raw_mode(st.st_mode))
        .map_err(failed)?;
    if kind == rfs::FileType::Symlink {
        if let Err(e @ (Errno::XDEV | Errno::LOOP)) = root.open(&rel, LOOK, Mode::empty()) {
            return Err(path_error(root, &rel, name, "error deleting file", e));
        }
    }
    let flags = if kind == rfs::FileType::Directory {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    rfs::unlinkat(&parent_fd, last, flags).map_err(failed)?;
    Ok(InvokeResponse::default())
}

#[async_trait]
impl OutputBinding for LocalStorage {
    async fn init(&self) -> Result<()> {
        self.root().await.map(drop)
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let op: fn(&Root, InvokeRequest) -> Result<InvokeResponse> = match req.operation.as_str() {
            "create" => create,
            "get" => get,
            "list" => list,
            "delete" => delete,
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedOperation,
                    format!("unsupported operation {other}"),
                ))
            }
        };
        let root = self.root().await?;
        let create = req.operation == "create";
        blocking(move || op(&Root::at(root, create)?, req)).await
    }
}

/// The resolution itself, on both paths: openat2 and the per-component walk that replaces it
/// where the kernel has none (the tests through the runtime take openat2 on Linux 5.6+).
#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Dirs {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        outside: PathBuf,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::TempDir::new().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"SECRET").unwrap();
        Dirs {
            _tmp: tmp,
            root,
            outside,
        }
    }

    fn call(d: &Dirs, openat2: bool, op: &str, name: &str, data: &[u8]) -> Result<Vec<u8>> {
        let mut root = Root::at(d.root.clone(), op == "create")?;
        root.openat2 = openat2;
        let mut req = InvokeRequest::new(op);
        req.data = data.to_vec();
        if !name.is_empty() {
            req.metadata.insert("fileName".into(), name.into());
        }
        let f: fn(&Root, InvokeRequest) -> Result<InvokeResponse> = match op {
            "create" => create,
            "get" => get,
            "list" => list,
            _ => delete,
        };
        f(&root, req).map(|r| r.data)
    }

    fn refused(r: Result<Vec<u8>>, words: &str) {
        let e = r.expect_err(words);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains(words), "{e}");
    }

    #[test]
    fn links_are_followed_only_while_they_stay_inside() {
        for openat2 in [false, true] {
            let d = dirs();
            let r = &d.root;
            call(&d, openat2, "create", "real/sub/data.txt", b"inside").unwrap();
            symlink(r.join("real"), r.join("abs")).unwrap();
            symlink("real/sub/../sub", r.join("rel")).unwrap();
            symlink("../sub/data.txt", r.join("real/sub/up")).unwrap();
            symlink(".", r.join("here")).unwrap();
            symlink(r.join("real/../../outside"), r.join("abs-out")).unwrap();
            symlink("real/../../outside", r.join("rel-out")).unwrap();
            symlink("loop-b", r.join("loop-a")).unwrap();
            symlink("loop-a", r.join("loop-b")).unwrap();
            symlink("nothing", r.join("dangling")).unwrap();

            for name in [
                "abs/sub/data.txt",
                "rel/data.txt",
                "real/sub/up",
                "here/rel/up",
            ] {
                assert_eq!(
                    call(&d, openat2, "get", name, b"").unwrap(),
                    b"inside",
                    "{name}"
                );
            }
            for name in [
                "abs-out/secret",
                "rel-out/secret",
                "abs-out/new",
                "rel-out/new",
            ] {
                for op in ["get", "create", "delete", "list"] {
                    refused(call(&d, openat2, op, name, b"PWNED"), "outside rootPath");
                }
            }
            refused(call(&d, openat2, "get", "loop-a", b""), "symbolic links");
            refused(call(&d, openat2, "create", "dangling", b"x"), "dangling");
            assert!(!r.join("nothing").exists());

            call(&d, openat2, "create", "abs/new.txt", b"via abs").unwrap();
            assert_eq!(std::fs::read(r.join("real/new.txt")).unwrap(), b"via abs");
            call(&d, openat2, "create", "rel/made/deep.txt", b"deep").unwrap();
            assert_eq!(
                std::fs::read(r.join("real/sub/made/deep.txt")).unwrap(),
                b"deep"
            );
            let listed: Vec<String> =
                serde_json::from_slice(&call(&d, openat2, "list", "abs", b"").unwrap()).unwrap();
            assert_eq!(listed.len(), 4, "{listed:?}");
            call(&d, openat2, "delete", "rel/made/deep.txt", b"").unwrap();
            call(&d, openat2, "delete", "rel/made", b"").unwrap();
            assert!(!r.join("real/sub/made").exists());
            // Deleting a link removes the link, not what it names.
            call(&d, openat2, "delete", "real/sub/up", b"").unwrap();
            assert!(r.join("real/sub/data.txt").exists());

            assert_eq!(std::fs::read(d.outside.join("secret")).unwrap(), b"SECRET");
            assert_eq!(std::fs::read_dir(&d.outside).unwrap().count(), 1);
        }
    }

    /// The race of the integration tests, on the walk too.
    #[test]
    fn a_link_swapped_in_never_redirects() {
        use std::sync::atomic::AtomicBool;
        for openat2 in [false, true] {
            let d = dirs();
            let (a, b) = (d.root.join("d"), d.root.join("d-alt"));
            std::fs::create_dir(&a).unwrap();
            std::fs::write(a.join("x"), b"inside").unwrap();
            std::fs::create_dir(d.outside.join("d")).unwrap();
            std::fs::write(d.outside.join("d/x"), b"SECRET").unwrap();
            symlink(d.outside.join("d"), &b).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let swapper = std::thread::spawn(move || {
                let mut n = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    rfs::renameat_with(rfs::CWD, &a, rfs::CWD, &b, rfs::RenameFlags::EXCHANGE)
                        .unwrap();
                    n += 1;
                    let real = if n % 2 == 1 { &b } else { &a };
                    if !real.join("x").exists() {
                        std::fs::write(real.join("x"), b"inside").unwrap();
                    }
                }
            });
            for i in 0..3000 {
                let op = ["get", "create", "delete", "list"][i % 4];
                if let Ok(data) = call(&d, openat2, op, "d/x", b"PWNED") {
                    assert_ne!(data, b"SECRET", "openat2 {openat2}");
                }
            }
            stop.store(true, Ordering::Relaxed);
            swapper.join().unwrap();
            assert_eq!(std::fs::read(d.outside.join("d/x")).unwrap(), b"SECRET");
            assert_eq!(std::fs::read_dir(d.outside.join("d")).unwrap().count(), 1);
        }
    }
}
