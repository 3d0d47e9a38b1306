//! A plain HTTP/1.1 client over a real socket, for the setup and recipe tests: one
//! request per connection, its answer's status, `Set-Cookie` values and body.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Each `Set-Cookie` value.
    pub cookies: Vec<String>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The value the answer sets for cookie `name`, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.iter().find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            pair.strip_prefix(&format!("{name}=")).map(str::to_owned)
        })
    }

    /// The whole `Set-Cookie` line for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.cookies
            .iter()
            .find(|c| c.starts_with(&prefix))
            .map(String::as_str)
    }
}

/// `POST path` with a form body and a `Cookie` header (`cookie`, may be empty).
pub async fn post(addr: SocketAddr, path: &str, form: &str, cookie: &str) -> Answer {
    request(addr, "POST", path, form, cookie).await
}

/// `GET path` with a `Cookie` header.
pub async fn get(addr: SocketAddr, path: &str, cookie: &str) -> Answer {
    request(addr, "GET", path, "", cookie).await
}

async fn request(addr: SocketAddr, method: &str, path: &str, form: &str, cookie: &str) -> Answer {
    let cookie = if cookie.is_empty() {
        String::new()
    } else {
        format!("Cookie: {cookie}\r\n")
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 192.0.2.10:3000\r\nConnection: close\r\n{cookie}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let cookies = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        cookies,
        body: body.to_owned(),
    }
}
