//! The progress bar: drawn when stderr is a terminal (a pseudo-terminal
//! here) and a backlog waits, never when stderr is a pipe or a file.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use sluice_tests::{Broker, Host, HostArgs, Process, TestDirs, poll_until, sluice_bin, topic_name, transform};

const WITHIN: Duration = Duration::from_secs(30);
/// Text only the bar's template writes.
const BAR_MARK: &str = " files, ETA ";
/// Files waiting at start: a backlog (the host's threshold is 8).
const FILES: usize = 10;

/// Ten files waiting, which stay in progress: with a settle time beyond the
/// test and no writer's close seen, none completes.
fn backlog(name: &str) -> (TestDirs, Broker, HostArgs) {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name(name);
    broker.create_topic(&topic, 1);
    for i in 0..FILES {
        std::fs::write(dirs.landing().join(format!("f{i}.json")), format!("{{\"n\":{i}}}\n")).unwrap();
    }
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap).flags(&["--settle-ms", "600000"]);
    (dirs, broker, args)
}

/// A pseudo-terminal of 120 columns: the controller and the terminal's path.
fn pty() -> (OwnedFd, String) {
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&controller).expect("grantpt");
    unlockpt(&controller).expect("unlockpt");
    let size = rustix::termios::Winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    let name = ptsname(&controller, Vec::new()).expect("ptsname").into_string().unwrap();
    let terminal = File::options().read(true).write(true).open(&name).expect("open the terminal");
    rustix::termios::tcsetwinsize(&terminal, size).expect("set the window size");
    (controller, name)
}

#[test]
fn a_backlog_shows_a_bar_on_a_terminal() {
    let (dirs, _broker, args) = backlog("bar-tty");
    let mut cmd = Command::new(sluice_bin());
    cmd.args(args.argv());
    let (mut host, seen, reader) = on_terminal(cmd);
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    poll_until(WITHIN, "the bar is drawn", || text().contains(&format!("0/{FILES}{BAR_MARK}")).then_some(()));
    assert!(text().contains("streaming"), "log lines reach the terminal too: {}", text());
    host.signal(libc::SIGTERM);
    let status = poll_until(WITHIN, "sluice exits", || host.try_wait());
    assert!(status.success(), "{}", text());
    reader.join().unwrap();
    let all = text();
    // Every log line starts on a line of its own, never inside the bar's.
    for line in all.split(['\n', '\r']).filter(|l| l.contains("INFO")) {
        assert!(!line.contains(BAR_MARK), "a log line shares a line with the bar: {line:?}");
    }
    drop(dirs);
}
/// Runs `cmd` with stderr on a pseudo-terminal: the process, and what the
/// terminal showed so far (read until the process exits).
fn on_terminal(mut cmd: Command) -> (Process, Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let (controller, terminal) = pty();
    let stderr = File::options().write(true).open(&terminal).unwrap();
    cmd.env("SLUICE_LOG", "info").stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
    let host = Process::spawn(cmd);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        let mut controller = File::from(controller);
        // Ends with EIO once the host, the terminal's last user, exits.
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = controller.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    (host, seen, reader)
}

#[test]
fn each_pipeline_of_a_config_file_shows_its_own_bar() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let mut text = format!(
        "[defaults]\nbootstrap_servers = \"{}\"\ntransform = \"{}\"\nsettle_ms = 600000\n",
        broker.bootstrap,
        transform("sql").display()
    );
    for name in ["bar-one", "bar-two"] {
        let topic = topic_name(name);
        broker.create_topic(&topic, 1);
        let landing = dirs.root().join(format!("in-{name}"));
        std::fs::create_dir_all(&landing).unwrap();
        for i in 0..FILES {
            std::fs::write(landing.join(format!("f{i}.json")), format!("{{\"n\":{i}}}\n")).unwrap();
        }
        let checkpoint = dirs.root().join(format!("ck-{name}"));
        text += &format!(
            "\n[[pipeline]]\nname = \"{name}\"\nlanding_zone = \"{}\"\ntopic = \"{topic}\"\ncheckpoint_dir = \"{}\"\n",
            landing.display(),
            checkpoint.display()
        );
    }
    let config = dirs.root().join("sluice.toml");
    std::fs::write(&config, text).unwrap();
    let mut cmd = Command::new(sluice_bin());
    cmd.arg("run").arg("--config").arg(&config);
    let (mut host, seen, reader) = on_terminal(cmd);
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    poll_until(WITHIN, "a bar for each pipeline", || {
        let text = text();
        let bars = ["bar-one", "bar-two"].map(|name| text.contains(&format!("{name} [")));
        (bars == [true, true] && text.contains(&format!("0/{FILES}{BAR_MARK}"))).then_some(())
    });
    host.signal(libc::SIGTERM);
    let status = poll_until(WITHIN, "sluice exits", || host.try_wait());
    assert!(status.success(), "{}", text());
    reader.join().unwrap();
    drop(dirs);
}

#[test]
fn a_pipe_gets_no_bar() {
    let (dirs, broker, args) = backlog("bar-pipe");
    let topic = args.argv()[args.argv().iter().position(|a| a == "--topic").unwrap() + 1].clone();
    let mut host = Host::start(&args.log_level("debug"), dirs.root());
    host.wait_for_log("streaming", WITHIN);
    sluice_tests::wait_for_count(&broker.bootstrap, &topic, 0, FILES, WITHIN);
    // Two rescans, seconds apart: long past the backlog reports a bar reads.
    poll_until(WITHIN, "a second rescan", || {
        (host.log().matches("rescanned the landing zone").count() >= 2).then_some(())
    });
    let log = host.log();
    assert!(host.stop().success());
    assert!(!log.contains(BAR_MARK), "{log}");
    assert!(!log.contains('\x1b'), "no terminal control sequences on a pipe: {log:?}");
}
