//! The flags of a landing zone in object storage ([`StoreArgs`]), flattened
//! into `sluice run`'s.

use clap::Args;

/// Where a landing zone in object storage is reached, and how it is watched.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// A setting of the object store (`object_store`'s keys: `endpoint`,
    /// `region`, `access_key_id`, `secret_access_key`, `allow_http`, …),
    /// over the cloud's environment (`AWS_*`, `AZURE_STORAGE_*`, `GOOGLE_*`).
    #[arg(
        long = "storage-option",
        visible_alias = "storage-options",
        value_name = "KEY=VALUE",
        help_heading = "Input"
    )]
    pub storage_options: Vec<String>,

    /// How often a landing zone in object storage is listed from the last
    /// key seen, for new objects [default: 1000; 0: never, leaving the
    /// notifications and the full rescan].
    #[arg(long, value_name = "MS", help_heading = "Input")]
    pub list_ms: Option<u64>,

    /// An SQS queue URL receiving the bucket's S3 event notifications
    /// (`s3:ObjectCreated:*`): new objects are read as they are announced,
    /// with the listing as the backstop.
    #[arg(long, value_name = "URL", help_heading = "Input")]
    pub notification_queue: Option<String>,
}
