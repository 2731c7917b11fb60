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
    let echoed = "InvalidClientTokenId: the token t0k3n is invalid (secret s3cr3t)".to_owned();
    assert_eq!(
        redact(echoed, &["s3cr3t".into(), "t0k3n".into()]),
        "InvalidClientTokenId: the token <redacted> is invalid (secret <redacted>)"
    );
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

/// Against a moto server (`moto_server -H 127.0.0.1 -p PORT`) whose URL is
/// in `SLUICE_TEST_MOTO_URL`: a bucket notifying a queue, objects put, their
/// keys received and the messages deleted.
#[test]
#[ignore = "needs a moto server: SLUICE_TEST_MOTO_URL=http://127.0.0.1:PORT"]
fn notifications_from_moto_announce_the_objects_put() {
    let moto = std::env::var("SLUICE_TEST_MOTO_URL").expect("SLUICE_TEST_MOTO_URL");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let bucket = format!("sluice-notify-{unique}");
    let keys = options(&[("access_key_id", "testing"), ("secret_access_key", "testing"), ("region", "us-east-1")]);
    let queue = runtime.block_on(moto::queue_notified_by(&moto, &bucket, &unique, &keys));
    let notifications = start(queue.clone(), bucket.clone(), "in".into()).unwrap();
    for key in ["in/my%20file.json", "out/x.json", "in/deeper/b+c.json"] {
        runtime.block_on(moto::put(&moto, &bucket, key));
    }
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.len() < 2 && Instant::now() < deadline {
        received.extend(notifications.keys.recv_timeout(Duration::from_millis(100)).ok());
    }
    received.sort();
    assert_eq!(received, ["in/deeper/b+c.json", "in/my file.json"]);
    runtime.block_on(moto::drained(&queue));
}

mod moto {
    use super::*;

    /// Creates `bucket` and a queue, and makes the bucket notify the queue of
    /// every object created.
    pub async fn queue_notified_by(moto: &str, bucket: &str, unique: &str, keys: &[(String, String)]) -> Queue {
        let http = reqwest::Client::new();
        http.put(format!("{moto}/{bucket}")).send().await.unwrap().error_for_status().unwrap();
        let client = Queue::new(moto, keys).client(moto.to_owned()).await;
        let created = client.create_queue().queue_name(format!("sluice-notify-{unique}")).send().await.unwrap();
        let url = created.queue_url().unwrap().to_owned();
        let attributes = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = &attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn];
        let configuration = format!(
            "<NotificationConfiguration><QueueConfiguration><Id>sluice</Id><Queue>{arn}</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"
        );
        http.put(format!("{moto}/{bucket}?notification"))
            .body(configuration)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        Queue::new(&url, keys)
    }

    /// Puts an object under `key`, given URL-encoded.
    pub async fn put(moto: &str, bucket: &str, key: &str) {
        let http = reqwest::Client::new();
        http.put(format!("{moto}/{bucket}/{key}")).body("{}\n").send().await.unwrap().error_for_status().unwrap();
    }

    /// Waits until `queue` holds no message, visible or in flight.
    pub async fn drained(queue: &Queue) {
        use aws_sdk_sqs::types::QueueAttributeName::{
            ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
        };
        let client = queue.client(queue.origin().unwrap()).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let request = client
                .get_queue_attributes()
                .queue_url(&queue.url)
                .attribute_names(ApproximateNumberOfMessages)
                .attribute_names(ApproximateNumberOfMessagesNotVisible);
            let attributes = request.send().await.unwrap();
            let counts = attributes.attributes().unwrap();
            if counts[&ApproximateNumberOfMessages] == "0" && counts[&ApproximateNumberOfMessagesNotVisible] == "0" {
                return;
            }
            assert!(Instant::now() < deadline, "messages left on the queue: {counts:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
