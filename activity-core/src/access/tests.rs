use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::event::DefaultNormalizer;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn req(ip: &str, at: DateTime<Utc>) -> AccessRequest<'static> {
    AccessRequest {
        tenant: Some("acme"),
        account: Some("alice@acme.example"),
        roles: &[],
        ip: Some(ip.parse().unwrap()),
        country: None,
        at,
    }
}

fn set_of(rules: Vec<AccessRule>) -> PolicySet {
    let mut set = PolicySet::default();
    set.tenants
        .insert("acme".into(), AccessPolicy::new(rules).unwrap());
    set
}

fn reason(set: &PolicySet, r: &AccessRequest<'_>) -> Option<Reason> {
    set.decide(r, &DefaultNormalizer).denied.map(|d| d.reason)
}

fn net(allow: &[&str], deny: &[&str]) -> NetworkRule {
    NetworkRule {
        allow: allow.iter().map(|n| n.parse().unwrap()).collect(),
        deny: deny.iter().map(|n| n.parse().unwrap()).collect(),
    }
}

#[test]
fn networks_allow_and_deny_in_both_families_and_deny_wins() {
    let set = set_of(vec![AccessRule::network(
        "office",
        net(
            &["10.0.0.0/8", "2001:db8:1::/48"],
            &["10.6.6.0/24", "2001:db8:1:6::/64"],
        ),
    )]);
    let now = utc(2026, 12, 3, 12, 0);
    assert_eq!(reason(&set, &req("10.1.1.1", now)), None);
    assert_eq!(reason(&set, &req("2001:db8:1:2::5", now)), None);
    assert_eq!(reason(&set, &req("10.6.6.1", now)), Some(Reason::IpDenied));
    assert_eq!(
        reason(&set, &req("2001:db8:1:6::1", now)),
        Some(Reason::IpDenied)
    );
    assert_eq!(reason(&set, &req("192.0.2.1", now)), Some(Reason::IpDenied));
    assert_eq!(
        reason(&set, &req("2001:db8:2::1", now)),
        Some(Reason::IpDenied)
    );
    // A mapped IPv4 address is the IPv4 address.
    assert_eq!(
        reason(&set, &req("::ffff:10.6.6.1", now)),
        Some(Reason::IpDenied)
    );
    assert_eq!(reason(&set, &req("::ffff:10.1.1.1", now)), None);
    let unknown = AccessRequest {
        ip: None,
        ..req("10.1.1.1", now)
    };
    assert_eq!(reason(&set, &unknown), Some(Reason::IpDenied));
    // A deny list alone lets everything else through, an unknown address too.
    let deny_only = set_of(vec![AccessRule::network(
        "bad",
        net(&[], &["203.0.113.0/24"]),
    )]);
    assert_eq!(
        reason(&deny_only, &req("203.0.113.9", now)),
        Some(Reason::IpDenied)
    );
    assert_eq!(reason(&deny_only, &req("198.51.100.1", now)), None);
    assert_eq!(reason(&deny_only, &unknown), None);
}

#[test]
fn countries_allow_deny_and_unknown() {
    let now = utc(2026, 12, 3, 12, 0);
    let with = |c: Option<&'static str>| AccessRequest {
        country: c,
        ..req("192.0.2.1", now)
    };
    let eu = set_of(vec![AccessRule::country(
        "eu",
        CountryRule {
            allow: vec!["DE".into(), "FR".into()],
            ..CountryRule::default()
        },
    )]);
    assert_eq!(reason(&eu, &with(Some("DE"))), None);
    assert_eq!(reason(&eu, &with(Some("us"))), Some(Reason::CountryDenied));
    assert_eq!(reason(&eu, &with(None)), Some(Reason::CountryDenied));
    let lenient = set_of(vec![AccessRule::country(
        "eu",
        CountryRule {
            allow: vec!["DE".into()],
            unknown: Some(Unknown::Allow),
            ..CountryRule::default()
        },
    )]);
    assert_eq!(reason(&lenient, &with(None)), None);
    let no_kp = set_of(vec![AccessRule::country(
        "no-kp",
        CountryRule {
            deny: vec!["KP".into()],
            allow: vec!["KP".into(), "GB".into()],
            ..CountryRule::default()
        },
    )]);
    assert_eq!(
        reason(&no_kp, &with(Some("KP"))),
        Some(Reason::CountryDenied),
        "deny wins"
    );
    assert_eq!(reason(&no_kp, &with(Some("GB"))), None);
}

fn berlin_office() -> HoursRule {
    HoursRule {
        zone: "Europe/Berlin".parse().unwrap(),
        windows: vec![Window::new(&Day::WEEKDAYS, "08:00", "18:00").unwrap()],
    }
}

#[test]
fn hours_follow_the_zone_across_both_daylight_saving_transitions() {
    let set = set_of(vec![AccessRule::hours("office", berlin_office())]);
    let at = |t| reason(&set, &req("192.0.2.1", t));
    // Winter (CET, UTC+1): 08:00 local is 07:00 UTC.
    assert_eq!(at(utc(2026, 3, 27, 6, 59)), Some(Reason::OutsideHours)); // Fri 07:59
    assert_eq!(at(utc(2026, 3, 27, 7, 0)), None); // Fri 08:00
                                                  // Clocks go forward on Sunday 29 March 2026; on Monday (CEST, UTC+2) 08:00 is 06:00 UTC.
    assert_eq!(at(utc(2026, 3, 30, 5, 59)), Some(Reason::OutsideHours));
    assert_eq!(at(utc(2026, 3, 30, 6, 0)), None);
    assert_eq!(at(utc(2026, 3, 30, 15, 59)), None); // 17:59
    assert_eq!(at(utc(2026, 3, 30, 16, 0)), Some(Reason::OutsideHours)); // 18:00
                                                                         // Clocks go back on Sunday 25 October 2026; on Monday 08:00 is 07:00 UTC again.
    assert_eq!(at(utc(2026, 10, 23, 6, 0)), None); // Fri 08:00 CEST
    assert_eq!(at(utc(2026, 10, 26, 6, 0)), Some(Reason::OutsideHours)); // Mon 07:00 CET
    assert_eq!(at(utc(2026, 10, 26, 7, 0)), None);
    // The decision records the local time it judged.
    let d = set.decide(
        &req("192.0.2.1", utc(2026, 10, 26, 6, 0)),
        &DefaultNormalizer,
    );
    assert_eq!(
        d.denied.unwrap().local_time.as_deref(),
        Some("2026-10-26T07:00:00+01:00")
    );
}

#[test]
fn a_window_inside_the_repeated_and_the_skipped_hour() {
    // 02:00–03:00 local every day: skipped on 29 March, lived twice on 25 October.
    let rule = HoursRule {
        zone: "Europe/Berlin".parse().unwrap(),
        windows: vec![Window::new(&Day::ALL, "02:00", "03:00").unwrap()],
    };
    // 29 March: 00:59 UTC is 01:59 CET, 01:00 UTC is 03:00 CEST: never inside.
    assert!(!rule.permits(utc(2026, 3, 29, 0, 59)));
    assert!(!rule.permits(utc(2026, 3, 29, 1, 0)));
    // 25 October: 00:30 UTC is 02:30 CEST and 01:30 UTC is 02:30 CET: both inside.
    assert!(rule.permits(utc(2026, 10, 25, 0, 30)));
    assert!(rule.permits(utc(2026, 10, 25, 1, 30)));
    assert!(!rule.permits(utc(2026, 10, 25, 2, 0))); // 03:00 CET
}

#[test]
fn night_shifts_run_past_midnight_on_the_day_they_start() {
    let rule = HoursRule {
        zone: "America/New_York".parse().unwrap(),
        windows: vec![Window::new(&[Day::Fri], "22:00", "06:00").unwrap()],
    };
    // Friday 4 December 2026 23:00 EST = Saturday 04:00 UTC.
    assert!(rule.permits(utc(2026, 12, 5, 4, 0)));
    // Saturday 05:59 EST = 10:59 UTC: still Friday's night.
    assert!(rule.permits(utc(2026, 12, 5, 10, 59)));
    assert!(!rule.permits(utc(2026, 12, 5, 11, 0))); // Saturday 06:00
                                                     // Friday 05:00 EST belongs to Thursday's night, which is not a window.
    assert!(!rule.permits(utc(2026, 12, 4, 10, 0)));
    // A whole day.
    let all_day = Window::new(&[Day::Sun], "00:00", "24:00").unwrap();
    assert!(all_day.contains(Day::Sun, 0) && all_day.contains(Day::Sun, 1439));
    assert!(!all_day.contains(Day::Mon, 0));
}

#[test]
fn report_only_rules_report_and_enforced_ones_deny() {
    let set = set_of(vec![
        AccessRule::hours("office", berlin_office()).report_only(),
        AccessRule::network("office-net", net(&["10.0.0.0/8"], &[])).report_only(),
    ]);
    let saturday = utc(2026, 12, 5, 10, 0);
    let d = set.decide(&req("192.0.2.1", saturday), &DefaultNormalizer);
    assert!(d.allowed());
    let rules: Vec<_> = d
        .reported
        .iter()
        .map(|r| (r.rule.as_str(), r.reason))
        .collect();
    assert_eq!(
        rules,
        [
            ("office", Reason::OutsideHours),
            ("office-net", Reason::IpDenied)
        ]
    );
    let enforced = set_of(vec![
        AccessRule::hours("office", berlin_office()).report_only(),
        AccessRule::network("office-net", net(&["10.0.0.0/8"], &[])),
    ]);
    let d = enforced.decide(&req("192.0.2.1", saturday), &DefaultNormalizer);
    assert_eq!(d.denied.as_ref().unwrap().rule, "office-net");
    assert_eq!(d.reported.len(), 1);
}

#[test]
fn break_glass_accounts_and_roles() {
    let set = set_of(vec![
        AccessRule::network("office", net(&["10.0.0.0/8"], &[]))
            .exempting(&["  Root@ACME.example "]),
        AccessRule::hours("contractors", berlin_office()).for_roles(&["contractor"]),
    ]);
    let saturday = utc(2026, 12, 5, 10, 0);
    let root = AccessRequest {
        account: Some("root@acme.example"),
        ..req("192.0.2.1", saturday)
    };
    assert!(set.decide(&root, &DefaultNormalizer).allowed());
    let alice = req("10.0.0.1", saturday);
    assert!(
        set.decide(&alice, &DefaultNormalizer).allowed(),
        "no role: the hours rule does not apply"
    );
    let roles = ["contractor".to_owned()];
    let contractor = AccessRequest {
        roles: &roles,
        ..alice
    };
    assert_eq!(reason(&set, &contractor), Some(Reason::OutsideHours));
}

#[test]
fn the_global_policy_is_judged_first_and_applies_to_every_tenant() {
    let mut set = set_of(vec![AccessRule::network(
        "acme-net",
        net(&["10.0.0.0/8"], &[]),
    )]);
    set.global = Some(
        AccessPolicy::new(vec![AccessRule::network(
            "blocklist",
            net(&[], &["10.9.0.0/16"]),
        )])
        .unwrap(),
    );
    let now = utc(2026, 12, 3, 12, 0);
    let d = set
        .decide(&req("10.9.0.1", now), &DefaultNormalizer)
        .denied
        .unwrap();
    assert_eq!((d.policy, d.rule.as_str()), (None, "blocklist"));
    let d = set
        .decide(&req("192.0.2.1", now), &DefaultNormalizer)
        .denied
        .unwrap();
    assert_eq!(
        (d.policy.as_deref(), d.rule.as_str()),
        (Some("acme"), "acme-net")
    );
    let other = AccessRequest {
        tenant: Some("other"),
        ..req("10.9.0.1", now)
    };
    assert_eq!(reason(&set, &other), Some(Reason::IpDenied));
    let no_tenant = AccessRequest {
        tenant: None,
        ..req("192.0.2.1", now)
    };
    assert!(set.decide(&no_tenant, &DefaultNormalizer).allowed());
}

#[test]
fn bad_policies_are_refused_with_the_rule_named() {
    for (text, needle) in [
        (r#"{"rules":[{"id":"a"}]}"#, "exactly one"),
        (
            r#"{"rules":[{"id":"a","network":{},"country":{}}]}"#,
            "exactly one",
        ),
        (
            r#"{"rules":[{"id":"a","network":{}},{"id":"a","network":{}}]}"#,
            "unique",
        ),
        (r#"{"rules":[{"id":"","network":{}}]}"#, "1 to 64"),
        (
            r#"{"rules":[{"id":"a","network":{"allow":["10.0.0.0/33"]}}]}"#,
            "access policy",
        ),
        (
            r#"{"rules":[{"id":"a","country":{"deny":["Germany"]}}]}"#,
            "alpha-2",
        ),
        (
            r#"{"rules":[{"id":"a","hours":{"zone":"Mars/Olympus","windows":[]}}]}"#,
            "IANA",
        ),
        (
            r#"{"rules":[{"id":"a","hours":{"zone":"UTC","windows":[]}}]}"#,
            "at least one window",
        ),
        (
            r#"{"rules":[{"id":"a","hours":{"zone":"UTC","windows":[{"days":["mon"],"from":"8:00","to":"18:00"}]}}]}"#,
            "HH:MM",
        ),
        (
            r#"{"rules":[{"id":"a","hours":{"zone":"UTC","windows":[{"days":["mon"],"from":"08:00","to":"24:01"}]}}]}"#,
            "HH:MM",
        ),
        (
            r#"{"rules":[{"id":"a","network":{},"report_olny":true}]}"#,
            "unknown field",
        ),
        ("not json", "access policy"),
    ] {
        let err = AccessPolicy::from_json(text).unwrap_err().to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn a_policy_survives_its_json() {
    let p = AccessPolicy::new(vec![
        AccessRule::network("n", net(&["10.0.0.0/8", "2001:db8::/32"], &["10.6.0.0/16"]))
            .exempting(&["root"]),
        AccessRule::country(
            "c",
            CountryRule {
                deny: vec!["KP".into()],
                unknown: Some(Unknown::Deny),
                ..CountryRule::default()
            },
        ),
        AccessRule::hours("h", berlin_office())
            .for_roles(&["contractor"])
            .report_only(),
    ])
    .unwrap();
    assert_eq!(AccessPolicy::from_json(&p.to_json()).unwrap(), p);
}
