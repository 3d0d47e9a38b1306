//! Debian's real nginx (`nginx-light`) in front of a real axum server with the layer: the
//! client forges `X-Forwarded-For`, `Forwarded` and `X-Real-IP` headers, and the recorded
//! address must be the one nginx saw connect.
//!
//! All on loopback, with three addresses so that each role is distinct: the client
//! connects from 127.0.0.2, nginx listens on 127.0.0.1 and connects to the app from
//! 127.0.0.3 (`proxy_bind`), the only trusted proxy. Skipped with a notice when nginx is
//! not installed, unless `ACTIVITY_TEST_REQUIRE_SERVERS=1` (as in CI), which makes that a
//! failure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::{Action, ActivityQuery, ActivityStore, MemoryStore, Recorder};
use activity_tower::{ActivityLayer, ForwardedHeader, RouteKind, RouteRule, TrustedProxies};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NGINX: &str = "/usr/sbin/nginx";
const CLIENT: &str = "127.0.0.2";
const PROXY_OUT: &str = "127.0.0.3";
const WAIT: Duration = Duration::from_secs(20);

fn nginx_available() -> bool {
    let present = Path::new(NGINX).exists();
    if !present {
        if std::env::var("ACTIVITY_TEST_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!(
                "{NGINX} missing but ACTIVITY_TEST_REQUIRE_SERVERS=1 (apt-get install nginx-light)"
            );
        }
        eprintln!("notice: nginx not installed; skipping the nginx proxy test");
    }
    present
}

/// The app behind nginx: a login route that always fails, recorded into a memory store.
struct App {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
    recorder: Recorder,
    guard: activity_core::RecorderGuard,
}

impl App {
    async fn start(trusted: TrustedProxies) -> App {
        let store = Arc::new(MemoryStore::new());
        let (recorder, guard) = Recorder::builder(store.clone())
            .lifecycle_events(false)
            .start();
        let layer = ActivityLayer::new(recorder.clone())
            .rule(RouteRule::post("/login", RouteKind::Login))
            .trusted_proxies(trusted);
        let app = Router::new()
            .route("/login", post(|| async { StatusCode::UNAUTHORIZED }))
            .layer(layer);
        let addr = activity_tests::serve(app).await;
        App {
            addr,
            store,
            recorder,
            guard,
        }
    }

    /// The recorded addresses of the failed logins, oldest first.
    async fn ips(&self) -> Vec<String> {
        self.recorder.flush().await.unwrap();
        let mut events = self
            .store
            .query(&ActivityQuery::new().limit(1000))
            .await
            .unwrap()
            .events;
        events.retain(|e| e.action == Action::LOGIN_FAILED);
        events.reverse();
        events
            .iter()
            .map(|e| e.ip().map(|ip| ip.to_string()).unwrap_or_default())
            .collect()
    }
}

/// nginx running with a generated configuration in its own directory; stopped on drop.
struct Nginx {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts nginx on a free loopback port: `/xff/` goes to `xff` (nginx appends to
/// X-Forwarded-For), `/real/` to `real` (nginx sets X-Real-IP).
async fn nginx(xff: SocketAddr, real: SocketAddr) -> Nginx {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity_nginx_"));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        proxy_bind {PROXY_OUT};
        location /xff/ {{
            proxy_pass http://{xff}/;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
        location /real/ {{
            proxy_pass http://{real}/;
            proxy_set_header X-Real-IP $remote_addr;
        }}
    }}
}}
"#
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = tokio::process::Command::new(NGINX)
        .arg("-p")
        .arg(&dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    let mut n = Nginx { child, port, dir };
    let start = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Ok(Some(status)) = n.child.try_wait() {
            let log = std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default();
            panic!("nginx exited ({status}): {log}");
        }
        assert!(start.elapsed() < WAIT, "nginx did not start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    n
}

/// POSTs to nginx from the client address with `extra` header lines, as raw bytes;
/// returns the status.
async fn post_via(nginx: &Nginx, path: &str, extra: &[u8]) -> u16 {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{CLIENT}:0").parse().unwrap()).unwrap();
    let mut s = sock
        .connect(format!("127.0.0.1:{}", nginx.port).parse().unwrap())
        .await
        .unwrap();
    let body = b"username=alice&password=guess";
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(extra);
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    s.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// What a client sends to forge its address.
const FORGERIES: &[&[u8]] = &[
    b"",
    b"X-Forwarded-For: 6.6.6.6\r\n",
    b"X-Forwarded-For: 6.6.6.6, 7.7.7.7\r\nX-Forwarded-For: 8.8.8.8\r\n",
    b"Forwarded: for=6.6.6.6\r\n",
    b"Forwarded: for=6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n",
    b"X-Forwarded-For: \xff\r\n",
    b"X-Forwarded-For: 6.6.6.6\xe9\r\n",
    b"X-Forwarded-For: 0.0.0.0\r\n",
    b"X-Forwarded-For: ::\r\n",
    b"X-Forwarded-For: unknown, _hidden\r\n",
    b"X-Forwarded-For: \"6.6.6.6\r\n",
    b"X-Real-IP: 6.6.6.6\r\n",
    b"X-Real-IP: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nForwarded: for=8.8.8.8\r\n",
];

#[tokio::test]
async fn behind_nginx_the_recorded_ip_is_the_one_nginx_saw() {
    if !nginx_available() {
        return;
    }
    let trusted = TrustedProxies::cidrs([PROXY_OUT]).unwrap();
    let xff = App::start(trusted.clone()).await;
    let real = App::start(trusted.header(ForwardedHeader::Single(
        axum::http::HeaderName::from_static("x-real-ip"),
    )))
    .await;
    let proxy = nginx(xff.addr, real.addr).await;
    for forged in FORGERIES {
        for path in ["/xff/login", "/real/login"] {
            let status = post_via(&proxy, path, forged).await;
            assert_eq!(
                status,
                401,
                "{path} with {:?}",
                String::from_utf8_lossy(forged)
            );
        }
    }
    let want = vec![CLIENT.to_string(); FORGERIES.len()];
    let got = xff.ips().await;
    let labelled: Vec<_> = FORGERIES
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .zip(&got)
        .collect();
    assert_eq!(got, want, "X-Forwarded-For behind nginx: {labelled:#?}");
    assert_eq!(real.ips().await, want, "X-Real-IP behind nginx");
    drop(proxy);
    xff.guard.shutdown().await;
    real.guard.shutdown().await;
}
