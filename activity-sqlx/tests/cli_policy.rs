//! `activity policy show|set|test` end to end on SQLite: a policy set from a file is
//! shown, tested (the decision and the rule that made it, exit 3 when denied), recorded
//! as `admin.config.changed`, and a bad file is refused with the rule named.

use std::path::PathBuf;
use std::process::{Command, Output};

struct Db {
    dir: PathBuf,
    url: String,
}

impl Db {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("activity-cli-policy-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/cli.db", dir.display());
        let db = Self { dir, url };
        assert!(db.run(&["migrate"]).status.success());
        db
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_activity"))
            .env_remove("ACTIVITY_DATABASE_URL")
            .env_remove("ACTIVITY_CHAIN_KEY")
            .env("USER", "ops")
            .current_dir(&self.dir)
            .arg("--db")
            .arg(&self.url)
            .args(args)
            .output()
            .unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const POLICY: &str = r#"{"rules": [
  {"id": "office", "network": {"allow": ["10.0.0.0/8", "2001:db8::/32"]}, "exempt": ["root"]},
  {"id": "hours", "hours": {"zone": "Europe/Berlin",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "18:00"}]}},
  {"id": "no-kp", "country": {"deny": ["KP"]}, "report_only": true}
]}"#;

#[test]
fn set_show_and_test_a_policy() {
    let db = Db::new();
    // Nothing set: everything is allowed.
    let o = db.run(&["policy", "test", "--tenant", "acme", "--ip", "1.2.3.4"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).starts_with("allowed"));

    let file = db.file("acme.json", POLICY);
    let o = db.run(&["policy", "set", &file, "--tenant", "acme"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out(&o).contains("3 rules (version 1)"), "{}", out(&o));

    let o = db.run(&["policy", "show", "--tenant", "acme"]);
    let shown: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(shown["rules"][0]["id"], "office");
    let o = db.run(&["policy", "show"]);
    assert_eq!(out(&o).trim(), "{\n  \"rules\": []\n}", "no global policy");

    // Thursday 3 December 2026 22:00 UTC is 23:00 in Berlin: outside the hours; the
    // address is outside the office too, and the first rule decides.
    let o = db.run(&[
        "policy",
        "test",
        "--tenant",
        "acme",
        "--ip",
        "1.2.3.4",
        "--at",
        "2026-12-03T22:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        out(&o).contains("denied: ip_denied by rule \"office\" of tenant acme's policy"),
        "{}",
        out(&o)
    );
    let o = db.run(&[
        "policy",
        "test",
        "--tenant",
        "acme",
        "--ip",
        "10.0.0.1",
        "--at",
        "2026-12-03T22:00:00Z",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        out(&o).contains("outside_hours by rule \"hours\"")
            && out(&o).contains("local time 2026-12-03T23:00:00+01:00"),
        "{}",
        out(&o)
    );
    let o = db.run(&[
        "policy",
        "test",
        "--tenant",
        "acme",
        "--ip",
        "2001:db8::1",
        "--country",
        "KP",
        "--at",
        "2026-12-03T09:00:00Z",
    ]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("report-only: would deny: country_denied by rule \"no-kp\""));
    assert!(out(&o).contains("allowed"));
    // Break-glass.
    let o = db.run(&[
        "policy",
        "test",
        "--tenant",
        "acme",
        "--ip",
        "1.2.3.4",
        "--account",
        "ROOT",
        "--at",
        "2026-12-03T09:00:00Z",
    ]);
    assert!(o.status.success(), "{}", out(&o));

    // The change is in the log, by the operator.
    let o = db.run(&[
        "query",
        "--action",
        "admin.config.changed",
        "--format",
        "json",
    ]);
    let lines: Vec<serde_json::Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", out(&o));
    assert_eq!(lines[0]["actor"]["id"], "ops");
    assert_eq!(lines[0]["tenant"], "acme");
    assert_eq!(lines[0]["details"]["new"]["rules"][1]["id"], "hours");

    // Cleared.
    let o = db.run(&[
        "policy",
        "set",
        "--clear",
        "--tenant",
        "acme",
        "--by",
        "alice-admin",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = db.run(&["policy", "test", "--tenant", "acme", "--ip", "1.2.3.4"]);
    assert!(o.status.success());
}

#[test]
fn a_bad_policy_file_is_refused_with_its_rule_named() {
    let db = Db::new();
    for (text, needle) in [
        (
            r#"{"rules": [{"id": "x", "hours": {"zone": "Mars/Base", "windows": []}}]}"#,
            "IANA",
        ),
        (
            r#"{"rules": [{"id": "x", "network": {"allow": ["10.0.0.0/99"]}}]}"#,
            "access policy",
        ),
        (
            r#"{"rules": [{"id": "x"}]}"#,
            "exactly one of network, country or hours",
        ),
        ("[1, 2", "access policy"),
    ] {
        let file = db.file("bad.json", text);
        let o = db.run(&["policy", "set", &file]);
        assert_eq!(o.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{text}: {err}");
    }
    let o = db.run(&["policy", "set", "/no/such/file.json"]);
    assert!(!o.status.success());
    let o = db.run(&["policy", "test", "--ip", "not-an-ip"]);
    assert_eq!(o.status.code(), Some(2));
    let o = db.run(&["policy", "test", "--at", "tomorrow-ish"]);
    assert_eq!(o.status.code(), Some(2));
    // Nothing was changed.
    let o = db.run(&["policy", "show", "--all"]);
    let all: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(all["version"], 0);
}
