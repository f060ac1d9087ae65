//! `bindings.localstorage`: files under `rootPath`, with Dapr's operations
//! `create get list delete` and request metadata `fileName`.
//!
//! `create` without `fileName` names the file with a UUID and answers `{"fileName": ...}`;
//! `list` answers a JSON array of absolute paths (of `fileName`'s folder, or the whole root).
//! Where Dapr clamps a `fileName` that leaves `rootPath`, bindery refuses it: `..`, absolute
//! paths and symbolic links that lead outside the root are all errors.

use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::binding::{
    BindingConfig, BindingParts, InvokeRequest, InvokeResponse, MetadataMap, OutputBinding,
};
use crate::component::Metadata;
use crate::error::{Error, ErrorKind, Result};
use crate::registry::{BindingSpec, Field, FieldKind, FieldProblem};

const OPERATIONS: &[&str] = &["create", "get", "list", "delete"];
const FIELDS: &[Field] = &[Field::required("rootPath", FieldKind::Text, "./data")];
const DISALLOWED_ROOTS: [&str; 4] = ["/proc", "/sys", "/boot", "/var/run/secrets"];

/// The `bindings.localstorage` type.
pub fn spec() -> BindingSpec {
    BindingSpec {
        type_name: "bindings.localstorage",
        aliases: &[],
        versions: &["v1"],
        input: false,
        output: true,
        operations: OPERATIONS,
        fields: FIELDS,
        check: Some(check),
        build,
    }
}

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

fn check(md: &Metadata) -> Vec<FieldProblem> {
    let Some(root) = md.get_nonempty("rootPath") else {
        return Vec::new();
    };
    let abs = absolute(root);
    if DISALLOWED_ROOTS.iter().any(|d| abs.starts_with(d)) {
        return vec![FieldProblem {
            field: Some("rootPath".into()),
            message: format!("rootPath {root:?} points to a disallowed location"),
            fix: Some(format!(
                "choose a folder outside {}",
                DISALLOWED_ROOTS.join(", ")
            )),
        }];
    }
    if abs.is_file() {
        return vec![FieldProblem {
            field: Some("rootPath".into()),
            message: format!("rootPath {root:?} is a file, not a folder"),
            fix: Some("point rootPath at a folder (it is created when missing)".into()),
        }];
    }
    Vec::new()
}

fn build(cfg: &BindingConfig) -> Result<BindingParts> {
    let root = absolute(cfg.metadata.get_nonempty("rootPath").unwrap_or_default());
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

/// The absolute path for `name` under `root`, refused when it (or a link on the way) leads
/// outside the root.
fn resolve(root: &Path, name: &str) -> Result<PathBuf> {
    let rel = relative_name(name)?;
    let full = root.join(&rel);
    // The deepest part of the path that exists must, with its links followed, stay inside.
    let mut probe = full.clone();
    loop {
        match std::fs::canonicalize(&probe) {
            Ok(real) => {
                if !real.starts_with(root) {
                    return Err(Error::invalid_argument(format!(
                        "fileName {name:?} leads outside rootPath through a symbolic link; it is refused"
                    )));
                }
                break;
            }
            Err(_) if std::fs::symlink_metadata(&probe).is_ok() => {
                // A dangling link: it could be made to point anywhere.
                return Err(Error::invalid_argument(format!(
                    "fileName {name:?} goes through a dangling symbolic link; it is refused"
                )));
            }
            Err(_) => {
                if !probe.pop() || probe == root {
                    break;
                }
            }
        }
    }
    Ok(full)
}

fn file_name(req: &InvokeRequest) -> Option<&str> {
    req.metadata
        .get("fileName")
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

fn create(root: &Path, req: InvokeRequest) -> Result<InvokeResponse> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = file_name(&req)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let path = resolve(root, &name)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| io_error("cannot create the folder", parent, e))?;
        // Re-check now that the folders exist (a link may have been raced in).
        resolve(root, &name)?;
    }
    // A link inside the root is written through to its (checked) target; the last component
    // is then opened without following links, so a link raced in after the check cannot
    // redirect the write.
    let target = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::canonicalize(&path).map_err(|e| io_error("cannot resolve", &path, e))?
        }
        _ => path.clone(),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&target)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Error::invalid_argument(format!(
                "fileName {name:?} is a symbolic link; it is refused"
            )),
            _ => io_error("cannot write", &path, e),
        })?;
    file.write_all(&req.data)
        .map_err(|e| io_error("cannot write", &path, e))?;
    let rel = path
        .strip_prefix(root)
        .unwrap_or(&path)
        .to_string_lossy()
        .into_owned();
    Ok(InvokeResponse {
        data: serde_json::to_vec(&serde_json::json!({ "fileName": rel })).unwrap_or_default(),
        metadata: MetadataMap::new(),
    })
}

fn get(root: &Path, req: InvokeRequest) -> Result<InvokeResponse> {
    let name = file_name(&req)
        .ok_or_else(|| Error::invalid_argument("get needs the request metadata fileName"))?;
    let path = resolve(root, name)?;
    let data = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::new(
            ErrorKind::NotFound,
            format!("file not found: {}", path.display()),
        ),
        _ => io_error("cannot read", &path, e),
    })?;
    Ok(InvokeResponse {
        data,
        metadata: MetadataMap::new(),
    })
}

fn list(root: &Path, req: InvokeRequest) -> Result<InvokeResponse> {
    let dir = match file_name(&req) {
        Some(name) if Path::new(name).components().all(|c| c == PathPart::CurDir) => {
            root.to_path_buf()
        }
        Some(name) => resolve(root, name)?,
        None => root.to_path_buf(),
    };
    let meta = std::fs::metadata(&dir).map_err(|e| io_error("cannot list", &dir, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid_argument(format!(
            "unable to list files as the file specified is not a directory: {}",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| io_error("cannot list", &d, e))? {
            let entry = entry.map_err(|e| io_error("cannot list", &d, e))?;
            let path = entry.path();
            let ft = entry
                .file_type()
                .map_err(|e| io_error("cannot list", &path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_symlink() {
                // Listed only when it resolves to a file inside the root.
                if let Ok(real) = std::fs::canonicalize(&path) {
                    if real.starts_with(root) && real.is_file() {
                        files.push(path.to_string_lossy().into_owned());
                    }
                }
            } else {
                files.push(path.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    Ok(InvokeResponse {
        data: serde_json::to_vec(&files).unwrap_or_default(),
        metadata: MetadataMap::new(),
    })
}

fn delete(root: &Path, req: InvokeRequest) -> Result<InvokeResponse> {
    let name = file_name(&req)
        .ok_or_else(|| Error::invalid_argument("delete needs the request metadata fileName"))?;
    let path = resolve(root, name)?;
    let is_dir = std::fs::symlink_metadata(&path)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    let res = if is_dir {
        std::fs::remove_dir(&path)
    } else {
        std::fs::remove_file(&path)
    };
    res.map_err(|e| io_error("error deleting file", &path, e))?;
    Ok(InvokeResponse::default())
}

#[async_trait]
impl OutputBinding for LocalStorage {
    fn operations(&self) -> &[&'static str] {
        OPERATIONS
    }

    async fn init(&self) -> Result<()> {
        self.root().await.map(drop)
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let op: fn(&Path, InvokeRequest) -> Result<InvokeResponse> = match req.operation.as_str() {
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
        blocking(move || op(&root, req)).await
    }
}
