//! What an object store's error may not show: the values of the zone's
//! `--storage-option` pairs (but its endpoint and region, which locate it)
//! and of the clouds' secret variables, and any SAS signature (`sig=…`) in
//! a URL, which the HTTP client's messages quote. [`Scrub::error`] turns a
//! store's error into an [`io::Error`] of its kind with them replaced.

use std::io;
use std::sync::Arc;

/// The environment variables whose values are secrets.
const SECRET_VARS: [&str; 8] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

/// Secrets shorter than this are not looked for (`true`, `1`).
const MIN_LEN: usize = 6;

/// The secrets one zone's messages are scrubbed of.
#[derive(Clone, Default)]
pub struct Scrub(Arc<Vec<String>>);

impl std::fmt::Debug for Scrub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrub({} values)", self.0.len())
    }
}

impl Scrub {
    /// The secrets of `options` and of the process's environment.
    pub fn new(options: &[(String, String)]) -> Self {
        let shown = |key: &str| key.contains("endpoint") || key.contains("region") || key.ends_with("_url");
        let from_options = options.iter().filter(|(k, _)| !shown(k)).map(|(_, v)| v.clone());
        let from_env = SECRET_VARS.iter().filter_map(|var| std::env::var(var).ok());
        let mut secrets: Vec<String> = from_options.chain(from_env).filter(|v| v.len() >= MIN_LEN).collect();
        // The longest first, so that a secret holding another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Scrub(Arc::new(secrets))
    }

    /// `text` with every secret and SAS signature replaced.
    pub fn text(&self, text: &str) -> String {
        let mut text = self.0.iter().fold(text.to_owned(), |text, secret| text.replace(secret.as_str(), "[redacted]"));
        let mut from = 0;
        while let Some(at) = text[from..].find("sig=").map(|i| from + i + 4) {
            let end = text[at..].find(['&', ' ', ')', '"', '\'', '>']).map_or(text.len(), |i| at + i);
            text.replace_range(at..end, "[redacted]");
            from = at;
        }
        text
    }

    /// A store's `error` as an [`io::Error`] of its kind, scrubbed.
    pub fn error(&self, error: object_store::Error) -> io::Error {
        use object_store::Error as E;
        let kind = match &error {
            E::NotFound { .. } => io::ErrorKind::NotFound,
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self.text(&error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_and_signatures_are_scrubbed_but_the_endpoint_stays() {
        let options = [
            ("endpoint".to_owned(), "http://127.0.0.1:9000".to_owned()),
            ("secret_access_key".to_owned(), "hunter2hunter2".to_owned()),
        ];
        let scrub = Scrub::new(&options);
        let text = "error sending request for url (http://127.0.0.1:9000/c?sig=abc%2Fdef&sp=r): key hunter2hunter2";
        assert_eq!(
            scrub.text(text),
            "error sending request for url (http://127.0.0.1:9000/c?sig=[redacted]&sp=r): key [redacted]"
        );
    }
}
