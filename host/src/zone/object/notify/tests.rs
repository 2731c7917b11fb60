use super::*;

fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn the_zones_options_name_the_keys_in_either_spelling() {
    let queue = Queue::new(
        "https://sqs.eu-west-1.amazonaws.com/1/q",
        &options(&[
            ("aws_region", "eu-west-1"),
            ("access_key_id", "AKIA1"),
            ("aws_secret_access_key", "s3cr3t"),
            ("token", "t0k3n"),
            ("endpoint", "http://s3.local"),
        ]),
    );
    assert_eq!(queue.url, "https://sqs.eu-west-1.amazonaws.com/1/q");
    assert_eq!(queue.region.as_deref(), Some("eu-west-1"));
    assert_eq!(queue.access_key_id.as_deref(), Some("AKIA1"));
    assert_eq!(queue.secret_access_key.as_deref(), Some("s3cr3t"));
    assert_eq!(queue.session_token.as_deref(), Some("t0k3n"));
}

#[test]
fn debug_shows_no_secret() {
    let queue = Queue::new(
        "http://127.0.0.1:1/1/q",
        &options(&[("secret_access_key", "s3cr3t"), ("session_token", "t0k3n"), ("access_key_id", "AKIA1")]),
    );
    let shown = format!("{queue:?}");
    assert!(!shown.contains("s3cr3t") && !shown.contains("t0k3n"), "{shown}");
    assert!(shown.contains("AKIA1") && shown.contains("<redacted>"), "{shown}");
}

#[test]
fn the_region_is_read_from_an_aws_queue_url() {
    assert_eq!(region_of("https://sqs.ap-southeast-2.amazonaws.com").as_deref(), Some("ap-southeast-2"));
    assert_eq!(region_of("https://sqs.cn-north-1.amazonaws.com.cn").as_deref(), Some("cn-north-1"));
    assert_eq!(region_of("http://127.0.0.1:5000"), None);
    assert_eq!(region_of("https://queue.amazonaws.com"), None);
}

#[test]
fn errors_show_each_cause_once_and_no_secret() {
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|layer| layer as _)
        }
    }
    let refused = Layer("tcp connect error", Some(Box::new(Layer("Connection refused (os error 111)", None))));
    let error =
        Layer("dispatch failure", Some(Box::new(Layer("io error: tcp connect error", Some(Box::new(refused))))));
    assert_eq!(causes(&error), "dispatch failure: io error: tcp connect error: Connection refused (os error 111)");
    let echoed = "InvalidClientTokenId: the token t0k3n-t0k3n is invalid (secret s3cr3t-k3y)";
    let queue = Queue::new(
        "http://127.0.0.1:1/1/q",
        &options(&[("secret_access_key", "s3cr3t-k3y"), ("session_token", "t0k3n-t0k3n")]),
    );
    assert_eq!(queue.scrub.text(echoed), "InvalidClientTokenId: the token [redacted] is invalid (secret [redacted])");
}

#[test]
fn a_url_that_is_no_queue_is_refused_at_start() {
    let keys = options(&[("access_key_id", "a"), ("secret_access_key", "s3cr3t")]);
    for url in ["sqs://q", "not a url", "file:///tmp/q"] {
        let error = start(Queue::new(url, &keys), "b".into(), String::new()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            error.to_string(),
            format!("--notification-queue {url:?} is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)")
        );
    }
}

#[test]
fn a_missing_queue_is_retried_and_a_drop_stops_the_thread() {
    // Nothing listens on port 9 of this host: every receive fails, and is retried.
    let keys = options(&[("access_key_id", "a"), ("secret_access_key", "s3cr3t")]);
    let notifications = start(Queue::new("http://127.0.0.1:9/1/q", &keys), "b".into(), String::new()).unwrap();
    assert!(notifications.keys.recv_timeout(Duration::from_millis(300)).is_err());
    let keys = notifications.keys.clone();
    drop(notifications);
    let deadline = Instant::now() + Duration::from_secs(5);
    while keys.recv_timeout(Duration::from_millis(50)) != Err(crossbeam_channel::RecvTimeoutError::Disconnected) {
        assert!(Instant::now() < deadline, "the receiving thread is still running");
    }
}
