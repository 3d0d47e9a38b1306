//! OCSF (Open Cybersecurity Schema Framework) 1.1.0 JSON Lines, so a SIEM can take the log
//! as it is. Every event validates against the compiled OCSF 1.1.0 schema
//! (`tests/ocsf/schema-1.1.0.json`, checked by `activity-core/tests/ocsf_schema.rs` for
//! every built-in action and an app-defined one, in many shapes).
//!
//! | actions | OCSF class | activity |
//! |---|---|---|
//! | `auth.login.*` | Authentication (3002) | 1 Logon |
//! | `auth.logout` | Authentication (3002) | 2 Logoff |
//! | `mfa.verified`, `mfa.failed` | Authentication (3002) | 99 Other, `is_mfa: true` |
//! | `session.*` | Authentication (3002) | 99 Other (the session's life) |
//! | `password.changed` | Account Change (3001) | 3 Password Change |
//! | `password.reset.completed` | Account Change (3001) | 4 Password Reset |
//! | `password.reset.requested` | Account Change (3001) | 99 Other |
//! | `mfa.enrolled` / `mfa.removed` / `mfa.updated` | Account Change (3001) | 10 MFA Factor Enable / 11 MFA Factor Disable / 99 Other |
//! | `lockout.triggered` | Account Change (3001) | 9 Lock |
//! | `lockout.released`, `admin.user.unlocked` | Account Change (3001) | 99 Other (unlock) |
//! | `admin.role.changed` | User Access Management (3005) | 99 Other |
//! | `alert.raised` | Detection Finding (2004) | 1 Create |
//! | everything else (`audit.*`, `access.*`, `admin.config.changed`, app-defined) | Base Event (0) | 99 Other, `activity_name` the action code |
//!
//! Attributes, by class (an attribute is written only when its value is known: never a
//! JSON `null`):
//!
//! | OCSF | from | classes |
//! |---|---|---|
//! | `type_uid` | `class_uid × 100 + activity_id` | all |
//! | `time` | `time`, epoch milliseconds | all |
//! | `status_id`, `status` | `outcome`: 1 Success, 2 Failure, 0 Unknown; for a finding, its status: 1 New | all |
//! | `status_detail` | `reason` | all |
//! | `severity_id` | 1 Informational; for a finding, the alert's severity (`low` 2, `medium` 3, `high` 4, `critical` 5, another value 99 Other with `severity` that value, none 0 Unknown) | all |
//! | `metadata` | `version` 1.1.0, `uid` the event id, `product` (activity and its version), `tenant_uid` the tenant, `correlation_uid` the request id, `profiles` `["host"]` when an `actor` is written in a class where `actor` is an attribute of OCSF's host profile (3005, 2004) | all |
//! | `user` | the account: for 3002 the actor, else a target of type `user` or `account`, else `{"name": "unknown"}`; for 3001 the target of type `user` or `account`, else the actor, else `{"name": "unknown"}`; for 3005 the target of type `user` or `account`, else `{"name": "unknown"}` (OCSF requires a user with a `uid` or `name`; `unknown` says that none was recorded) | 3002, 3001, 3005 |
//! | `actor.user` | the actor: `uid` its id, `name`, `type_id`/`type` from its type (`user` 1 User, `admin` 2 Admin, `system` 3 System, another 99 Other with `type` that value) | all but 0 |
//! | `actor.session.uid` | `session` | 3001, 3005, 2004, with an actor |
//! | `session.uid` | `session` | 3002 |
//! | `service` | `{"name": "activity"}`: the application recording the log (OCSF requires `service` or `dst_endpoint`; the tenant is `metadata.tenant_uid`) | 3002 |
//! | `src_endpoint` | `ip`, `uid` the device id, `location` (`country`, `city`, `coordinates` `[lon, lat]`), written only with an address or a device id (OCSF requires one of them) | 3002, 3001 |
//! | `http_request.user_agent` | `source.user_agent` | 3002, 3001 |
//! | `privileges` | `details.role` (a string) or `details.roles` (strings) when the application recorded them, else `[]` (OCSF requires the list; the SDK's event does not carry the role) | 3005 |
//! | `finding_info` | `uid` the event id, `title` the alert's message or else its rule, `analytic` the rule (type 1 Rule), `related_events` the evidence ids, `created_time` the time | 2004 |
//!
//! Base Event (0) has none of the actor, user, source or session attributes; those, and
//! everything else, are in `unmapped`: the schema-v1 event is kept whole there (OCSF types
//! `unmapped` as a free-form object), so nothing is lost. `unmapped.details` is the
//! application's own data as it was recorded: a `null` the application put there stays.

use serde_json::{json, Map, Value};

use crate::event::payload::{AlertRaised, Payload};
use crate::event::{Action, ActivityEvent, Actor, Outcome, Source, Target};

/// The OCSF 1.1.0 classes the exporter maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Base Event (0).
    Base,
    /// Authentication (3002).
    Authentication,
    /// Account Change (3001).
    AccountChange,
    /// User Access Management (3005).
    UserAccess,
    /// Detection Finding (2004).
    DetectionFinding,
}

impl Class {
    fn uid(self) -> u32 {
        match self {
            Class::Base => 0,
            Class::Authentication => 3002,
            Class::AccountChange => 3001,
            Class::UserAccess => 3005,
            Class::DetectionFinding => 2004,
        }
    }

    fn category_uid(self) -> u32 {
        match self {
            Class::Base => 0,
            Class::DetectionFinding => 2,
            _ => 3,
        }
    }

    /// Whether the class has `src_endpoint` and `http_request`.
    fn has_source(self) -> bool {
        matches!(self, Class::Authentication | Class::AccountChange)
    }

    /// Whether `actor` is an attribute of the class only through OCSF's host profile.
    fn actor_needs_host_profile(self) -> bool {
        matches!(self, Class::UserAccess | Class::DetectionFinding)
    }
}

/// The class, activity id and activity name of an action (a Base Event is named by its code).
fn class_of(a: &Action) -> (Class, u32, &str) {
    use Class::*;
    match a.as_str() {
        "auth.login.succeeded" | "auth.login.failed" => (Authentication, 1, "Logon"),
        "auth.logout" => (Authentication, 2, "Logoff"),
        "mfa.verified" | "mfa.failed" => (Authentication, 99, "MFA Verification"),
        "password.changed" => (AccountChange, 3, "Password Change"),
        "password.reset.completed" => (AccountChange, 4, "Password Reset"),
        "password.reset.requested" => (AccountChange, 99, "Password Reset Requested"),
        "mfa.enrolled" => (AccountChange, 10, "MFA Factor Enable"),
        "mfa.removed" => (AccountChange, 11, "MFA Factor Disable"),
        "mfa.updated" => (AccountChange, 99, "MFA Factor Update"),
        "lockout.triggered" => (AccountChange, 9, "Lock"),
        "lockout.released" | "admin.user.unlocked" => (AccountChange, 99, "Unlock"),
        "admin.role.changed" => (UserAccess, 99, "Role Change"),
        "alert.raised" => (DetectionFinding, 1, "Create"),
        _ if a.category() == "session" => (Authentication, 99, "Session"),
        code => (Base, 99, code),
    }
}

/// Inserts `key` only when there is a value.
fn put(o: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        o.insert(key.into(), v.into());
    }
}

/// The OCSF form of one event.
///
/// ```
/// use activity_core::{export::ocsf_event, ActivityEvent, Actor};
/// let v = ocsf_event(&ActivityEvent::login_failed(Actor::user("alice")));
/// assert_eq!(v["class_uid"], 3002);
/// assert_eq!(v["type_uid"], 300201);
/// assert_eq!(v["status_id"], 2);
/// assert_eq!(v["user"]["uid"], "alice");
/// ```
pub fn ocsf_event(e: &ActivityEvent) -> Value {
    let (class, activity_id, activity_name) = class_of(&e.action);
    let alert = (class == Class::DetectionFinding).then(|| alert_of(e));
    let mut o = Map::new();
    o.insert("category_uid".into(), json!(class.category_uid()));
    o.insert("class_uid".into(), json!(class.uid()));
    o.insert("activity_id".into(), json!(activity_id));
    o.insert("activity_name".into(), json!(activity_name));
    o.insert(
        "type_uid".into(),
        json!(u64::from(class.uid()) * 100 + u64::from(activity_id)),
    );
    match &alert {
        Some(a) => {
            let (id, name) = severity(a.severity.as_deref());
            o.insert("severity_id".into(), json!(id));
            o.insert("severity".into(), json!(name));
            // A finding's `status_id` is the finding's status, not the outcome.
            o.insert("status_id".into(), json!(1));
            o.insert("status".into(), json!("New"));
        }
        None => {
            o.insert("severity_id".into(), json!(1));
            let (status_id, status) = match e.outcome {
                Outcome::Success => (1, "Success"),
                Outcome::Failure => (2, "Failure"),
                Outcome::Unknown => (0, "Unknown"),
            };
            o.insert("status_id".into(), json!(status_id));
            o.insert("status".into(), json!(status));
        }
    }
    o.insert("time".into(), json!(e.time.timestamp_millis()));
    let host_profile = e.actor.is_some() && class.actor_needs_host_profile();
    o.insert("metadata".into(), metadata(e, host_profile));
    put(&mut o, "status_detail", e.reason.as_deref());

    if class != Class::Base {
        if let Some(a) = &e.actor {
            let mut actor = Map::new();
            actor.insert("user".into(), actor_user(a));
            if class != Class::Authentication {
                put(&mut actor, "session", e.session.as_deref().map(session));
            }
            o.insert("actor".into(), Value::Object(actor));
        }
    }
    let account = || target_user(e.target.as_ref());
    let user = match class {
        Class::Authentication => e.actor.as_ref().map(actor_user).or_else(account),
        Class::AccountChange => account().or_else(|| e.actor.as_ref().map(actor_user)),
        Class::UserAccess => account(),
        Class::Base | Class::DetectionFinding => None,
    };
    if matches!(
        class,
        Class::Authentication | Class::AccountChange | Class::UserAccess
    ) {
        o.insert(
            "user".into(),
            user.unwrap_or_else(|| json!({"name": "unknown"})),
        );
    }
    if class.has_source() {
        if let Some(s) = &e.source {
            put(&mut o, "src_endpoint", src_endpoint(s));
            put(
                &mut o,
                "http_request",
                s.user_agent.as_ref().map(|ua| json!({"user_agent": ua})),
            );
        }
    }
    if class == Class::Authentication {
        o.insert("service".into(), json!({"name": "activity"}));
        put(&mut o, "session", e.session.as_deref().map(session));
        if e.action == Action::MFA_VERIFIED || e.action == Action::MFA_FAILED {
            o.insert("is_mfa".into(), json!(true));
        }
    }
    if class == Class::UserAccess {
        o.insert("privileges".into(), privileges(e));
    }
    if let Some(a) = &alert {
        o.insert("finding_info".into(), finding_info(e, a));
    }
    o.insert(
        "unmapped".into(),
        serde_json::to_value(e).unwrap_or_default(),
    );
    Value::Object(o)
}

/// `metadata`: the schema version, the event id, the product, tenant and request id.
fn metadata(e: &ActivityEvent, host_profile: bool) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), json!("1.1.0"));
    m.insert("uid".into(), json!(e.id.to_string()));
    m.insert(
        "product".into(),
        json!({"name": "activity", "vendor_name": "activity", "version": env!("CARGO_PKG_VERSION")}),
    );
    put(&mut m, "tenant_uid", e.tenant.as_deref());
    put(&mut m, "correlation_uid", e.request_id.as_deref());
    if host_profile {
        m.insert("profiles".into(), json!(["host"]));
    }
    Value::Object(m)
}

/// A `user` object for the actor: `uid`, `name`, `type_id` and `type` when known.
fn actor_user(a: &Actor) -> Value {
    let mut u = Map::new();
    u.insert("uid".into(), json!(a.id));
    put(&mut u, "name", a.name.as_deref());
    if let Some(kind) = a.kind.as_deref() {
        let (type_id, caption) = match kind {
            "user" => (1, "User"),
            "admin" => (2, "Admin"),
            "system" => (3, "System"),
            other => (99, other),
        };
        u.insert("type_id".into(), json!(type_id));
        u.insert("type".into(), json!(caption));
    }
    Value::Object(u)
}

/// A `user` object for a target that is an account (`user` or `account`) with an id or name.
fn target_user(t: Option<&Target>) -> Option<Value> {
    let t = t.filter(|t| t.kind == "user" || t.kind == "account")?;
    if t.id.is_none() && t.name.is_none() {
        return None;
    }
    let mut u = Map::new();
    put(&mut u, "uid", t.id.as_deref());
    put(&mut u, "name", t.name.as_deref());
    Some(Value::Object(u))
}

/// A `session` object.
fn session(uid: &str) -> Value {
    json!({ "uid": uid })
}

/// `src_endpoint`, when the source has an address or a device id (OCSF needs one of them).
fn src_endpoint(s: &Source) -> Option<Value> {
    if s.ip.is_none() && s.device_id.is_none() {
        return None;
    }
    let mut ep = Map::new();
    put(&mut ep, "ip", s.ip.map(|ip| ip.to_string()));
    put(&mut ep, "uid", s.device_id.as_deref());
    if let Some(g) = &s.geo {
        let mut loc = Map::new();
        put(&mut loc, "country", g.country.as_deref());
        put(&mut loc, "city", g.city.as_deref());
        if let (Some(lat), Some(lon)) = (g.lat, g.lon) {
            // GeoJSON order: longitude first.
            loc.insert("coordinates".into(), json!([lon, lat]));
        }
        if !loc.is_empty() {
            ep.insert("location".into(), Value::Object(loc));
        }
    }
    Some(Value::Object(ep))
}

/// `privileges` of a role change: `details.role` or `details.roles`, else none known.
fn privileges(e: &ActivityEvent) -> Value {
    let details = e.details.as_ref();
    let list: Vec<&str> = match (
        details.and_then(|d| d.get("role")),
        details.and_then(|d| d.get("roles")),
    ) {
        (Some(Value::String(role)), _) => vec![role.as_str()],
        (_, Some(Value::Array(roles))) => roles.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    json!(list)
}

/// What an `alert.raised` event says, from its payload when it has one.
struct Alert {
    rule: String,
    severity: Option<String>,
    evidence: Vec<String>,
    message: Option<String>,
}

fn alert_of(e: &ActivityEvent) -> Alert {
    match AlertRaised::read(e) {
        Some(a) => Alert {
            rule: a.rule,
            severity: Some(a.severity),
            evidence: a.evidence.iter().map(ToString::to_string).collect(),
            message: a.message,
        },
        None => Alert {
            rule: e.reason.clone().unwrap_or_else(|| "unknown".into()),
            severity: None,
            evidence: Vec::new(),
            message: None,
        },
    }
}

/// `severity_id` and `severity` of an alert's severity.
fn severity(s: Option<&str>) -> (u32, &str) {
    match s {
        None => (0, "Unknown"),
        Some("informational" | "info") => (1, "Informational"),
        Some("low") => (2, "Low"),
        Some("medium") => (3, "Medium"),
        Some("high") => (4, "High"),
        Some("critical") => (5, "Critical"),
        Some(other) => (99, other),
    }
}

/// `finding_info` of an alert: the finding's id and title, the rule, the evidence.
fn finding_info(e: &ActivityEvent, a: &Alert) -> Value {
    let mut f = Map::new();
    f.insert("uid".into(), json!(e.id.to_string()));
    f.insert(
        "title".into(),
        json!(a.message.as_deref().unwrap_or(&a.rule)),
    );
    f.insert(
        "analytic".into(),
        json!({"name": a.rule, "type_id": 1, "type": "Rule"}),
    );
    f.insert("created_time".into(), json!(e.time.timestamp_millis()));
    if !a.evidence.is_empty() {
        let related: Vec<Value> = a.evidence.iter().map(|id| json!({ "uid": id })).collect();
        f.insert("related_events".into(), json!(related));
    }
    Value::Object(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Geo, Source, Target};

    #[test]
    fn mapping() {
        let cases = [
            (ActivityEvent::login_succeeded(Actor::user("a")), 3002, 1, 1),
            (ActivityEvent::logout(Actor::user("a")), 3002, 2, 1),
            (
                ActivityEvent::password_changed(Actor::user("a")),
                3001,
                3,
                1,
            ),
            (ActivityEvent::mfa_enrolled(Actor::user("a")), 3001, 10, 1),
            (
                ActivityEvent::lockout_triggered(Actor::user("a"), "x"),
                3001,
                9,
                1,
            ),
            (ActivityEvent::alert_raised("r", "high", &[]), 2004, 1, 1),
            (ActivityEvent::custom("document.viewed").unwrap(), 0, 99, 1),
        ];
        for (e, class, activity, status) in cases {
            let v = ocsf_event(&e);
            assert_eq!(v["class_uid"], class, "{}", e.action);
            assert_eq!(v["activity_id"], activity, "{}", e.action);
            assert_eq!(
                v["type_uid"],
                u64::from(class as u32) * 100 + activity as u64
            );
            assert_eq!(v["status_id"], status);
            assert_eq!(
                ActivityEvent::from_value(v["unmapped"].clone()).unwrap(),
                e,
                "nothing lost"
            );
        }
    }

    #[test]
    fn accounts_actors_and_absent_values() {
        // Without an actor, Authentication still has its user and a service; no nulls.
        let v = ocsf_event(&ActivityEvent::new(Action::LOGIN_FAILED));
        assert_eq!(v["user"], json!({"name": "unknown"}));
        assert_eq!(v["service"], json!({"name": "activity"}));
        assert!(v.get("actor").is_none());
        assert!(v["metadata"].get("tenant_uid").is_none());
        assert!(v["metadata"].get("correlation_uid").is_none());
        // The account unlocked is the user; the administrator is the actor.
        let v = ocsf_event(&ActivityEvent::admin_user_unlocked(
            Actor::new("root").with_kind("admin"),
            Target::user("u_2"),
        ));
        assert_eq!(v["user"], json!({"uid": "u_2"}));
        assert_eq!(
            v["actor"]["user"],
            json!({"uid": "root", "type_id": 2, "type": "Admin"})
        );
        // User Access: the target's user, the role recorded, the host profile for the actor.
        let v = ocsf_event(
            &ActivityEvent::admin_role_changed(Actor::user("root"), Target::user("bob"))
                .with_detail("role", "auditor")
                .with_session("s1"),
        );
        assert_eq!(
            (v["class_uid"].clone(), v["user"].clone()),
            (json!(3005), json!({"uid": "bob"}))
        );
        assert_eq!(v["privileges"], json!(["auditor"]));
        assert_eq!(v["metadata"]["profiles"], json!(["host"]));
        assert_eq!(v["actor"]["session"], json!({"uid": "s1"}));
    }

    #[test]
    fn sources_and_geo() {
        let e = ActivityEvent::login_succeeded(Actor::user("a")).with_source(
            Source::ip("81.2.69.142".parse().unwrap())
                .with_user_agent("curl/8.0")
                .with_geo(Geo {
                    country: Some("GB".into()),
                    city: Some("London".into()),
                    lat: Some(51.5),
                    lon: Some(-0.09),
                    accuracy_km: Some(20),
                }),
        );
        let v = ocsf_event(&e);
        assert_eq!(
            v["src_endpoint"],
            json!({"ip": "81.2.69.142", "location": {"country": "GB", "city": "London", "coordinates": [-0.09, 51.5]}})
        );
        assert_eq!(v["http_request"], json!({"user_agent": "curl/8.0"}));
        // A user agent alone is no endpoint.
        let ua_only = ActivityEvent::login_succeeded(Actor::user("a"))
            .with_source(Source::default().with_user_agent("curl/8.0"));
        let v = ocsf_event(&ua_only);
        assert!(v.get("src_endpoint").is_none());
        assert_eq!(v["http_request"]["user_agent"], "curl/8.0");
        // A base event carries only Base Event attributes; the rest is in `unmapped`.
        let e = ActivityEvent::custom("document.viewed")
            .unwrap()
            .with_actor(Actor::user("a"))
            .with_source(Source::ip("10.0.0.1".parse().unwrap()))
            .with_session("s");
        let v = ocsf_event(&e);
        for absent in ["actor", "user", "src_endpoint", "session", "http_request"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
        assert_eq!(v["activity_name"], "document.viewed");
        assert_eq!(v["unmapped"]["actor"]["id"], "a");
    }

    #[test]
    fn findings() {
        let evidence = uuid::Uuid::now_v7();
        let e = ActivityEvent::alert_raised("new_device", "high", &[evidence])
            .with_outcome(Outcome::Failure);
        let v = ocsf_event(&e);
        assert_eq!(
            (v["severity_id"].clone(), v["severity"].clone()),
            (json!(4), json!("High"))
        );
        assert_eq!(
            (v["status_id"].clone(), v["status"].clone()),
            (json!(1), json!("New"))
        );
        let f = &v["finding_info"];
        assert_eq!(f["uid"], e.id.to_string());
        assert_eq!(f["title"], "new_device");
        assert_eq!(
            f["analytic"],
            json!({"name": "new_device", "type_id": 1, "type": "Rule"})
        );
        assert_eq!(f["related_events"], json!([{"uid": evidence.to_string()}]));
        assert_eq!(v["metadata"]["profiles"], json!(["host"]));
        let odd = ocsf_event(&ActivityEvent::alert_raised("r", "severe", &[]));
        assert_eq!(
            (odd["severity_id"].clone(), odd["severity"].clone()),
            (json!(99), json!("severe"))
        );
        assert!(odd["finding_info"].get("related_events").is_none());
    }
}
