//! S3 event notifications from an SQS queue (`--notification-queue`), as
//! Auto Loader's file-notification mode takes them: a thread of its own
//! long-polls the queue (`ReceiveMessage`, up to ten messages, waiting a
//! second at most so that a drop stops it promptly), reads each body as an
//! S3 event ([`event`]), sends the keys of the objects created in the
//! zone's bucket below its prefix on [`Notifications::keys`], and only then
//! deletes the messages (`DeleteMessageBatch`). The zone's listing is the
//! backstop: a notification lost costs latency, never an object.
//!
//! The queue is reached at its URL's origin (`https://sqs.REGION.
//! amazonaws.com`, or a local server's `http://127.0.0.1:PORT`) with the
//! official `aws-sdk-sqs` client, signed with the keys the zone's
//! `--storage-option`s give (`access_key_id`, `secret_access_key`,
//! `session_token`, also with object_store's `aws_` spellings), else with
//! those of AWS's standard chain (`aws-config`: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_PROFILE`, web
//! identity, container and instance credentials). The region is the
//! `region` option, else the one in an AWS queue URL's host, else the
//! chain's (`AWS_REGION`, the profile's), else `us-east-1`.
//!
//! Hostile or broken input never stops the thread: a message that is not
//! an S3 event is deleted and its kind logged once a minute at most
//! (never its body); a failed receive (queue missing, keys refused,
//! network) is logged with the queue URL and retried after 1 s, doubling to
//! 30 s. The secret key and the session token appear in no log, error or
//! `Debug` output.

pub mod event;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use aws_smithy_http_client::tls;
use crossbeam_channel::{Receiver, Sender};
use futures_util::future::select;
use tokio::sync::oneshot;

use super::scrub::Scrub;
use event::Malformed;

/// Keys waiting for the zone's watcher: a receive brings ten messages at
/// most, each a few records; when the watcher falls this far behind, the
/// receiver waits (and deletes nothing) rather than hold more.
const KEYS_CAPACITY: usize = 1024;

/// How long one `ReceiveMessage` waits for a message: short, so that a
/// dropped [`Notifications`] stops the thread within about a second.
const WAIT_SECONDS: i32 = 1;

/// The pause after the first failed receive; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_secs(1);

/// The longest pause between failed receives.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How often at most one kind of malformed message is logged.
const MALFORMED_EVERY: Duration = Duration::from_secs(60);

/// Why the queue cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The URL is not an http(s) URL with a host.
    #[error("--notification-queue {url:?} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)")]
    Url { url: String },
}

/// Where the notifications come from.
#[derive(Clone)]
pub struct Queue {
    /// The queue URL as `--notification-queue` gives it.
    pub url: String,
    /// The region to sign for; else `AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// region in an AWS queue URL's host, `us-east-1`.
    pub region: Option<String>,
    /// The access key; else `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<String>,
    /// The secret key; else `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<String>,
    /// The session token of temporary keys; else `AWS_SESSION_TOKEN`.
    pub session_token: Option<String>,
    /// What the receiver's errors may not show: the zone's own.
    scrub: Scrub,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("Queue")
            .field("url", &self.url)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// The queue at `url`, signed for with the zone's `--storage-option`s
    /// (keys in lower case, as object_store spells them); the zone's
    /// `endpoint` is the bucket's, not the queue's, and is not used.
    pub fn new(url: &str, options: &[(String, String)]) -> Self {
        let option = |names: &[&str]| {
            options
                .iter()
                .rev()
                .find(|(key, _)| names.iter().any(|name| key.eq_ignore_ascii_case(name)))
                .map(|(_, value)| value.clone())
        };
        Queue {
            url: url.to_owned(),
            region: option(&["region", "aws_region"]),
            access_key_id: option(&["access_key_id", "aws_access_key_id"]),
            secret_access_key: option(&["secret_access_key", "aws_secret_access_key"]),
            session_token: option(&["session_token", "token", "aws_session_token"]),
            scrub: Scrub::new(options),
        }
    }

    /// The origin of the queue's URL, where its requests go; an error for
    /// a URL that names no queue (for the configuration to check at start,
    /// as [`start`] does).
    pub fn origin(&self) -> Result<String, NotifyError> {
        let parsed = url::Url::parse(&self.url).map_err(|_| NotifyError::Url { url: self.url.clone() })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(NotifyError::Url { url: self.url.clone() });
        }
        Ok(parsed.origin().ascii_serialization())
    }

    /// The client for this queue at `origin`: signed with the keys given,
    /// else with those of AWS's standard chain (environment, profile, web
    /// identity, container, instance); for the region given, else the
    /// queue URL's, else the chain's, else `us-east-1`.
    async fn client(&self, origin: String) -> Client {
        // The SDK's behaviour (retries, timeouts) pinned, not the latest.
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12()).http_client(https);
        if let Some(region) = self.region.clone().or_else(|| region_of(&origin)) {
            loader = loader.region(Region::new(region));
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            loader =
                loader.credentials_provider(Credentials::new(id, secret, self.session_token.clone(), None, "sluice"));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_sqs::config::Builder::from(&shared).endpoint_url(origin);
        if shared.region().is_none() {
            config = config.region(Region::from_static("us-east-1"));
        }
        Client::from_conf(config.build())
    }
}

/// The region of an AWS queue URL's origin, `https://sqs.REGION.amazonaws.com`.
fn region_of(origin: &str) -> Option<String> {
    let host = origin.split_once("://").map_or(origin, |(_, host)| host);
    let region = host.strip_prefix("sqs.")?.split_once(".amazonaws.")?.0;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

/// `error` and its sources, each once, joined by `: `.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Received notifications: the keys of objects created, until dropped.
#[derive(Debug)]
pub struct Notifications {
    /// The keys of objects created in the bucket below the prefix, in full,
    /// decoded.
    pub keys: Receiver<String>,
    /// Dropped with this: the receiving thread then stops at once.
    _stop: oneshot::Sender<()>,
}

/// Starts receiving `queue`'s S3 event notifications on a thread of its own;
/// the keys of objects created in `bucket` below `prefix` (as object_store
/// shows a prefix: no leading or trailing `/`, empty for the whole bucket)
/// arrive on [`Notifications::keys`]. Dropping it stops the thread.
pub fn start(queue: Queue, bucket: String, prefix: String) -> io::Result<Notifications> {
    let origin = queue.origin().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (tx, keys) = crossbeam_channel::bounded(KEYS_CAPACITY);
    let (stop, stopped) = oneshot::channel();
    std::thread::Builder::new().name("sluice-notify".into()).spawn(move || {
        let receiving = async move {
            let client = queue.client(origin).await;
            let receiver =
                Receiving { client, scrub: queue.scrub, url: queue.url, bucket, prefix, tx, warned: HashMap::new() };
            receiver.run().await;
        };
        runtime.block_on(select(Box::pin(receiving), stopped));
    })?;
    Ok(Notifications { keys, _stop: stop })
}

/// What the receiving thread holds.
struct Receiving {
    client: Client,
    url: String,
    bucket: String,
    prefix: String,
    tx: Sender<String>,
    /// When each kind of malformed message was last logged, and how many
    /// of that kind went unlogged since.
    warned: HashMap<Malformed, (Instant, u64)>,
    /// What errors may not show: the keys, the token, the environment's.
    scrub: Scrub,
}

impl Receiving {
    /// Receives, hands on and deletes until the keys' receiver is gone.
    async fn run(mut self) {
        let mut backoff = BACKOFF_FIRST;
        loop {
            let received = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(WAIT_SECONDS)
                .send()
                .await;
            match received {
                Ok(output) => {
                    backoff = BACKOFF_FIRST;
                    let Some(handled) = self.hand_on(output.messages()) else { return };
                    self.delete(handled).await;
                }
                Err(error) => {
                    let error = self.describe(&error);
                    tracing::warn!(queue = %self.url, %error, retry_in_s = backoff.as_secs(), "cannot receive from the notification queue; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// Sends the keys the messages announce; returns the receipt handles of
    /// the messages handled (malformed ones included), or `None` when the
    /// keys' receiver is gone.
    fn hand_on(&mut self, messages: &[Message]) -> Option<Vec<String>> {
        let mut handled = Vec::with_capacity(messages.len());
        for message in messages {
            match event::created_keys(message.body().unwrap_or_default(), &self.bucket, &self.prefix) {
                Ok(keys) => {
                    for key in keys {
                        self.tx.send(key).ok()?;
                    }
                }
                Err(malformed) => self.malformed(malformed, message.message_id().unwrap_or_default()),
            }
            handled.extend(message.receipt_handle().map(str::to_owned));
        }
        Some(handled)
    }

    /// Logs a malformed message, once a minute at most for each kind.
    fn malformed(&mut self, kind: Malformed, message_id: &str) {
        let now = Instant::now();
        if let Some((last, unlogged)) = self.warned.get_mut(&kind)
            && now.duration_since(*last) < MALFORMED_EVERY
        {
            *unlogged += 1;
            return;
        }
        let unlogged = self.warned.insert(kind, (now, 0)).map_or(0, |(_, unlogged)| unlogged);
        tracing::warn!(queue = %self.url, message_id, more_since_last_logged = unlogged, "{kind}; deleting it");
    }

    /// `error` as text: the service's code and message, else the chain of
    /// causes; any secret it echoes redacted (a session token travels in a
    /// header a hostile endpoint could send back).
    fn describe<E>(&self, error: &SdkError<E, HttpResponse>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let text = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => causes(error),
        };
        self.scrub.text(&text)
    }

    /// Deletes the messages whose receipt handles are `handled`; one that
    /// stays is received again and announces keys already seen, no harm.
    async fn delete(&self, handled: Vec<String>) {
        if handled.is_empty() {
            return;
        }
        let entries = handled.into_iter().enumerate().filter_map(|(i, handle)| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build().ok()
        });
        let deleted =
            self.client.delete_message_batch().queue_url(&self.url).set_entries(Some(entries.collect())).send().await;
        match deleted {
            Ok(output) if output.failed().is_empty() => {}
            Ok(output) => {
                tracing::warn!(queue = %self.url, failed = output.failed().len(), "cannot delete notifications handled; they will be received again")
            }
            Err(error) => {
                tracing::warn!(queue = %self.url, error = %self.describe(&error), "cannot delete notifications handled; they will be received again")
            }
        }
    }
}

#[cfg(test)]
mod tests;
