//! A landing zone in object storage, as `--landing-zone URL` names it
//! ([`StoreConfig`]): its URL, the `--storage-option` pairs, and how it is
//! discovered (`--list-ms`, `--notification-queue`).
//!
//! A zone is an object store when its `--landing-zone` is a URL of one:
//! `s3://` (and `s3a://`, as Spark writes it), `az://`, `adl://`,
//! `azure://`, `abfs://`, `abfss://` and `gs://`. A `file://` URL and a plain
//! path are a local directory. A URL may not carry credentials or a query
//! (they would be shown wherever the zone is named); those come from the
//! cloud's environment or `--storage-option`. Every option value is hidden
//! in messages: only the keys are shown.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::ConfigError;
use crate::cli::RunArgs;

/// Schemes of the object stores a landing zone may be in.
const SCHEMES: [&str; 8] = ["s3", "s3a", "az", "adl", "azure", "abfs", "abfss", "gs"];

/// How often a zone in object storage is listed in full, unless
/// `--rescan-ms` says: it costs a request per thousand objects, and the
/// listing from the cursor (`--list-ms`) finds new objects between.
pub const DEFAULT_RESCAN_MS: u64 = 60_000;

/// How often an object zone lists from its cursor, unless `--list-ms` says.
pub const DEFAULT_LIST_MS: u64 = 1_000;

/// A landing zone in object storage.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The zone's URL, ending in `/`: the bucket (or container) and the prefix.
    pub url: Url,
    /// `--storage-option` pairs, in order, for `object_store`'s builders.
    pub options: Vec<(String, String)>,
    /// How often the zone is listed from its cursor; `None` is never (the
    /// full rescan and the notifications find the objects).
    pub list_every: Option<Duration>,
    /// The SQS queue (its URL) that receives the bucket's S3 event
    /// notifications, if any.
    pub notification_queue: Option<String>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_str())
            .field("options", &keys)
            .field("list_every", &self.list_every)
            .field("notification_queue", &self.notification_queue)
            .finish()
    }
}

impl StoreConfig {
    /// The object-store zone the flags name, if `--landing-zone` is a URL
    /// of one; its settings on a local zone are a mistake.
    pub fn from_args(args: &RunArgs) -> Result<Option<Self>, ConfigError> {
        let zone = args.landing_zone.as_deref().unwrap_or(Path::new(""));
        let Some(url) = parse_zone(zone)? else {
            let flag = [
                ("--storage-option", !args.store.storage_options.is_empty()),
                ("--list-ms", args.store.list_ms.is_some()),
                ("--notification-queue", args.store.notification_queue.is_some()),
            ]
            .into_iter()
            .find_map(|(flag, given)| given.then_some(flag));
            return match flag {
                Some(flag) => Err(ConfigError::NotAStore { flag, zone: zone.to_owned() }),
                None => Ok(None),
            };
        };
        if args.follow_symlinks {
            return Err(ConfigError::OnlyLocal { flag: "--follow-symlinks", zone: zone.to_owned() });
        }
        let list_ms = args.store.list_ms.unwrap_or(DEFAULT_LIST_MS);
        Ok(Some(StoreConfig {
            url,
            options: parse_options(&args.store.storage_options)?,
            list_every: (list_ms > 0).then(|| Duration::from_millis(list_ms)),
            notification_queue: args.store.notification_queue.clone(),
        }))
    }

    /// The zone's name as messages, the checkpoint and the status page show
    /// it: its URL without the trailing `/`.
    pub fn name(&self) -> PathBuf {
        PathBuf::from(self.url.as_str().trim_end_matches('/'))
    }
}

/// What `--landing-zone` names: a local directory (`None`), or an object
/// store's URL, checked.
pub fn parse_zone(zone: &Path) -> Result<Option<Url>, ConfigError> {
    let Some(text) = zone.to_str().filter(|t| t.contains("://")) else { return Ok(None) };
    let bad = |why: &str| ConfigError::ZoneUrl { url: shown_url(text), why: why.to_owned() };
    let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() == "file" {
        return Ok(None);
    }
    if !SCHEMES.contains(&url.scheme()) {
        return Err(bad("not an object store's URL: s3://, s3a://, az://, abfss://, gs://, or a local directory"));
    }
    if !url.password().unwrap_or_default().is_empty() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("credentials and queries do not go in the URL: use --storage-option or the environment"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("names no bucket or container"));
    }
    let mut url = url;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(Some(url))
}

/// The local directory a `file://` URL or a plain path names.
pub fn local_dir(zone: &Path) -> PathBuf {
    match zone.to_str().and_then(|t| Url::parse(t).ok()).filter(|u| u.scheme() == "file") {
        Some(url) => url.to_file_path().unwrap_or_else(|()| zone.to_owned()),
        None => zone.to_owned(),
    }
}

/// `text`, a URL the operator gave, as a message may show it: without a
/// password or a query, which may hold a secret.
fn shown_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) => {
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        Err(_) => text.rsplit('@').next().and_then(|t| t.split('?').next()).unwrap_or_default().to_owned(),
    }
}

/// The `--storage-option KEY=VALUE` pairs, checked for their form; the
/// keys are matched by the store's builder, case-insensitively.
pub fn parse_options(pairs: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_ascii_lowercase(), value.to_owned())),
            _ => Err(ConfigError::NotKeyValue { flag: "--storage-option", value: key_only(pair) }),
        })
        .collect()
}

/// What a malformed pair may show: no value, which may be a secret.
fn key_only(pair: &str) -> String {
    match pair.split_once('=') {
        Some((key, _)) => format!("{key}=…"),
        None if pair.len() > 40 => "(a value without a key; not shown)".to_owned(),
        None => pair.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_urls_are_zones_in_object_storage_and_paths_are_directories() {
        let zone = |text: &str| parse_zone(Path::new(text)).map(|u| u.map(|u| u.to_string()));
        assert_eq!(zone("s3://bucket/in").unwrap().as_deref(), Some("s3://bucket/in/"));
        assert_eq!(zone("s3a://bucket/").unwrap().as_deref(), Some("s3a://bucket/"));
        assert_eq!(zone("gs://bucket").unwrap().as_deref(), Some("gs://bucket/"));
        let abfss = "abfss://c@acct.dfs.core.windows.net/landing/";
        assert_eq!(zone(abfss).unwrap().as_deref(), Some(abfss));
        assert_eq!(zone("/data/landing").unwrap(), None);
        assert_eq!(zone("file:///data/landing").unwrap(), None);
        assert_eq!(local_dir(Path::new("file:///data/landing")), Path::new("/data/landing"));
        assert_eq!(local_dir(Path::new("in")), Path::new("in"));
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_showing_them() {
        let error = parse_zone(Path::new("s3://AKIA:hunter2@bucket/in/")).unwrap_err().to_string();
        assert!(error.contains("credentials and queries do not go in the URL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let error = parse_zone(Path::new("s3://bucket/in/?sig=hunter2")).unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
        let error = parse_zone(Path::new("ftp://host/in")).unwrap_err().to_string();
        assert!(error.contains("not an object store's URL"), "{error}");
    }

    #[test]
    fn option_values_are_never_shown() {
        let options = parse_options(&["Endpoint=http://127.0.0.1:9000".into()]).unwrap();
        assert_eq!(options, [("endpoint".to_owned(), "http://127.0.0.1:9000".to_owned())]);
        let error = parse_options(&["=hunter2".into()]).unwrap_err().to_string();
        assert!(!error.contains("hunter2"), "{error}");
        let config = StoreConfig {
            url: Url::parse("s3://b/p/").unwrap(),
            options: vec![("secret_access_key".into(), "hunter2".into())],
            list_every: None,
            notification_queue: None,
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
