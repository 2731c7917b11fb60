//! A loopback HTTP proxy that throttles: it forwards requests to a real
//! server (an [`crate::ObjectServer`]) but answers every `n`-th with S3's
//! `503 SlowDown`, so a test sees the host retry throttling against a store
//! that stays real. One request per connection (`Connection: close` both
//! ways), the Host header forwarded as is, so S3 signatures still match.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

/// S3's answer to a request it throttles.
const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
     <Message>Please reduce your request rate.</Message><RequestId>sluice-test</RequestId></Error>";

/// A running throttling proxy; stopped on drop.
#[derive(Debug)]
pub struct ThrottleProxy {
    port: u16,
    counts: Arc<Counts>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    throttled: AtomicU64,
    stopping: AtomicBool,
}

impl ThrottleProxy {
    /// Forwards loopback requests to `upstream_port`, answering every
    /// `every`-th one (1-based) with `503 SlowDown`.
    pub fn start(upstream_port: u16, every: u64) -> ThrottleProxy {
        assert!(every >= 2, "throttling every request would never get through");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let accept = std::thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let counts = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(client, upstream_port, every, &counts);
                });
            }
        });
        ThrottleProxy { port, counts, accept: Some(accept) }
    }

    /// Its base URL, to give the host as the store's `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests it has seen.
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::SeqCst)
    }

    /// Requests it answered with 503 SlowDown.
    pub fn throttled(&self) -> u64 {
        self.counts.throttled.load(Ordering::SeqCst)
    }
}

impl Drop for ThrottleProxy {
    fn drop(&mut self) {
        self.counts.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees it is stopping.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Answers one request on `client`: throttled, or forwarded.
fn serve(client: TcpStream, upstream_port: u16, every: u64, counts: &Counts) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let (head, body) = read_message(&mut reader)?;
    let mut client = client;
    let n = counts.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if n.is_multiple_of(every) {
        counts.throttled.fetch_add(1, Ordering::SeqCst);
        let answer = format!(
            "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SLOW_DOWN}",
            SLOW_DOWN.len()
        );
        return client.write_all(answer.as_bytes());
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
    upstream.write_all(&closing(&head))?;
    upstream.write_all(&body)?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |p| p + 4);
    client.write_all(&closing(&String::from_utf8_lossy(&answer[..split])))?;
    client.write_all(&answer[split..])
}

/// A request's head (through the blank line) and its body (by Content-Length).
fn read_message(reader: &mut impl BufRead) -> std::io::Result<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let before = head.len();
        if reader.read_line(&mut head)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if head[before..] == *"\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((head, body))
}

/// `head` with its Connection header replaced by `Connection: close`.
fn closing(head: &str) -> Vec<u8> {
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.split_once(':').is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection")))
        .collect();
    lines.push("Connection: close");
    format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
}
