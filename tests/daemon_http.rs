//! The daemon's HTTP endpoint, served on 127.0.0.1 and driven with real HTTP/1.1 requests
//! over TCP: health and readiness, metrics (parsed as Prometheus would), status, and the
//! webhook's answers, metrics and triggers.

use gwsync::daemon::http::{
    ConnectionLimits, Health, HttpState, StatusSource, WebhookSettings, serve, trigger_channel,
};
use gwsync::daemon::metrics::Metrics;
use gwsync::daemon::webhook::WebhookAuth;
use hmac::{Hmac, KeyInit, Mac};
use prometheus_parse::{Scrape, Value};
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const SECRET: &str = "s3cret-for-tests";
const PUSH: &[u8] = br#"{"ref":"refs/heads/main","after":"0123456789abcdef"}"#;

/// A served endpoint and the daemon's side of it.
struct Server {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    triggers: mpsc::Receiver<()>,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

fn webhook(per_second: u32, burst: u32) -> WebhookSettings {
    WebhookSettings {
        auth: WebhookAuth::new(SECRET).unwrap(),
        max_body_bytes: 1024,
        per_second,
        burst,
    }
}

fn status_of(result: Result<serde_json::Value, String>) -> StatusSource {
    Arc::new(move || {
        let result = result.clone();
        Box::pin(async move { result })
    })
}

/// Generous limits, for the tests that are not about them.
const ROOMY: ConnectionLimits = ConnectionLimits {
    max_connections: 64,
    header_timeout: Duration::from_secs(10),
    connection_timeout: Duration::from_secs(30),
};

async fn start(webhook: Option<WebhookSettings>, status: StatusSource) -> Server {
    start_limited(webhook, status, ROOMY).await
}

async fn start_limited(
    webhook: Option<WebhookSettings>,
    status: StatusSource,
    limits: ConnectionLimits,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new());
    let (trigger, triggers) = trigger_channel();
    let state = HttpState {
        metrics: metrics.clone(),
        health: health.clone(),
        max_silence: Duration::from_secs(60),
        status,
        webhook,
        trigger,
    };
    let (shutdown, stop) = oneshot::channel::<()>();
    let served = tokio::spawn(serve(listener, state, limits, async move {
        let _ = stop.await;
    }));
    Server {
        addr,
        metrics,
        health,
        triggers,
        shutdown,
        served,
    }
}

async fn start_with_webhook() -> Server {
    start(
        Some(webhook(100, 100)),
        status_of(Ok(serde_json::json!({}))),
    )
    .await
}

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// Sends one HTTP/1.1 request on a new connection and reads the answer until the server
/// closes it.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    send_from(LOCALHOST, addr, method, path, headers, body).await
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A connection from `local` (any 127.0.0.0/8 address is this host's loopback).
async fn connect_from(local: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// [`send`] from the address `local`.
async fn send_from(
    local: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = connect_from(local, addr).await;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // A server may answer (413) and stop reading before the body's end: writing the rest
    // can fail, and the answer is there to read all the same.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after the answer (the server closed with our body unread).
            Err(e) if !raw.is_empty() => {
                eprintln!("connection ended with {e}");
                break;
            }
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, &[], b"").await
}

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_github(addr: SocketAddr, secret: &str, body: &[u8]) -> Reply {
    post_github_from(LOCALHOST, addr, secret, body).await
}

async fn post_github_from(local: IpAddr, addr: SocketAddr, secret: &str, body: &[u8]) -> Reply {
    let signature = github_signature(secret, body);
    let headers = [
        ("X-GitHub-Event", "push"),
        ("Content-Type", "application/json"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    send_from(local, addr, "POST", "/webhook", &headers, body).await
}

async fn post_gitlab(addr: SocketAddr, token: &str) -> Reply {
    let headers = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", token)];
    send(addr, "POST", "/webhook", &headers, PUSH).await
}

/// Fetch requests the loop has been handed since the last call.
fn triggers(server: &mut Server) -> usize {
    let mut n = 0;
    while server.triggers.try_recv().is_ok() {
        n += 1;
    }
    n
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let reply = get(addr, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Scrape::parse(reply.text().lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `metric` whose label `key` is `value`.
fn sample(scrape: &Scrape, metric: &str, key: &str, value: &str) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && s.labels.get(key) == Some(value))
        .unwrap_or_else(|| panic!("no {metric}{{{key}=\"{value}\"}}"));
    match found.value {
        Value::Counter(v) | Value::Gauge(v) => v,
        ref other => panic!("{metric} is {other:?}"),
    }
}

fn webhook_count(server: &Server, result: &str) -> String {
    let wanted = format!("gwsync_webhook_requests_total{{result=\"{result}\"}} ");
    server
        .metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&wanted).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {wanted}"))
}

fn unix_now() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

#[tokio::test]
async fn healthz_follows_the_heartbeat_and_readyz_the_first_good_reconcile() {
    let server = start_with_webhook().await;
    let health = get(server.addr, "/healthz").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));
    let ready = get(server.addr, "/readyz").await;
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (503, "not ready: no successful reconcile yet")
    );

    server.health.set_ready(true);
    assert_eq!(get(server.addr, "/readyz").await.status, 200);

    server.health.beat_at(unix_now() - 600);
    let silent = get(server.addr, "/healthz").await;
    assert_eq!(silent.status, 503);
    assert!(
        silent
            .text()
            .starts_with("unhealthy: the reconcile loop has shown no sign of life for 6"),
        "{}",
        silent.text()
    );
    server.health.beat();
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

#[tokio::test]
async fn metrics_parse_and_a_counter_moves_between_scrapes() {
    let server = start_with_webhook().await;
    server.metrics.set_ready(true);
    let before = scrape(server.addr).await;
    assert_eq!(
        sample(
            &before,
            "gwsync_webhook_requests_total",
            "result",
            "unauthorized"
        ),
        0.0
    );
    let ready = before
        .samples
        .iter()
        .find(|s| s.metric == "gwsync_ready")
        .unwrap();
    assert_eq!(ready.value, Value::Gauge(1.0));

    assert_eq!(post_github(server.addr, "wrong", PUSH).await.status, 401);
    let after = scrape(server.addr).await;
    assert_eq!(
        sample(
            &after,
            "gwsync_webhook_requests_total",
            "result",
            "unauthorized"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "gwsync_webhook_requests_total",
            "result",
            "accepted"
        ),
        0.0
    );
}

#[tokio::test]
async fn a_wrong_github_signature_is_401_and_triggers_nothing() {
    let mut server = start_with_webhook().await;
    let reply = post_github(server.addr, "not the secret", PUSH).await;
    assert_eq!(reply.status, 401);
    assert_eq!(triggers(&mut server), 0);

    let mut tampered = PUSH.to_vec();
    tampered.push(b' ');
    let signature = github_signature(SECRET, PUSH);
    let headers = [("X-Hub-Signature-256", signature.as_str())];
    let reply = send(server.addr, "POST", "/webhook", &headers, &tampered).await;
    assert_eq!(reply.status, 401, "the signature is of another body");

    let unsigned = send(server.addr, "POST", "/webhook", &[], PUSH).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(triggers(&mut server), 0);
    assert_eq!(webhook_count(&server, "unauthorized"), "3");
}

#[tokio::test]
async fn a_right_github_signature_is_202_and_pushes_coalesce_into_one_trigger() {
    let mut server = start_with_webhook().await;
    let reply = post_github(server.addr, SECRET, PUSH).await;
    assert_eq!(reply.status, 202);
    assert_eq!(triggers(&mut server), 1);

    // Two more while no fetch has started: both accepted, one fetch pending.
    assert_eq!(post_github(server.addr, SECRET, PUSH).await.status, 202);
    assert_eq!(post_github(server.addr, SECRET, b"{}").await.status, 202);
    assert_eq!(triggers(&mut server), 1);
    assert_eq!(webhook_count(&server, "accepted"), "3");
}

#[tokio::test]
async fn the_gitlab_token_must_be_the_secret() {
    let mut server = start_with_webhook().await;
    assert_eq!(post_gitlab(server.addr, "guess").await.status, 401);
    assert_eq!(triggers(&mut server), 0);
    assert_eq!(post_gitlab(server.addr, SECRET).await.status, 202);
    assert_eq!(triggers(&mut server), 1);
}

#[tokio::test]
async fn a_body_over_the_cap_is_413_and_triggers_nothing() {
    let mut server = start_with_webhook().await;
    let big = vec![b'x'; 4096];
    let reply = post_github(server.addr, SECRET, &big).await;
    assert_eq!(reply.status, 413);
    assert_eq!(triggers(&mut server), 0);
    assert_eq!(webhook_count(&server, "too_large"), "1");

    let at_cap = vec![b'x'; 1024];
    assert_eq!(post_github(server.addr, SECRET, &at_cap).await.status, 202);
}

/// A flood of unsigned requests is refused (401) without spending the rate: the next genuine
/// push is accepted. Authenticated deliveries over the rate are 429.
#[tokio::test]
async fn unsigned_requests_never_rate_limit_a_genuine_push() {
    let mut server = start(Some(webhook(1, 2)), status_of(Ok(serde_json::json!({})))).await;
    for _ in 0..50 {
        assert_eq!(post_github(server.addr, "wrong", PUSH).await.status, 401);
    }
    assert_eq!(post_github(server.addr, SECRET, PUSH).await.status, 202);
    assert_eq!(triggers(&mut server), 1);
    assert_eq!(post_github(server.addr, SECRET, PUSH).await.status, 202);
    let limited = post_github(server.addr, SECRET, PUSH).await;
    assert_eq!(
        limited.status, 429,
        "the third genuine push in a burst of 2"
    );
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(webhook_count(&server, "rate_limited"), "1");
    assert_eq!(webhook_count(&server, "unauthorized"), "50");
}

/// Each source address has its own budget: one sender over the rate does not make another
/// wait.
#[tokio::test]
async fn the_rate_limit_is_per_source() {
    let mut server = start(Some(webhook(1, 1)), status_of(Ok(serde_json::json!({})))).await;
    let noisy = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    assert_eq!(
        post_github_from(noisy, server.addr, SECRET, PUSH)
            .await
            .status,
        202
    );
    assert_eq!(
        post_github_from(noisy, server.addr, SECRET, PUSH)
            .await
            .status,
        429
    );
    assert_eq!(
        post_github_from(other, server.addr, SECRET, PUSH)
            .await
            .status,
        202
    );
    assert_eq!(triggers(&mut server), 1, "the two accepted pushes coalesce");
}

/// Reads from `stream` until the server closes it; how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// Idle and slow clients hold a connection for the header timeout at most; connections over
/// the cap are closed as they arrive; once the idle ones are gone, health answers again.
#[tokio::test]
async fn slow_and_idle_clients_are_bounded() {
    let limits = ConnectionLimits {
        max_connections: 4,
        header_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(5),
    };
    let server = start_limited(None, status_of(Ok(serde_json::json!({}))), limits).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(connect_from(LOCALHOST, server.addr).await);
    }
    // A slowloris: half a request line, then nothing.
    idle[0].write_all(b"GET /heal").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut over_cap = connect_from(LOCALHOST, server.addr).await;
    let closed = closed_within(&mut over_cap, Duration::from_millis(250)).await;
    assert!(
        closed.is_some(),
        "a connection over the cap is closed at once"
    );
    for stream in &mut idle {
        let closed = closed_within(stream, Duration::from_secs(3)).await;
        assert!(
            closed.is_some(),
            "an idle connection outlived the header timeout"
        );
    }
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
}

/// A client that sends its headers but never its whole body is cut off when its connection
/// outlives its limit.
#[tokio::test]
async fn a_body_that_never_ends_is_cut_off() {
    let limits = ConnectionLimits {
        max_connections: 4,
        header_timeout: Duration::from_secs(5),
        connection_timeout: Duration::from_millis(400),
    };
    let mut server = start_limited(
        Some(webhook(10, 10)),
        status_of(Ok(serde_json::json!({}))),
        limits,
    )
    .await;
    let mut stream = connect_from(LOCALHOST, server.addr).await;
    stream
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the connection is closed");
    assert_eq!(triggers(&mut server), 0);
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_404() {
    let mut server = start(None, status_of(Ok(serde_json::json!({})))).await;
    let reply = post_github(server.addr, SECRET, PUSH).await;
    assert_eq!(reply.status, 404);
    assert_eq!(triggers(&mut server), 0);
    assert_eq!(webhook_count(&server, "disabled"), "1");
}

#[tokio::test]
async fn status_serves_what_the_source_returns() {
    let json = serde_json::json!({
        "tracking": "main",
        "teams": [{"name": "payments", "verdict": "admitted"}],
    });
    let server = start(None, status_of(Ok(json.clone()))).await;
    let reply = get(server.addr, "/status").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap(),
        json
    );

    let failing = start(None, status_of(Err("state database is locked".into()))).await;
    let reply = get(failing.addr, "/status").await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap(),
        serde_json::json!({"error": "state database is locked"})
    );
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let server = start_with_webhook().await;
    assert_eq!(get(server.addr, "/").await.status, 404);
    assert_eq!(get(server.addr, "/metrics/extra").await.status, 404);
}

#[tokio::test]
async fn serve_returns_once_shut_down() {
    let server = start_with_webhook().await;
    assert_eq!(get(server.addr, "/healthz").await.status, 200);
    server.shutdown.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server.served)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}
