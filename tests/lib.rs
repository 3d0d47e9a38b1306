//! Shared helpers for the cross-crate integration tests: real database servers, each test
//! in its own PostgreSQL schema or MariaDB database, removed afterwards.

pub mod http_client;
pub mod tcp_proxy;

/// The URL in `var`, or `None` with a printed notice (a panic when
/// `ACTIVITY_TEST_REQUIRE_SERVERS=1`, as in CI).
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("ACTIVITY_TEST_REQUIRE_SERVERS").as_deref() == Ok("1") {
                panic!("{var} is not set but ACTIVITY_TEST_REQUIRE_SERVERS=1");
            }
            eprintln!("notice: {var} is not set; skipping this test's server part");
            None
        }
    }
}

/// Serves `app` on a free loopback port (with the peer address available to the
/// layers) and returns its address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// A fresh, unique name for a schema, database or prefix.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// PostgreSQL: a pool whose `search_path` is a new schema, and that schema's name.
pub mod pg {
    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
    use sqlx::AssertSqlSafe;
    use std::str::FromStr;

    /// A test schema; dropped by [`Schema::drop`].
    pub struct Schema {
        /// The pool, with `search_path` set to the schema.
        pub pool: PgPool,
        /// The schema name.
        pub name: String,
        /// The server URL.
        pub url: String,
    }

    /// Creates a schema and a pool using it, or `None` when no server is configured.
    pub async fn schema() -> Option<Schema> {
        let url = super::server_url("ACTIVITY_TEST_POSTGRES_URL")?;
        let name = super::unique("activity_test_");
        let admin = PgPool::connect(&url).await.expect("PostgreSQL reachable");
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let opts = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", name.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .unwrap();
        Some(Schema { pool, name, url })
    }

    impl Schema {
        /// Drops the schema and everything in it.
        pub async fn drop(self) {
            self.pool.close().await;
            let admin = PgPool::connect(&self.url).await.unwrap();
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// MariaDB / MySQL: a new database and a pool on it.
pub mod my {
    use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
    use sqlx::AssertSqlSafe;

    /// A test database; dropped by [`Database::drop`].
    pub struct Database {
        /// The pool on the database.
        pub pool: MySqlPool,
        /// The database name.
        pub name: String,
        /// The server URL (without a database).
        pub url: String,
    }

    fn server_root(url: &str) -> String {
        // mysql://user@host:port/db -> mysql://user@host:port
        match url.rfind('/') {
            Some(i) if i > "mysql://".len() => url[..i].to_string(),
            _ => url.to_string(),
        }
    }

    /// Creates a database and a pool on it, or `None` when no server is configured.
    pub async fn database() -> Option<Database> {
        let url = super::server_url("ACTIVITY_TEST_MYSQL_URL")?;
        let root = server_root(&url);
        let name = super::unique("activity_test_");
        let admin = MySqlPool::connect(&url).await.expect("MariaDB reachable");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let pool = MySqlPoolOptions::new()
            .max_connections(8)
            .connect(&format!("{root}/{name}"))
            .await
            .unwrap();
        Some(Database { pool, name, url })
    }

    impl Database {
        /// Drops the database.
        pub async fn drop(self) {
            self.pool.close().await;
            let admin = MySqlPool::connect(&self.url).await.unwrap();
            sqlx::query(AssertSqlSafe(format!("DROP DATABASE {}", self.name)))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Requests written by hand over a real socket, as a client (or an attacker) would.
pub mod raw {
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An answer: the status and the headers, names in lower case.
    #[derive(Debug)]
    pub struct Answer {
        /// The status code (0 when the answer did not parse).
        pub status: u16,
        /// The headers, in order.
        pub headers: Vec<(String, String)>,
        /// The body, as text.
        pub body: String,
    }

    impl Answer {
        /// The first value of header `name` (lower case).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Sends `method path` with `headers` and `body` (`Connection: close`) and reads the
    /// whole answer.
    pub async fn send(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }
}
