//! The OCSF export validates against the official compiled OCSF 1.1.0 schema
//! (`tests/ocsf/schema-1.1.0.json`, issue 22): every built-in action and an app-defined
//! one, each in several shapes (with and without actor, source address, user agent alone,
//! geo, tenant, session, request id, reason, target; outcomes success, failure, unknown).
//!
//! The validator is `ocsf_validator` (its own tests are at the end of this file, so that
//! a validator that accepts everything cannot pass them).

mod ocsf_validator;

use std::collections::BTreeMap;

use activity_core::event::payload::{LockoutReleased, LockoutTriggered, Payload};
use activity_core::export::ocsf_event;
use activity_core::{Action, ActivityEvent, Actor, Geo, Outcome, Source, Target};
use ocsf_validator::Schema;
use serde_json::{json, Value};
use uuid::Uuid;

/// One event of every kind the SDK builds, from its constructors where it has one.
fn seeds() -> Vec<ActivityEvent> {
    let alice = || Actor::user("u_1").with_name("alice@example.com");
    let admin = || Actor::new("root").with_kind("admin");
    let evidence = [Uuid::now_v7(), Uuid::now_v7()];
    let mut seeds = vec![
        ActivityEvent::login_succeeded(alice()),
        ActivityEvent::login_failed(Actor::new("mallory@example.com")).with_reason("bad_password"),
        ActivityEvent::logout(alice()),
        ActivityEvent::mfa_enrolled(alice()),
        ActivityEvent::mfa_updated(alice()),
        ActivityEvent::mfa_removed(alice()),
        ActivityEvent::mfa_verified(alice()),
        ActivityEvent::mfa_failed(alice()),
        ActivityEvent::password_reset_requested(alice()),
        ActivityEvent::password_reset_completed(alice()),
        ActivityEvent::password_changed(alice()),
        ActivityEvent::session_created(alice()),
        ActivityEvent::session_terminated(alice()),
        ActivityEvent::session_expired(alice()),
        ActivityEvent::audit_viewed(alice()),
        ActivityEvent::audit_exported(alice()),
        ActivityEvent::audit_reviewed(alice()),
        ActivityEvent::admin_config_changed(admin()),
        LockoutTriggered {
            failures: 10,
            trigger: "auth.login.failed".into(),
            until: None,
            minutes: Some(15),
            permanent: false,
        }
        .write(ActivityEvent::lockout_triggered(
            alice(),
            "too_many_failures",
        )),
        LockoutReleased {
            by: Some("root".into()),
        }
        .write(ActivityEvent::lockout_released(alice(), "admin_unlock")),
        ActivityEvent::alert_raised("new_device", "medium", &evidence),
        ActivityEvent::alert_raised("geo_anomaly", "critical", &[]),
        ActivityEvent::alert_raised("odd", "whatever", &evidence[..1]),
        ActivityEvent::admin_role_changed(admin(), Target::user("u_2").with_name("bob"))
            .with_detail("role", "auditor"),
        ActivityEvent::admin_role_changed(admin(), Target::user("u_3")),
        ActivityEvent::admin_user_unlocked(admin(), Target::user("u_2")),
        ActivityEvent::custom("document.viewed")
            .unwrap()
            .with_actor(alice())
            .with_target(Target::new("document").with_id("d_1").with_name("Q3 plan")),
    ];
    for a in Action::BUILT_IN {
        if a.category() == "audit" {
            seeds.push(ActivityEvent::audit(a.clone(), Outcome::Success));
        }
        // Every action bare, as a producer may record it with `ActivityEvent::new`.
        seeds.push(ActivityEvent::new(a.clone()));
    }
    seeds.push(ActivityEvent::custom("document.viewed").unwrap());
    seeds
}

/// A named change to an event.
type Shape = (&'static str, fn(ActivityEvent) -> ActivityEvent);

/// The shapes every seed is validated in.
fn shapes() -> Vec<Shape> {
    vec![
        ("as built", |e| e),
        ("without actor", |mut e| {
            e.actor = None;
            e
        }),
        ("with a named actor", |e| {
            e.with_actor(Actor::user("u_9").with_name("carol@example.com"))
        }),
        ("with an actor of an app-defined kind", |e| {
            e.with_actor(Actor::new("svc-1").with_kind("robot"))
        }),
        ("with an actor and no kind", |e| {
            e.with_actor(Actor::new("x"))
        }),
        ("with a source address", |e| {
            e.with_ip("81.2.69.142".parse().unwrap())
        }),
        ("with a source IPv6 address, failure", |e| {
            e.with_ip("2001:db8::1".parse().unwrap())
                .with_outcome(Outcome::Failure)
        }),
        ("with only a user agent", |e| {
            e.with_source(Source::default().with_user_agent("Mozilla/5.0"))
        }),
        ("with only a device id", |e| {
            e.with_source(Source::default().with_device_id("dev_1"))
        }),
        ("with geo", |e| {
            e.with_source(
                Source::ip("81.2.69.142".parse().unwrap())
                    .with_user_agent("curl/8.0")
                    .with_device_id("dev_1")
                    .with_geo(london()),
            )
        }),
        ("with geo and no address", |e| {
            e.with_source(Source::default().with_geo(london()))
        }),
        ("with a country alone", |e| {
            e.with_source(Source::ip("81.2.69.142".parse().unwrap()).with_geo(Geo {
                country: Some("GB".into()),
                ..Geo::default()
            }))
        }),
        ("with coordinates alone", |e| {
            e.with_source(Source::ip("81.2.69.142".parse().unwrap()).with_geo(Geo {
                lat: Some(0.0),
                lon: Some(0.0),
                ..Geo::default()
            }))
        }),
        ("with an empty geo", |e| {
            e.with_source(Source::ip("81.2.69.142".parse().unwrap()).with_geo(Geo::default()))
        }),
        ("with tenant, session, request id and reason", |e| {
            e.with_tenant("acme")
                .with_session("9f86d081884c7d659a2feaa0c55ad015")
                .with_request_id("req-1")
                .with_reason("some_reason")
        }),
        ("with a user target", |e| {
            e.with_target(Target::user("u_7").with_name("dave"))
        }),
        ("with a target of another kind", |e| {
            e.with_target(Target::new("config"))
        }),
        ("with details", |e| {
            e.with_detail("method", "password")
                .with_detail("n", 3)
                .with_detail("nested", json!({"a": [1, "b"]}))
        }),
        ("outcome success", |e| e.with_outcome(Outcome::Success)),
        ("outcome failure", |e| e.with_outcome(Outcome::Failure)),
        ("outcome unknown", |e| e.with_outcome(Outcome::Unknown)),
        ("with everything, no actor", |mut e| {
            e.actor = None;
            e.with_tenant("acme")
                .with_session("s")
                .with_request_id("r")
                .with_reason("why")
                .with_target(Target::user("u_7"))
                .with_source(
                    Source::ip("10.0.0.1".parse().unwrap())
                        .with_user_agent("ua")
                        .with_geo(london()),
                )
                .with_outcome(Outcome::Unknown)
        }),
    ]
}

fn london() -> Geo {
    Geo {
        country: Some("GB".into()),
        city: Some("London".into()),
        lat: Some(51.5142),
        lon: Some(-0.0931),
        accuracy_km: Some(20),
    }
}

#[test]
fn every_built_in_action_is_a_seed() {
    let seeds = seeds();
    assert_eq!(Action::BUILT_IN.len(), 31);
    for a in Action::BUILT_IN {
        assert!(seeds.iter().any(|e| e.action == *a), "{a}");
    }
}

#[test]
fn every_event_kind_validates_against_ocsf_1_1_0() {
    let schema = Schema::load();
    assert_eq!(schema.version(), "1.1.0");
    // action -> error -> shapes it was seen in
    let mut failures: BTreeMap<String, BTreeMap<String, Vec<&str>>> = BTreeMap::new();
    let mut checked = 0;
    for seed in seeds() {
        for (shape, make) in shapes() {
            let e = make(seed.clone());
            let v = ocsf_event(&e);
            checked += 1;
            for error in schema.validate(&v) {
                let shapes = failures
                    .entry(e.action.to_string())
                    .or_default()
                    .entry(error)
                    .or_default();
                if !shapes.contains(&shape) {
                    shapes.push(shape);
                }
            }
            assert_eq!(
                ActivityEvent::from_value(v["unmapped"].clone()).unwrap(),
                e,
                "{} {shape}: the schema-v1 event is kept whole in unmapped",
                e.action
            );
        }
    }
    if !failures.is_empty() {
        let mut report = format!(
            "{} of {} event kinds do not validate ({checked} events checked):\n",
            failures.len(),
            Action::BUILT_IN.len() + 1
        );
        for (action, errors) in &failures {
            report.push_str(&format!("{action}\n"));
            for (error, shapes) in errors {
                report.push_str(&format!("    {error}    ({})\n", shapes.join("; ")));
            }
        }
        panic!("{report}");
    }
}

// The validator's own tests: it must reject what OCSF rejects.

/// A valid Authentication event to break.
fn valid_authentication() -> Value {
    json!({
        "category_uid": 3, "class_uid": 3002, "activity_id": 1, "type_uid": 300201,
        "severity_id": 1, "time": 1_700_000_000_000_i64,
        "metadata": {"version": "1.1.0", "product": {"name": "activity", "vendor_name": "activity"}},
        "service": {"name": "activity"},
        "user": {"uid": "u_1"},
        "unmapped": {"anything": {"goes": [1, "x"]}}
    })
}

fn errors_of(v: &Value) -> Vec<String> {
    Schema::load().validate(v)
}

#[test]
fn the_validator_accepts_a_valid_event() {
    assert_eq!(errors_of(&valid_authentication()), Vec::<String>::new());
}

#[test]
fn the_validator_rejects_a_missing_required_attribute() {
    let mut v = valid_authentication();
    v.as_object_mut().unwrap().remove("user");
    assert_eq!(errors_of(&v), ["authentication.user: required"]);
    let mut v = valid_authentication();
    v["metadata"]["product"]
        .as_object_mut()
        .unwrap()
        .remove("vendor_name");
    assert_eq!(
        errors_of(&v),
        ["authentication.metadata.product.vendor_name: required"]
    );
}

#[test]
fn the_validator_rejects_a_null() {
    let mut v = valid_authentication();
    v["metadata"]["tenant_uid"] = Value::Null;
    assert_eq!(errors_of(&v), ["authentication.metadata.tenant_uid: null"]);
    let mut v = valid_authentication();
    v["unmapped"]["x"] = Value::Null;
    assert_eq!(errors_of(&v), ["authentication.unmapped.x: null"]);
}

#[test]
fn the_validator_rejects_an_unknown_attribute() {
    let mut v = valid_authentication();
    v["user"]["nickname"] = json!("al");
    assert_eq!(
        errors_of(&v),
        ["authentication.user.nickname: not an attribute of user"]
    );
    let mut v = valid_authentication();
    v["src_endpoint"] = json!({"ip": "10.0.0.1", "location": {"country": "GB", "lat": 1.0}});
    assert_eq!(
        errors_of(&v),
        ["authentication.src_endpoint.location.lat: not an attribute of location"]
    );
}

#[test]
fn the_validator_rejects_a_wrong_enum_value() {
    let mut v = valid_authentication();
    v["severity_id"] = json!(7);
    assert_eq!(
        errors_of(&v),
        [
            r#"authentication.severity_id: 7 is not one of the enum ["0", "1", "2", "3", "4", "5", "6", "99"]"#
        ]
    );
}

#[test]
fn the_validator_rejects_broken_constraints_types_and_rules() {
    let mut v = valid_authentication();
    v.as_object_mut().unwrap().remove("service");
    assert_eq!(
        errors_of(&v),
        ["authentication: at least one of [service, dst_endpoint] required"]
    );
    let mut v = valid_authentication();
    v["src_endpoint"] = json!({});
    assert_eq!(
        errors_of(&v),
        ["authentication.src_endpoint: at least one of [ip, uid, name, hostname, svc_name, instance_uid, interface_uid, interface_name] required"]
    );
    let mut v = valid_authentication();
    v["time"] = json!("2026-01-01T00:00:00Z");
    v["is_mfa"] = json!("yes");
    v["src_endpoint"] = json!({"ip": "not an address"});
    let mut got = errors_of(&v);
    got.sort();
    assert_eq!(
        got,
        [
            r#"authentication.is_mfa: "yes" is not of type boolean_t"#,
            r#"authentication.src_endpoint.ip: "not an address" is not an IP address"#,
            r#"authentication.time: "2026-01-01T00:00:00Z" is not of type timestamp_t"#,
        ]
    );
    let mut v = valid_authentication();
    v["type_uid"] = json!(300202);
    v["category_uid"] = json!(2);
    v["metadata"]["version"] = json!("1.2.0");
    let mut got = errors_of(&v);
    got.sort();
    assert_eq!(
        got,
        [
            "authentication.category_uid: 2 is not one of the enum [\"3\"]",
            "authentication.category_uid: 2 is not the class's category 3",
            "authentication.metadata.version: \"1.2.0\" is not the schema's 1.1.0",
            "authentication.type_uid: 300202 is not class_uid * 100 + activity_id = 300201",
        ]
    );
}

#[test]
fn the_validator_rejects_an_attribute_of_a_profile_not_declared() {
    let mut v = valid_authentication();
    v["time_dt"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(
        errors_of(&v),
        [
            r#"authentication.time_dt: attribute of the profile "datetime", not in metadata.profiles"#
        ]
    );
    v["metadata"]["profiles"] = json!(["datetime"]);
    assert_eq!(errors_of(&v), Vec::<String>::new());
    // A base event has no actor or source at all.
    let base = json!({
        "category_uid": 0, "class_uid": 0, "activity_id": 99, "type_uid": 99,
        "severity_id": 1, "time": 1, "actor": {"user": {"uid": "u"}},
        "metadata": {"version": "1.1.0", "product": {"vendor_name": "activity", "name": "activity"}}
    });
    assert_eq!(
        errors_of(&base),
        ["base_event.actor: not an attribute of base_event"]
    );
}
