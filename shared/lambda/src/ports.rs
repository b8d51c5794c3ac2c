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
    /// that after the upload). Outputs: rendered files and generation requests. The others
    /// read and write records only.
    pub const fn of_group(group: Group) -> Needs {
        match group {
            Group::Transcripts => Needs {
                files: true,
                queue: false,
            },
            Group::Outputs => Needs {
                files: true,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transcripts_and_outputs_need_files_and_only_outputs_the_queue() {
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
}
