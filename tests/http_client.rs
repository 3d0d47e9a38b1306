//! Form posts with cookies over a real socket ([`raw::send`](crate::raw::send)), for the
//! setup and recipe tests: the answer's status, `Set-Cookie` values and body.

use std::net::SocketAddr;

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
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if !cookie.is_empty() {
        headers.push(("cookie", cookie));
    }
    let a = crate::raw::send(addr, method, path, &headers, form).await;
    assert_ne!(a.status, 0, "{method} {path}: no HTTP answer");
    let cookies = a
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.clone())
        .collect();
    Answer {
        status: a.status,
        cookies,
        body: a.body,
    }
}
