//! OCSF (Open Cybersecurity Schema Framework 1.1) JSON Lines, so a SIEM can take the log
//! as it is.
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
//! | everything else (`audit.*`, `admin.config.changed`, app-defined) | Base Event (0) | 99 Other |
//!
//! `type_uid` is `class_uid × 100 + activity_id`; `status_id` is 1 Success, 2 Failure or
//! 0 Unknown; `time` is epoch milliseconds; the schema-v1 event is kept whole in
//! `unmapped` so nothing is lost.

use serde_json::{json, Map, Value};

use crate::event::{Action, ActivityEvent, Outcome};

fn class_of(a: &Action) -> (u32, u32, u32, &'static str) {
    // (category_uid, class_uid, activity_id, activity_name)
    let s = a.as_str();
    match s {
        "auth.login.succeeded" | "auth.login.failed" => (3, 3002, 1, "Logon"),
        "auth.logout" => (3, 3002, 2, "Logoff"),
        "mfa.verified" | "mfa.failed" => (3, 3002, 99, "MFA Verification"),
        "password.changed" => (3, 3001, 3, "Password Change"),
        "password.reset.completed" => (3, 3001, 4, "Password Reset"),
        "password.reset.requested" => (3, 3001, 99, "Password Reset Requested"),
        "mfa.enrolled" => (3, 3001, 10, "MFA Factor Enable"),
        "mfa.removed" => (3, 3001, 11, "MFA Factor Disable"),
        "mfa.updated" => (3, 3001, 99, "MFA Factor Update"),
        "lockout.triggered" => (3, 3001, 9, "Lock"),
        "lockout.released" | "admin.user.unlocked" => (3, 3001, 99, "Unlock"),
        "admin.role.changed" => (3, 3005, 99, "Role Change"),
        "alert.raised" => (2, 2004, 1, "Create"),
        _ if a.category() == "session" => (3, 3002, 99, "Session"),
        _ => (0, 0, 99, "Other"),
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
/// ```
pub fn ocsf_event(e: &ActivityEvent) -> Value {
    let (category_uid, class_uid, activity_id, activity_name) = class_of(&e.action);
    let (status_id, status) = match e.outcome {
        Outcome::Success => (1, "Success"),
        Outcome::Failure => (2, "Failure"),
        Outcome::Unknown => (0, "Unknown"),
    };
    let mut o = Map::new();
    o.insert("category_uid".into(), json!(category_uid));
    o.insert("class_uid".into(), json!(class_uid));
    o.insert("activity_id".into(), json!(activity_id));
    o.insert("activity_name".into(), json!(activity_name));
    o.insert(
        "type_uid".into(),
        json!(u64::from(class_uid) * 100 + u64::from(activity_id)),
    );
    o.insert(
        "severity_id".into(),
        json!(if e.action == Action::ALERT_RAISED {
            3
        } else {
            1
        }),
    );
    o.insert("status_id".into(), json!(status_id));
    o.insert("status".into(), json!(status));
    o.insert("time".into(), json!(e.time.timestamp_millis()));
    o.insert(
        "metadata".into(),
        json!({"version": "1.1.0", "uid": e.id.to_string(), "product": {"name": "activity", "vendor_name": "activity"},
               "tenant_uid": e.tenant, "correlation_uid": e.request_id}),
    );
    if let Some(r) = &e.reason {
        o.insert("status_detail".into(), json!(r));
    }
    if let Some(a) = &e.actor {
        o.insert(
            "actor".into(),
            json!({"user": {"uid": a.id, "name": a.name, "type": a.kind}}),
        );
        if class_uid == 3002 || class_uid == 3001 {
            o.insert("user".into(), json!({"uid": a.id, "name": a.name}));
        }
    }
    if let Some(s) = &e.source {
        let mut ep = Map::new();
        if let Some(ip) = s.ip {
            ep.insert("ip".into(), json!(ip.to_string()));
        }
        if let Some(d) = &s.device_id {
            ep.insert("uid".into(), json!(d));
        }
        if let Some(g) = &s.geo {
            ep.insert(
                "location".into(),
                json!({"country": g.country, "city": g.city, "lat": g.lat, "long": g.lon}),
            );
        }
        o.insert("src_endpoint".into(), Value::Object(ep));
        if let Some(ua) = &s.user_agent {
            o.insert("http_request".into(), json!({"user_agent": ua}));
        }
    }
    if let Some(sess) = &e.session {
        o.insert("session".into(), json!({"uid": sess}));
    }
    if e.action == Action::MFA_VERIFIED || e.action == Action::MFA_FAILED {
        o.insert("is_mfa".into(), json!(true));
    }
    o.insert(
        "unmapped".into(),
        serde_json::to_value(e).unwrap_or_default(),
    );
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;

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
}
