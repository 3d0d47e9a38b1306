//! [`Activity::serve`]: the app over axum with every connection's peer address, until a
//! signal; then the recorder's shutdown.

use std::future::Future;
use std::net::SocketAddr;

use activity_core::recorder::ShutdownReport;
use tokio::net::TcpListener;

use super::Activity;
use crate::layer::Scheme;
use crate::Error;

impl Activity {
    /// Serves `app` on `listener` until Ctrl-C (or, on Unix, `SIGTERM`), then writes
    /// every queued event and stops the recorder. See
    /// [`serve_with_shutdown`](Self::serve_with_shutdown).
    ///
    /// # Errors
    /// [`Error::Io`] when the server fails (the recorder is shut down first).
    pub async fn serve(
        self,
        listener: TcpListener,
        app: axum::Router,
    ) -> Result<ShutdownReport, Error> {
        self.serve_with_shutdown(listener, app, stop_signal()).await
    }

    /// Serves `app` on `listener` until `signal` completes (in-flight requests finish),
    /// then writes every queued event and stops the recorder.
    ///
    /// What it does that `axum::serve(listener, app)` alone does not: every request
    /// carries its connection's peer address
    /// (`into_make_service_with_connect_info::<SocketAddr>`), so that events have an IP
    /// and the lockout can budget by address, and is marked [`Scheme::Http`] (this
    /// server speaks plain HTTP; a trusted proxy's `X-Forwarded-Proto` still wins), so
    /// that the device cookie is `Secure` only when the browser uses HTTPS.
    ///
    /// ```
    /// use activity_tower::setup::{Key, Setup};
    /// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
    /// let activity = Setup::new()
    ///     .database("sqlite::memory:")
    ///     .chain_key(Key::value(b"0123456789abcdef0123456789abcdef".to_vec()))
    ///     .login("/login")
    ///     .start()
    ///     .await
    ///     .unwrap();
    /// let app = axum::Router::new().layer(activity.layer());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let report = activity.serve_with_shutdown(listener, app, async {}).await.unwrap();
    /// assert!(report.unwritten.is_empty());
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when the server fails (the recorder is shut down first).
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        app: axum::Router,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<ShutdownReport, Error> {
        let app = app.layer(axum::Extension(Scheme::Http));
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .await;
        let report = self.shutdown().await;
        served.map_err(Error::Io)?;
        Ok(report)
    }
}

/// Ctrl-C, or on Unix `SIGTERM` (what container runtimes send).
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                let term = Box::pin(async move { term.recv().await });
                futures_util::future::select(Box::pin(ctrl_c), term).await;
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
