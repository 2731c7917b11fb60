//! Who may read what from `--metrics-addr`, and the headers every answer
//! carries.
//!
//! - The `Host` header of the status page and `/status.json` must name this
//!   machine: an IP literal, `localhost`, or the machine's host name. A web
//!   page elsewhere that rebinds its own DNS name to 127.0.0.1 (DNS
//!   rebinding) sends its own name, and is refused with 421. The port is not
//!   compared, so a forwarded port (`kubectl port-forward`) still works.
//! - With `--metrics-token-file`, `/metrics`, `/health/ready` and
//!   `/status.json` need `Authorization: Bearer <token>` (what Prometheus'
//!   `authorization` setting sends); `/health/live` and the page's static
//!   files carry no data and stay open. The token is kept as its SHA-256
//!   and compared in constant time; it is never logged.
//! - Every answer says `nosniff`, `no-store` and a strict
//!   `Content-Security-Policy` (scripts and styles from this server only).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The page's policy: nothing but this server's own script, style and data.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Why `--metrics-token-file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read.
    #[error("cannot read --metrics-token-file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
    /// The file holds no token.
    #[error("--metrics-token-file {} is empty: write the bearer token in it", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// The bearer token clients must present, kept only as its SHA-256.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl Token {
    /// Reads the token from `path`: its text without surrounding whitespace.
    pub fn read(path: &Path) -> Result<Token, TokenError> {
        let text =
            std::fs::read_to_string(path).map_err(|reason| TokenError::Read { path: path.to_owned(), reason })?;
        match text.trim() {
            "" => Err(TokenError::Empty { path: path.to_owned() }),
            token => Ok(Token::new(token)),
        }
    }

    fn new(token: &str) -> Token {
        Token { digest: Sha256::digest(token.as_bytes()).into() }
    }

    /// Whether `presented` is the token, in time independent of where they differ.
    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.iter().zip(&self.digest).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// What the server lets through.
#[derive(Debug, Clone)]
pub(super) struct Access {
    /// Host names, besides IP literals and `localhost`, that name this machine.
    names: Vec<String>,
    token: Option<Token>,
}

impl Access {
    pub(super) fn new(token: Option<Token>) -> Arc<Access> {
        let hostname = rustix::system::uname().nodename().to_string_lossy().to_ascii_lowercase();
        Arc::new(Access { names: vec![hostname], token })
    }

    /// Whether a `Host` header names this machine.
    fn host_allowed(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(v6) => return v6.split_once(']').is_some_and(|(ip, _)| ip.parse::<IpAddr>().is_ok()),
            None => host.rsplit_once(':').map_or(host, |(name, _)| name).to_ascii_lowercase(),
        };
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.names.contains(&name)
    }

    /// Whether the request carries the token, or none is required.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
            let (scheme, credentials) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
        });
        presented.is_some_and(|p| token.matches(p))
    }
}

/// Refuses a request whose `Host` does not name this machine.
pub(super) async fn check_host(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    match access.host_allowed(host) {
        true => next.run(request).await,
        false => {
            (StatusCode::MISDIRECTED_REQUEST, "this server answers for its own address, localhost or its host name\n")
                .into_response()
        }
    }
}

/// Refuses a request without the bearer token, when one is configured.
pub(super) async fn check_token(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    match access.authorized(request.headers()) {
        true => next.run(request).await,
        false => {
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer realm=\"sluice\"")];
            (StatusCode::UNAUTHORIZED, challenge, "a bearer token is required\n").into_response()
        }
    }
}

/// Adds the headers every answer carries.
pub(super) async fn headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(token: Option<&str>) -> Access {
        Access { names: vec!["sluice-1".into()], token: token.map(Token::new) }
    }

    #[test]
    fn only_hosts_that_name_this_machine_are_allowed() {
        let access = access(None);
        for host in ["127.0.0.1:9100", "localhost:9100", "LOCALHOST", "[::1]:9100", "10.1.2.3:80", "sluice-1:9100"] {
            assert!(access.host_allowed(host), "{host}");
        }
        for host in ["evil.example", "evil.example:9100", "", "127.0.0.1.evil.example:9100", "[evil]:1"] {
            assert!(!access.host_allowed(host), "{host}");
        }
    }

    #[test]
    fn the_token_is_required_when_set() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(access(None).authorized(&HeaderMap::new()));
        let access = access(Some("s3cret"));
        assert!(!access.authorized(&HeaderMap::new()));
        assert!(access.authorized(&with("Bearer s3cret")));
        assert!(access.authorized(&with("bearer s3cret")));
        assert!(!access.authorized(&with("Bearer s3cre")));
        assert!(!access.authorized(&with("Basic s3cret")));
        assert_eq!(format!("{:?}", access.token), "Some(Token([redacted]))");
    }

    #[test]
    fn the_token_file_is_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert!(Token::read(&path).unwrap().matches("s3cret"));
        std::fs::write(&path, " \n").unwrap();
        let err = Token::read(&path).unwrap_err().to_string();
        assert!(err.starts_with("--metrics-token-file ") && err.ends_with("is empty: write the bearer token in it"));
    }
}
