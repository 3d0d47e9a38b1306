//! What the socket tests share: serving a router on a free loopback port, and sending
//! raw HTTP to it.
#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves `app` on a free loopback port, with the peer address for the layer.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The host app's authentication, reduced to headers for the tests: `x-user`, `x-role`
/// (`admin`), `x-tenant`, `x-api`; a middleware (`axum::middleware::from_fn(auth)`).
pub async fn auth(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let h = req.headers();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(user) = get("x-user") {
        let mut v = if get("x-role").as_deref() == Some("admin") {
            activity_tower::Viewer::admin(user)
        } else {
            activity_tower::Viewer::user(user)
        };
        if let Some(t) = get("x-tenant") {
            v = v.tenant(t);
        }
        if get("x-api").is_some() {
            v = v.api();
        }
        req.extensions_mut().insert(v);
    }
    next.run(req).await
}

/// A response as it came off the wire (status 0 when none came).
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `events` of a successful listing.
    pub fn events(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json()["events"].as_array().unwrap().clone()
    }
}

/// Sends `request` as it is and reads until the server closes (10 s at most).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}
