//! Durable local adapters of Recap's ports, for `recap serve` and the tests.
//!
//! Records and the queue live in one [redb](https://docs.rs/redb) file: an embedded, ACID,
//! crash-safe B-tree store with one writer at a time, which gives DynamoDB's conditional
//! writes and all-or-nothing transactions without locks of our own (a write transaction that
//! is not committed leaves nothing behind, even when the process dies in the middle). Files
//! are blobs in a directory, their metadata in the same redb file.

mod files;
mod queue;
mod records;
mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use recap_domain::Error;

pub use files::EmbeddedFiles;
pub use queue::{EmbeddedQueue, QueueConfig};
pub use records::EmbeddedRecords;
pub use server::files_router;

/// The data directory of a local stack: `recap.redb`, `files/` and `secret.key`.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<redb::Database>,
    dir: PathBuf,
    secret: Arc<[u8]>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.dir)
            .finish()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`. A second process on the same directory is
    /// refused with a clear error rather than corrupting it.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join("files"))
            .map_err(|e| Error::unexpected(format!("creating {}", dir.display()), e))?;
        let path = dir.join("recap.redb");
        let db = redb::Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Unavailable {
                what: format!("{} (another process has it open)", path.display()).into(),
                source: Some(e.into()),
            },
            e => Error::unexpected(format!("opening {}", path.display()), e),
        })?;
        let secret = load_or_create_secret(&dir.join("secret.key"))?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            dir,
            secret: secret.into(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A random secret made on first open and kept in the data directory: it signs presigned
    /// file URLs (and, for the local stack, tokens), and survives restarts.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    pub fn records(&self) -> EmbeddedRecords {
        EmbeddedRecords::new(self.db.clone())
    }

    pub fn queue(&self, config: QueueConfig) -> EmbeddedQueue {
        EmbeddedQueue::new(self.db.clone(), config)
    }

    /// Files whose presigned URLs point at `base_url` (the local HTTP server).
    pub fn files(&self, base_url: impl Into<String>) -> EmbeddedFiles {
        EmbeddedFiles::new(
            self.db.clone(),
            self.dir.join("files"),
            base_url.into(),
            self.secret.clone(),
        )
    }
}

/// The data directory's secret, made if missing, without opening the store (which a running
/// server holds): what `recap token` signs with.
pub fn data_secret(dir: impl AsRef<Path>) -> Result<Vec<u8>, Error> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::unexpected(format!("creating {}", dir.display()), e))?;
    load_or_create_secret(&dir.join("secret.key"))
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, Error> {
    match std::fs::read(path) {
        Ok(s) if s.len() >= 32 => return Ok(s),
        Ok(_) => {
            return Err(Error::unexpected(
                format!("reading {}", path.display()),
                "the secret is shorter than 32 bytes",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::unexpected(format!("reading {}", path.display()), e)),
    }
    let mut s = Vec::with_capacity(32);
    s.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    s.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &s)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::unexpected(format!("writing {}", path.display()), e))?;
    Ok(s)
}

/// Maps any redb failure to an unexpected error with its source.
pub(crate) fn db_err<E: Into<redb::Error>>(e: E) -> Error {
    let e: redb::Error = e.into();
    Error::unexpected("embedded store", e)
}

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::unexpected("embedded store task", e))?
}
