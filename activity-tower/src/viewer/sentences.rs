//! The sentences the viewer shows for events: one table, keyed by action code (and
//! reason), with a form for the person the event is about ("You signed in") and one for
//! an administrator reading everyone's log ("Signed in"). English is built in; an
//! application replaces wording or language with [`Sentences::set`] or a whole table with
//! [`Sentences::from_json`].

use std::collections::HashMap;

use activity_core::ActivityEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::Error;

/// Who reads the sentence.
///
/// ```
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::viewer::{Reader, Sentences};
/// let e = ActivityEvent::login_succeeded(Actor::user("bob"));
/// let english = Sentences::english();
/// assert_eq!(english.describe(&e, Reader::Subject), "You signed in");
/// assert_eq!(english.describe(&e, Reader::Administrator), "Signed in");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The person the event is about, on their own Activity Log.
    Subject,
    /// An administrator on the tenant's Audit Log (the user is in its own column).
    Administrator,
}

/// One entry: the subject's form and the administrator's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sentence {
    /// Read by the person the event is about ("You signed in").
    pub you: String,
    /// Read by an administrator ("Signed in").
    pub them: String,
}

/// The table of sentences, by key: an action code (`auth.login.failed`) or an action code
/// and reason (`auth.login.failed:bad_password`), the more specific one first.
///
/// A sentence may name values of the event in braces: `{failures}`, `{method}`, `{by}`,
/// `{message}` and any other top-level field of its `details`, plus `{reason}`,
/// `{actor}` and `{target}`. Alternatives are separated by `|`: the first whose values
/// are all present is used, so `"Locked after {failures} failed attempts|Locked"` reads
/// well with or without the count. An event no entry names is shown by its action code.
///
/// ```
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::viewer::{Reader, Sentences};
/// let failed = ActivityEvent::login_failed(Actor::user("bob")).with_reason("bad_password");
/// let mut table = Sentences::english();
/// assert_eq!(table.describe(&failed, Reader::Subject), "Wrong password entered");
/// // The application's own wording, and another language.
/// table = table.set("auth.login.failed:bad_password", "Falsches Passwort", "Falsches Passwort").lang("de");
/// assert_eq!(table.describe(&failed, Reader::Subject), "Falsches Passwort");
/// assert_eq!(table.language(), "de");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentences {
    lang: String,
    entries: HashMap<String, Sentence>,
}

/// The built-in English table: (key, subject's form, administrator's form).
pub const ENGLISH: &[(&str, &str, &str)] = &[
    ("auth.login.succeeded", "You signed in", "Signed in"),
    (
        "auth.login.failed:bad_password",
        "Wrong password entered",
        "Wrong password entered",
    ),
    (
        "auth.login.failed:unknown_user",
        "Sign-in tried with an unknown account name",
        "Sign-in tried with an unknown account name",
    ),
    (
        "auth.login.failed:locked",
        "Sign-in refused: your account was locked",
        "Sign-in refused: the account was locked",
    ),
    ("auth.login.failed", "Sign-in failed", "Sign-in failed"),
    ("auth.logout", "Signed out", "Signed out"),
    (
        "mfa.enrolled",
        "Two-step verification turned on",
        "Two-step verification turned on",
    ),
    (
        "mfa.updated",
        "Two-step verification changed",
        "Two-step verification changed",
    ),
    (
        "mfa.removed",
        "Two-step verification turned off",
        "Two-step verification turned off",
    ),
    (
        "mfa.verified",
        "Two-step verification code accepted",
        "Two-step verification code accepted",
    ),
    (
        "mfa.failed",
        "Wrong two-step verification code entered",
        "Wrong two-step verification code entered",
    ),
    (
        "password.reset.requested",
        "Password reset requested",
        "Password reset requested",
    ),
    (
        "password.reset.completed",
        "Your password was reset",
        "Password reset",
    ),
    (
        "password.changed",
        "Your password was changed",
        "Password changed",
    ),
    ("session.created", "New session started", "Session started"),
    ("session.terminated", "Session ended", "Session ended"),
    ("session.expired", "Session expired", "Session expired"),
    (
        "lockout.triggered",
        "Your account was locked after {failures} failed attempts|Your account was locked",
        "Account locked after {failures} failed attempts|Account locked",
    ),
    (
        "lockout.released:admin_unlock",
        "An administrator unlocked your account",
        "Account unlocked by {by}|Account unlocked by an administrator",
    ),
    (
        "lockout.released:expired",
        "Your account's lock ran out",
        "Lock ran out",
    ),
    (
        "lockout.released:password_reset",
        "Your account was unlocked by a password reset",
        "Account unlocked by a password reset",
    ),
    (
        "lockout.released",
        "Your account was unlocked",
        "Account unlocked",
    ),
    (
        "alert.raised",
        "Security alert: {message}|Security alert",
        "Security alert: {message}|Security alert: {reason}|Security alert",
    ),
    (
        "audit.viewed",
        "You viewed your activity log",
        "Viewed the activity log",
    ),
    (
        "audit.exported",
        "You exported your activity log",
        "Exported the activity log",
    ),
    (
        "audit.started",
        "Activity logging started",
        "Activity logging started",
    ),
    (
        "audit.stopped",
        "Activity logging stopped",
        "Activity logging stopped",
    ),
    (
        "audit.failed",
        "Activity logging was interrupted",
        "Activity logging was interrupted",
    ),
    (
        "audit.recovered",
        "Activity logging resumed",
        "Activity logging resumed",
    ),
    (
        "audit.purged",
        "Old activity removed",
        "Old activity removed",
    ),
    (
        "audit.verified",
        "The log's integrity was checked",
        "The log's integrity was checked",
    ),
    (
        "audit.reviewed",
        "You signed off a log review",
        "Log review signed off",
    ),
    (
        "admin.config.changed",
        "You changed settings",
        "Settings changed",
    ),
    (
        "admin.role.changed",
        "You changed the role of {target}|You changed a role",
        "Role of {target} changed|Role changed",
    ),
    (
        "admin.user.unlocked",
        "You unlocked {target}|You unlocked an account",
        "Unlocked {target}|Unlocked an account",
    ),
    (
        "access.denied",
        "An access policy blocked a request",
        "Blocked by an access policy",
    ),
    (
        "access.reported",
        "An access policy would have blocked a request (report only)",
        "Would have been blocked by an access policy (report only)",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    lang: String,
    sentences: HashMap<String, Sentence>,
}

impl Default for Sentences {
    fn default() -> Self {
        Self::english()
    }
}

impl Sentences {
    /// The built-in English table ([`ENGLISH`]).
    pub fn english() -> Self {
        Self {
            lang: "en".to_owned(),
            entries: ENGLISH
                .iter()
                .map(|(k, you, them)| {
                    (
                        (*k).to_owned(),
                        Sentence {
                            you: (*you).to_owned(),
                            them: (*them).to_owned(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// A whole table from JSON: `{"lang": "de", "sentences": {"auth.login.succeeded":
    /// {"you": "Sie haben sich angemeldet", "them": "Angemeldet"}, …}}`. Keys it leaves
    /// out show the action code.
    ///
    /// ```
    /// use activity_core::{ActivityEvent, Actor};
    /// use activity_tower::viewer::{Reader, Sentences};
    /// let de = Sentences::from_json(r#"{"lang": "de", "sentences": {
    ///     "auth.logout": {"you": "Sie haben sich abgemeldet", "them": "Abgemeldet"}}}"#).unwrap();
    /// let e = ActivityEvent::logout(Actor::user("bob"));
    /// assert_eq!(de.describe(&e, Reader::Subject), "Sie haben sich abgemeldet");
    /// assert!(Sentences::from_json(r#"{"lang": "de"}"#).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] (setting `sentences`) for JSON that is not such a table, a
    /// language tag that is not one, or a key that is not an action code.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let file: TableFile = serde_json::from_str(json)
            .map_err(|e| Error::config("sentences", "not a sentence table").with_source(e))?;
        if !valid_lang(&file.lang) {
            return Err(Error::config("sentences", "lang is not a language tag"));
        }
        let mut table = Self {
            lang: file.lang,
            entries: HashMap::new(),
        };
        for (key, s) in file.sentences {
            check_key(&key)?;
            table.entries.insert(key, s);
        }
        Ok(table)
    }

    /// Sets (or replaces) the entry `key`.
    pub fn set(mut self, key: &str, you: impl Into<String>, them: impl Into<String>) -> Self {
        self.entries.insert(
            key.to_owned(),
            Sentence {
                you: you.into(),
                them: them.into(),
            },
        );
        self
    }

    /// The table's language (a BCP 47 tag such as `en` or `pt-BR`), which the page
    /// marks its sentences with. Anything else than letters, digits and `-` (up to 35
    /// characters) leaves it unchanged.
    pub fn lang(mut self, tag: &str) -> Self {
        if valid_lang(tag) {
            self.lang = tag.to_owned();
        }
        self
    }

    /// The table's language tag.
    pub fn language(&self) -> &str {
        &self.lang
    }

    /// The entry for `key`, if the table has one.
    pub fn get(&self, key: &str) -> Option<&Sentence> {
        self.entries.get(key)
    }

    /// The sentence for `e`, as `reader` reads it: the `action:reason` entry, else the
    /// action's, else the action code.
    pub fn describe(&self, e: &ActivityEvent, reader: Reader) -> String {
        let action = e.action.as_str();
        let specific = e.reason.as_deref().map(|r| format!("{action}:{r}"));
        for key in specific.iter().map(String::as_str).chain([action]) {
            if let Some(s) = self.entries.get(key) {
                let text = match reader {
                    Reader::Subject => &s.you,
                    Reader::Administrator => &s.them,
                };
                if let Some(filled) = text.split('|').find_map(|alt| fill(alt, e)) {
                    return filled;
                }
            }
        }
        action.to_owned()
    }
}

fn valid_lang(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 35
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn check_key(key: &str) -> Result<(), Error> {
    let action = key.split(':').next().unwrap_or("");
    let reason_ok = key.split(':').count() <= 2;
    if activity_core::Action::new(action).is_err() || !reason_ok {
        return Err(Error::config(
            "sentences",
            format!(
                "key `{}` is not action or action:reason",
                key.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// The longest value put into a sentence, in characters.
const MAX_VALUE_CHARS: usize = 200;

/// `template` with each `{name}` replaced by the event's value, or `None` when one is
/// missing.
fn fill(template: &str, e: &ActivityEvent) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let value = value(&after[..close], e)?;
        out.extend(value.chars().take(MAX_VALUE_CHARS));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Some(out.trim().to_owned())
}

fn value(name: &str, e: &ActivityEvent) -> Option<String> {
    let text = match name {
        "reason" => e.reason.clone(),
        "actor" => e
            .actor
            .as_ref()
            .map(|a| a.name.clone().unwrap_or_else(|| a.id.clone())),
        "target" => e
            .target
            .as_ref()
            .and_then(|t| t.name.clone().or_else(|| t.id.clone())),
        _ => match e.details.as_ref()?.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        },
    }?;
    (!text.trim().is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::event::payload::{LockoutReleased, LockoutTriggered, Payload};
    use activity_core::{Action, Actor};

    #[test]
    fn every_built_in_action_reads_as_a_sentence() {
        let t = Sentences::english();
        for a in Action::BUILT_IN {
            let e = ActivityEvent::new(a.clone());
            for r in [Reader::Subject, Reader::Administrator] {
                let s = t.describe(&e, r);
                assert_ne!(s, a.as_str(), "{a} has no sentence");
                assert!(!s.contains('{') && !s.contains('|'), "{a}: {s}");
            }
        }
        for (k, _, _) in ENGLISH {
            check_key(k).unwrap();
        }
    }

    #[test]
    fn values_fill_in_and_alternatives_cover_missing_ones() {
        let t = Sentences::english();
        let lock = LockoutTriggered {
            failures: 10,
            trigger: "x".into(),
            until: None,
            minutes: None,
            permanent: true,
        }
        .write(ActivityEvent::new(Action::LOCKOUT_TRIGGERED).with_actor(Actor::user("bob")));
        assert_eq!(
            t.describe(&lock, Reader::Subject),
            "Your account was locked after 10 failed attempts"
        );
        let bare = ActivityEvent::new(Action::LOCKOUT_TRIGGERED);
        assert_eq!(
            t.describe(&bare, Reader::Subject),
            "Your account was locked"
        );
        let released = LockoutReleased {
            by: Some("alice@example.com".into()),
        }
        .write(ActivityEvent::lockout_released(
            Actor::user("bob"),
            "admin_unlock",
        ));
        assert_eq!(
            t.describe(&released, Reader::Administrator),
            "Account unlocked by alice@example.com"
        );
        assert_eq!(
            t.describe(&released, Reader::Subject),
            "An administrator unlocked your account"
        );
        // An unknown reason falls back to the action's sentence; an unknown action to its code.
        let other = ActivityEvent::login_failed(Actor::user("bob")).with_reason("captcha");
        assert_eq!(t.describe(&other, Reader::Subject), "Sign-in failed");
        let custom = ActivityEvent::custom("document.viewed").unwrap();
        assert_eq!(t.describe(&custom, Reader::Subject), "document.viewed");
    }

    #[test]
    fn hostile_tables_and_values_are_refused_or_contained() {
        assert!(Sentences::from_json("[]").is_err());
        assert!(Sentences::from_json(r#"{"lang": "en\"><", "sentences": {}}"#).is_err());
        assert!(Sentences::from_json(
            r#"{"lang": "en", "sentences": {"Bad Key": {"you": "a", "them": "b"}}}"#
        )
        .is_err());
        assert!(Sentences::from_json(r#"{"lang": "en", "sentences": {}, "x": 1}"#).is_err());
        assert_eq!(Sentences::english().lang("<script>").language(), "en");
        // An unclosed brace is not a sentence: the next alternative, or the code.
        let t = Sentences::english().set("auth.logout", "Bye {", "Bye {");
        let e = ActivityEvent::logout(Actor::user("bob"));
        assert_eq!(t.describe(&e, Reader::Subject), "auth.logout");
        // A long detail is cut.
        let t = Sentences::english();
        let alert =
            ActivityEvent::new(Action::ALERT_RAISED).with_detail("message", "x".repeat(5000));
        assert!(t.describe(&alert, Reader::Subject).chars().count() <= 220);
    }
}
