//! Which ports each API function needs, and a stand-in for those it does not link.
//!
//! `AppState` holds every port, but a function serves one route group and links only the SDK
//! clients its group uses (features `s3` and `sqs` of this crate; DynamoDB always). The ports
//! it goes without are [`Unavailable`]: every call answers an unexpected error that names the
//! port, so a route that reached one would answer a 500 and log why, never act on a wrong
//! store. [`Needs::of`] is the one place that says which groups touch files or the queue;
//! `tests/ports.rs` runs every route of the other groups against [`Unavailable`] ports.

use std::time::Duration;

use async_trait::async_trait;
use recap_domain::files::{FileKey, FileMeta, FilePage, Files, Presigned, UploadPolicy};
use recap_domain::queue::{Message, Queue, Received};
use recap_domain::{Error, Result};
use recap_http::routes::Group;

/// The ports beyond the records that the routes of some groups use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Files (S3): transcript uploads and bodies, rendered outputs.
    pub files: bool,
    /// The generate queue (SQS): generation requests (and so the model choice, which needs to
    /// know which providers have a key).
    pub queue: bool,
}

impl Needs {
    /// What one group's routes use. Transcripts: presigned uploads and downloads, segments,
    /// deleting a transcript's files; no generation is requested at creation (on-upload does
    /// that after the upload). Outputs: rendered files (read, presigned, deleted with their
    /// output). Generation: requests queue jobs. The others read and write records only.
    pub const fn of_group(group: Group) -> Needs {
        match group {
            Group::Transcripts | Group::Outputs => Needs {
                files: true,
                queue: false,
            },
            Group::Generation => Needs {
                files: false,
                queue: true,
            },
            Group::Teams | Group::Billing | Group::Catalog | Group::Playlists => Needs {
                files: false,
                queue: false,
            },
        }
    }

    /// What the routes of all `groups` use.
    pub fn of(groups: &[Group]) -> Needs {
        groups.iter().fold(Needs::default(), |n, g| {
            let g = Needs::of_group(*g);
            Needs {
                files: n.files || g.files,
                queue: n.queue || g.queue,
            }
        })
    }
}

/// A port this function does not have (its SDK client is not linked in): every call is an
/// unexpected error naming the port.
#[derive(Debug, Clone, Copy)]
pub struct Unavailable(pub &'static str);

impl Unavailable {
    /// The files port of a function without the S3 client.
    pub const FILES: Unavailable = Unavailable("files (S3)");
    /// The queue port of a function without the SQS client.
    pub const QUEUE: Unavailable = Unavailable("the generate queue (SQS)");

    fn err<T>(&self) -> Result<T> {
        Err(Error::unexpected(
            self.0,
            format!("{} is not available in this function", self.0),
        ))
    }
}

#[async_trait]
impl Files for Unavailable {
    async fn put(&self, _: &FileKey, _: Vec<u8>, _: &str) -> Result<()> {
        self.err()
    }
    async fn get(&self, _: &FileKey) -> Result<Option<(Vec<u8>, FileMeta)>> {
        self.err()
    }
    async fn head(&self, _: &FileKey) -> Result<Option<FileMeta>> {
        self.err()
    }
    async fn delete(&self, _: &FileKey) -> Result<()> {
        self.err()
    }
    async fn list(&self, _: &str, _: Option<String>, _: u32) -> Result<FilePage> {
        self.err()
    }
    async fn presign_put(&self, _: &FileKey, _: &UploadPolicy) -> Result<Presigned> {
        self.err()
    }
    async fn presign_get(&self, _: &FileKey, _: Duration) -> Result<Presigned> {
        self.err()
    }
}

#[async_trait]
impl Queue for Unavailable {
    async fn send(&self, _: Message) -> Result<String> {
        self.err()
    }
    async fn send_batch(&self, _: Vec<Message>) -> Result<Vec<String>> {
        self.err()
    }
    async fn receive(&self, _: u32, _: Duration, _: Duration) -> Result<Vec<Received>> {
        self.err()
    }
    async fn delete(&self, _: &str) -> Result<()> {
        self.err()
    }
    async fn change_visibility(&self, _: &str, _: Duration) -> Result<()> {
        self.err()
    }
    fn deduplicates(&self) -> bool {
        false
    }
}

/// A port built on its first call, for an SDK client that many invocations never use: building
/// one reads its crate's endpoint partitions (a JSON document and its regexes) and sets up its
/// runtime. API functions build S3 and SQS this way (listing, reading records and every 401
/// need neither), on-upload and generate SQS (sent to only for uploads that ask for outputs
/// and for map-reduce steps). The first call that needs it pays once; later ones share it.
pub struct OnFirstUse<T> {
    port: std::sync::OnceLock<T>,
    make: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> OnFirstUse<T> {
    pub fn new(make: impl Fn() -> T + Send + Sync + 'static) -> Self {
        OnFirstUse {
            port: std::sync::OnceLock::new(),
            make: Box::new(make),
        }
    }

    /// The port, built now if no call has built it yet.
    pub fn port(&self) -> &T {
        self.port.get_or_init(|| (self.make)())
    }

    /// Whether a call has built the port.
    pub fn is_built(&self) -> bool {
        self.port.get().is_some()
    }
}

impl<T> std::fmt::Debug for OnFirstUse<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnFirstUse")
            .field("built", &self.is_built())
            .finish()
    }
}

#[async_trait]
impl<T: Files> Files for OnFirstUse<T> {
    async fn put(&self, key: &FileKey, body: Vec<u8>, content_type: &str) -> Result<()> {
        self.port().put(key, body, content_type).await
    }
    async fn get(&self, key: &FileKey) -> Result<Option<(Vec<u8>, FileMeta)>> {
        self.port().get(key).await
    }
    async fn head(&self, key: &FileKey) -> Result<Option<FileMeta>> {
        self.port().head(key).await
    }
    async fn delete(&self, key: &FileKey) -> Result<()> {
        self.port().delete(key).await
    }
    async fn list(&self, prefix: &str, cursor: Option<String>, limit: u32) -> Result<FilePage> {
        self.port().list(prefix, cursor, limit).await
    }
    async fn presign_put(&self, key: &FileKey, policy: &UploadPolicy) -> Result<Presigned> {
        self.port().presign_put(key, policy).await
    }
    async fn presign_get(&self, key: &FileKey, expires_in: Duration) -> Result<Presigned> {
        self.port().presign_get(key, expires_in).await
    }
}

#[async_trait]
impl<T: Queue> Queue for OnFirstUse<T> {
    async fn send(&self, message: Message) -> Result<String> {
        self.port().send(message).await
    }
    async fn send_batch(&self, messages: Vec<Message>) -> Result<Vec<String>> {
        self.port().send_batch(messages).await
    }
    async fn receive(
        &self,
        max: u32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Received>> {
        self.port().receive(max, visibility, wait).await
    }
    async fn delete(&self, receipt: &str) -> Result<()> {
        self.port().delete(receipt).await
    }
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> Result<()> {
        self.port().change_visibility(receipt, visibility).await
    }
    fn deduplicates(&self) -> bool {
        self.port().deduplicates()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_and_outputs_need_files_and_only_generation_the_queue() {
        use Group::*;
        assert_eq!(
            Needs::of(&[Teams, Billing, Catalog, Playlists]),
            Needs::default()
        );
        assert_eq!(
            Needs::of(&[Teams, Transcripts]),
            Needs {
                files: true,
                queue: false
            }
        );
        assert_eq!(
            Needs::of(&[Outputs]),
            Needs {
                files: true,
                queue: false
            }
        );
        assert_eq!(
            Needs::of(&[Generation, Catalog]),
            Needs {
                files: false,
                queue: true
            }
        );
        assert_eq!(
            Needs::of(&[Outputs, Generation]),
            Needs {
                files: true,
                queue: true
            }
        );
    }

    #[tokio::test]
    async fn every_call_names_the_missing_port() {
        let files = Unavailable::FILES;
        let key = FileKey::parse("0f8fad5b-d9cb-469f-a165-70867728950e/x/y.json").unwrap();
        let e = files.head(&key).await.unwrap_err();
        assert!(matches!(e, Error::Unexpected { .. }), "{e:?}");
        let shown = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            shown.contains("files (S3) is not available in this function"),
            "{shown}"
        );
        let e = Queue::delete(&Unavailable::QUEUE, "r").await.unwrap_err();
        assert!(
            std::error::Error::source(&e)
                .unwrap()
                .to_string()
                .contains("the generate queue (SQS) is not available"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_port_on_first_use_is_built_by_the_first_call_and_only_once() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let files = OnFirstUse::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Unavailable::FILES
        });
        assert!(!files.is_built());
        assert_eq!(built.load(Ordering::SeqCst), 0, "nothing is built up front");
        let key = FileKey::parse("t/a").expect("a valid key");
        for _ in 0..3 {
            let err = Files::head(&files, &key)
                .await
                .expect_err("the inner port answers");
            assert!(err.to_string().contains("files (S3)"), "{err}");
        }
        assert!(files.is_built());
        assert_eq!(built.load(Ordering::SeqCst), 1, "built once, then shared");
    }
}
