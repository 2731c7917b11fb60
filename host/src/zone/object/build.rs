//! The `object_store` client of a zone: the cloud's builder, read from its
//! standard environment (`AWS_*`, `AZURE_*`, `GOOGLE_*`), then the URL,
//! then the `--storage-option` pairs, which win. An option the store does
//! not know is refused by its key, never with its value. Every HTTP answer
//! is counted by its outcome (`Counted`), so throttling shows in
//! `/metrics`.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreScheme, RetryConfig};

use crate::config::StoreConfig;
use crate::metrics::StoreRequests;

/// Why a zone's client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An option the store does not know.
    #[error(
        "--storage-option {key}: not a setting of {store} (object_store's keys, e.g. endpoint, region, \
         access_key_id, secret_access_key, session_token, allow_http, virtual_hosted_style_request, \
         account_name, access_key, use_emulator, service_account_path)"
    )]
    UnknownOption {
        /// The key.
        key: String,
        /// The kind of store.
        store: &'static str,
    },
    /// The builder refused its settings.
    #[error("landing zone {zone}: {reason}")]
    Refused {
        /// The zone's URL.
        zone: String,
        /// The builder's reason (it names keys, not their values).
        reason: String,
    },
}

/// Builds a store from `$builder`'s environment, the URL and the options.
macro_rules! build {
    ($builder:ty, $name:literal, $config:expr, $requests:expr) => {{
        let config: &StoreConfig = $config;
        let mut builder = <$builder>::from_env().with_url(config.url.as_str());
        for (key, value) in &config.options {
            let known = key.parse().map_err(|_| BuildError::UnknownOption { key: key.clone(), store: $name })?;
            builder = builder.with_config(known, value);
        }
        let builder = builder.with_retry(RetryConfig::default()).with_http_connector(Counting($requests));
        Arc::new(builder.build().map_err(|e| refused(config, e))?) as Arc<dyn ObjectStore>
    }};
}

/// The store `config` names and the zone's prefix within it; its requests
/// are counted in `requests`.
pub fn store(config: &StoreConfig, requests: StoreRequests) -> Result<(Arc<dyn ObjectStore>, ObjectPath), BuildError> {
    let (scheme, prefix) = ObjectStoreScheme::parse(&config.url).map_err(|e| refused(config, e.into()))?;
    let store = match scheme {
        ObjectStoreScheme::AmazonS3 => build!(AmazonS3Builder, "S3", config, requests),
        ObjectStoreScheme::MicrosoftAzure => build!(MicrosoftAzureBuilder, "Azure Blob Storage", config, requests),
        ObjectStoreScheme::GoogleCloudStorage => {
            build!(GoogleCloudStorageBuilder, "Google Cloud Storage", config, requests)
        }
        _ => return Err(BuildError::Refused { zone: config.url.to_string(), reason: "not an object store".into() }),
    };
    Ok((store, prefix))
}

fn refused(config: &StoreConfig, error: object_store::Error) -> BuildError {
    BuildError::Refused { zone: config.url.to_string(), reason: error.to_string() }
}

/// Makes reqwest clients whose answers are counted.
#[derive(Debug)]
struct Counting(StoreRequests);

impl HttpConnector for Counting {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counted { inner, requests: self.0.clone() }))
    }
}

/// A client that counts each answer: `ok`, `throttled` (429, 503),
/// `server_error` (other 5xx), `client_error` (4xx) or `failed` (none).
#[derive(Debug)]
struct Counted {
    inner: HttpClient,
    requests: StoreRequests,
}

#[async_trait::async_trait]
impl HttpService for Counted {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let answer = self.inner.execute(req).await;
        let outcome = match &answer {
            Ok(response) => match response.status().as_u16() {
                429 | 503 => "throttled",
                500..=599 => "server_error",
                400..=499 => "client_error",
                _ => "ok",
            },
            Err(_) => "failed",
        };
        self.requests.count(outcome);
        answer
    }
}
