//! The object-store test servers themselves (tests/util/objstore.rs): each
//! starts, takes a bucket, round-trips an object, keeps or loses its data
//! across a restart as documented, and is gone once its guard drops; the
//! throttling proxy answers its share with 503 SlowDown.

use std::time::Duration;

use sluice_tests::{Kind, ObjectServer, TestDirs, ThrottleProxy};

/// Whether process `pid` still exists (a reaped child does not).
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

fn round_trip(kind: Kind) {
    let dirs = TestDirs::new();
    let server = ObjectServer::start(kind, &dirs.root().join("store"));
    server.create_bucket("landing");
    server.put("landing", "in/a.json", b"{\"a\":1}\n".to_vec());
    server.put("landing", "in/b.json", b"{\"b\":2}\n".to_vec());
    server.put("landing", "other/c.json", b"{}\n".to_vec());
    assert_eq!(server.list("landing", "in"), ["in/a.json", "in/b.json"]);
    assert_eq!(server.get("landing", "in/a.json").as_deref(), Some(&b"{\"a\":1}\n"[..]));
    server.delete("landing", "in/a.json");
    assert_eq!(server.get("landing", "in/a.json"), None);
    server.wait_for_keys("landing", "in", &["in/b.json"], Duration::from_secs(5));
    let pid = server.pid();
    assert!(alive(pid));
    drop(server);
    assert!(!alive(pid), "the {kind:?} server {pid} outlived its guard");
}

#[test]
fn moto_round_trips_an_object_and_stops_on_drop() {
    round_trip(Kind::Moto);
}

#[test]
fn seaweedfs_round_trips_an_object_and_stops_on_drop() {
    round_trip(Kind::Seaweed);
}

#[test]
fn azurite_round_trips_an_object_and_stops_on_drop() {
    round_trip(Kind::Azurite);
}

#[test]
fn seaweedfs_keeps_its_objects_across_a_restart_on_the_same_port() {
    let dirs = TestDirs::new();
    let mut server = ObjectServer::start(Kind::Seaweed, &dirs.root().join("store"));
    server.create_bucket("landing");
    server.put("landing", "in/a.json", b"kept\n".to_vec());
    let endpoint = server.endpoint();
    server.stop();
    server.start_again();
    assert_eq!(server.endpoint(), endpoint);
    assert_eq!(server.get("landing", "in/a.json").as_deref(), Some(&b"kept\n"[..]));
}

#[test]
fn moto_sends_a_buckets_object_created_events_to_an_sqs_queue() {
    let dirs = TestDirs::new();
    let server = ObjectServer::start(Kind::Moto, &dirs.root().join("store"));
    server.create_bucket("landing");
    let queue = server.notify_to_queue("landing", "landing-events");
    assert_eq!(queue, format!("{}/123456789012/landing-events", server.endpoint()));
    server.put("landing", "in/a.json", b"{}\n".to_vec());
    let answer = server.receive(&queue);
    // As on AWS: a test event first, and the key URL-encoded in the record.
    assert!(answer.contains("s3:TestEvent"), "{answer}");
    assert!(answer.contains("ObjectCreated:Put") && answer.contains(r#""key": "in%2Fa.json""#), "{answer}");
}

#[test]
fn the_throttling_proxy_answers_every_nth_request_with_slow_down() {
    let dirs = TestDirs::new();
    let server = ObjectServer::start(Kind::Moto, &dirs.root().join("store"));
    server.create_bucket("landing");
    server.put("landing", "a.json", b"{}\n".to_vec());
    let proxy = ThrottleProxy::start(server.port(), 2);
    let url = format!("{}/landing/a.json", proxy.endpoint());
    let answers: Vec<u16> = (0..4)
        .map(|_| match ureq::get(&url).call() {
            Ok(response) => response.status().as_u16(),
            Err(ureq::Error::StatusCode(code)) => code,
            Err(e) => panic!("{e}"),
        })
        .collect();
    // moto refuses an unsigned GET: 403 is the server's own answer, passed on.
    assert_eq!(answers, [403, 503, 403, 503]);
    assert_eq!((proxy.requests(), proxy.throttled()), (4, 2));
}
