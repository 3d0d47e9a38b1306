//! # activity-tower
//!
//! A tower [`Layer`](tower_layer::Layer) that records the product's authentication events
//! — logins, logouts, MFA, password resets and changes, sessions — with no change to the
//! handlers, plus an [`ActivityHandle`] for handlers that want to say more.
//!
//! ```
//! use std::sync::Arc;
//! use activity_core::{MemoryStore, Recorder};
//! use activity_tower::{ActivityLayer, RouteKind, RouteRule};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
//! let layer = ActivityLayer::new(recorder)
//!     .rule(RouteRule::post("/login", RouteKind::Login))
//!     .rule(RouteRule::post("/logout", RouteKind::Logout));
//! // let app = axum::Router::new().route("/login", post(login)).layer(layer);
//! guard.shutdown().await;
//! # });
//! ```
//!
//! With the feature `setup`, `setup::Setup` does all of the wiring in one call (the
//! store, the recorder with its chain, alert rules and lockout, this layer, the views,
//! and an axum server that gives the layer every peer address); the README's *Ten lines
//! in an axum app* shows it.
//!
//! What it records, per request that matches a rule: the action judged from the
//! response status (or from an [`OutcomeHint`] the handler attaches), with the client IP
//! (peer, or trusted proxies' forwarding headers), user agent, request id (kept from
//! `x-request-id` or generated, and echoed on the response), device id (a cookie set at the
//! first successful login), tenant, actor (from the app's auth extension, a header, a
//! closure, or a `username`/`email` form or JSON field — and no other body field), and the
//! session as a keyed hash. Nothing here touches a database, DNS or GeoIP: events go to
//! the [`Recorder`](activity_core::Recorder); the only await before the handler is the
//! lockout pre-check on login routes.
//!
//! # Module map
//!
//! The crate root holds what an app uses every day; the rest is in the module of its
//! folder.
//!
//! | module | what it holds |
//! |---|---|
//! | [`layer`] | the middleware: [`ActivityLayer`] and its [`RouteRule`]s and [`RouteKind`]s, the [`ActivityService`](layer::ActivityService) it makes, where the actor, tenant and client address come from ([`TrustedProxies`]), the [`RequestContext`](layer::RequestContext) of every event and the [`ActivityHandle`] handlers record with; [`AuthenticatedActor`], [`PeerAddr`](layer::PeerAddr) and [`OutcomeHint`], which the app sets as extensions |
//! | `setup` | (feature `setup`) `Setup` and `Activity`: the store, the recorder with its chain, alerts and lockout, the layer, the views and the server, in one call |
//! | [`viewer`] | [`ActivityViews`]: the Activity Log and Audit Log as endpoints and a self-contained viewer page the host app mounts behind its login, for a [`Viewer`] it names |
//! | `webhook` | (feature `webhook`) `WebhookSink`, which posts signed alerts to an HTTP endpoint, and the signature a receiver checks |
//! | `sink` | (feature `webhook`) `HttpSink`, which posts the committed log in signed batches to an HTTP collector (below) |
//! | [`Error`] | the crate's one error: a refused builder setting, or a refused or failed viewer request |
//!
//! # The HTTP sink
//!
//! With the feature `webhook`, `HttpSink` is an `activity_core::sinks::Sink`: given to a
//! `SinkRunner`, it `POST`s the committed log in batches, in order and at least once (the
//! runner's cursor moves only after a 2xx), to a SIEM's or a log pipeline's HTTP
//! collector. Its `HttpBody` formats:
//!
//! | `HttpBody` | body | `Content-Type` |
//! |---|---|---|
//! | `JsonLines` | one schema-v1 JSON event per line | `application/x-ndjson` |
//! | `OcsfLines` | one OCSF 1.1.0 event per line | `application/x-ndjson` |
//! | `SplunkHec(format)` | Splunk HTTP Event Collector objects (`time`, `host`, `source`, `sourcetype`, `index`, `event`) for `/services/collector/event`, with `Authorization: Splunk <token>` | `application/json` |
//!
//! Each optionally gzipped (`Content-Encoding: gzip`) and signed with the webhook's
//! `X-Activity-Timestamp` and `X-Activity-Signature` headers, computed over the bytes
//! sent (after gzip), so a receiver verifies a batch as it verifies a webhook delivery;
//! with a timeout (default 10 s) and static headers of the app's own. The `sink` module
//! describes the requests in full.
//!
//! ```
//! # #[cfg(feature = "webhook")] {
//! use activity_tower::{HttpBody, HttpSink};
//! let sink = HttpSink::builder("http://collector.internal:8080/ingest")
//!     .body(HttpBody::JsonLines)
//!     .secret(b"a shared secret of 16+ bytes")
//!     .gzip(true)
//!     .build()
//!     .unwrap();
//! // SinkRunner::new("collector", store, Arc::new(sink))?.spawn();
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod layer;
#[cfg(feature = "setup")]
pub mod setup;
#[cfg(feature = "webhook")]
pub mod sink;
pub mod viewer;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use activity_core;
pub use error::Error;
pub use layer::{
    Ack, ActivityHandle, ActivityLayer, AuthenticatedActor, OutcomeHint, RouteKind, RouteRule,
    TrustedProxies, X_REQUEST_ID,
};
pub use layer::{DeviceId, ForwardedHeader};
#[cfg(feature = "webhook")]
pub use sink::{HttpBody, HttpSink, HttpSinkBuilder};
pub use viewer::{ActivityViews, Viewer};
