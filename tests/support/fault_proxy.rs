//! The fault-injecting proxy (`scripts/fault_proxy.py`) between gwsync's SDK clients and moto:
//! a seeded share of calls is throttled, answered 500 or 503, delayed 2 s, or has its
//! connection dropped before or after it reached moto; and calls of chosen actions can be
//! refused outright (a 400, as AWS rejects a request). Started on a free loopback port; its
//! rate and refusals can be changed while it runs, and it counts what it did.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct FaultProxy {
    child: Child,
    port: u16,
}

impl FaultProxy {
    /// A proxy to `target` (moto's endpoint) that faults `rate` of the calls, drawn with
    /// `seed`.
    pub fn start(target: &str, rate: f64, seed: u64) -> FaultProxy {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fault_proxy.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--target", target])
            .args(["--rate", &rate.to_string()])
            .args(["--seed", &seed.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/fault_proxy.py with python3");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("the proxy's stdout"))
            .read_line(&mut first)
            .expect("the proxy says where it listens");
        let port = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the proxy: {first:?}"));
        FaultProxy { child, port }
    }

    /// The endpoint to give gwsync instead of moto's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Faults `rate` of the calls from now on.
    pub fn set_rate(&self, rate: f64) {
        self.control("POST", &format!("/__faults?rate={rate}"));
    }

    /// Answers every call of `actions` (e.g. `CreateTargetGroup`) with a 400
    /// `ValidationError` from now on, as AWS does a request it rejects; none: forward them.
    pub fn refuse(&self, actions: &[&str]) {
        self.control("POST", &format!("/__faults?refuse={}", actions.join(",")));
    }

    /// Answers every DescribeTags call that names more than one kind of resource with a 400
    /// `ValidationError` from now on (`on`), as an AWS that took one kind a call would.
    pub fn refuse_mixed_tags(&self, on: bool) {
        self.control(
            "POST",
            &format!("/__faults?refuse_mixed_tags={}", u8::from(on)),
        );
    }

    /// What the proxy did: `requests`, `forwarded`, `refused_mixed_tags`, and one count per
    /// fault.
    pub fn counts(&self) -> serde_json::Value {
        serde_json::from_str(&self.control("GET", "/__faults")).expect("the proxy's counts")
    }

    fn control(&self, method: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("reach the proxy");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
