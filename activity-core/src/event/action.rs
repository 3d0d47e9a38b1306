//! Action codes: stable dotted names such as `auth.login.failed`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result, Rule};

/// The longest action code accepted, in bytes.
pub const MAX_ACTION_LEN: usize = 128;

/// A validated action code: two or more dot-separated segments of lowercase ASCII letters,
/// digits, `_` or `-`, each starting with a letter; at most [`MAX_ACTION_LEN`] bytes.
///
/// The category is the first segment. The product's actions are associated constants;
/// app-defined ones go through [`Action::new`].
///
/// ```
/// use activity_core::Action;
/// assert_eq!(Action::LOGIN_FAILED.category(), "auth");
/// let custom = Action::new("document.viewed").unwrap();
/// assert_eq!(custom.category(), "document");
/// assert!(Action::new("Document Viewed").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Action(Cow<'static, str>);

macro_rules! actions {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        impl Action {
            $($(#[$doc])* pub const $name: Action = Action(Cow::Borrowed($code));)*

            /// Every action the product names (DESIGN.md's table), in table order.
            pub const BUILT_IN: &'static [Action] = &[$(Action::$name),*];

            /// The built-in action whose code is `code`, if any.
            fn built_in(code: &str) -> Option<Action> {
                match code {
                    $($code => Some(Action::$name),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    /// `auth.login.succeeded`
    LOGIN_SUCCEEDED = "auth.login.succeeded";
    /// `auth.login.failed`
    LOGIN_FAILED = "auth.login.failed";
    /// `auth.logout`
    LOGOUT = "auth.logout";
    /// `mfa.enrolled`
    MFA_ENROLLED = "mfa.enrolled";
    /// `mfa.updated`
    MFA_UPDATED = "mfa.updated";
    /// `mfa.removed`
    MFA_REMOVED = "mfa.removed";
    /// `mfa.verified`
    MFA_VERIFIED = "mfa.verified";
    /// `mfa.failed`
    MFA_FAILED = "mfa.failed";
    /// `password.reset.requested`
    PASSWORD_RESET_REQUESTED = "password.reset.requested";
    /// `password.reset.completed`
    PASSWORD_RESET_COMPLETED = "password.reset.completed";
    /// `password.changed`
    PASSWORD_CHANGED = "password.changed";
    /// `session.created`
    SESSION_CREATED = "session.created";
    /// `session.terminated`
    SESSION_TERMINATED = "session.terminated";
    /// `session.expired`
    SESSION_EXPIRED = "session.expired";
    /// `lockout.triggered`
    LOCKOUT_TRIGGERED = "lockout.triggered";
    /// `lockout.released`
    LOCKOUT_RELEASED = "lockout.released";
    /// `alert.raised`
    ALERT_RAISED = "alert.raised";
    /// `audit.started`
    AUDIT_STARTED = "audit.started";
    /// `audit.stopped`
    AUDIT_STOPPED = "audit.stopped";
    /// `audit.failed`
    AUDIT_FAILED = "audit.failed";
    /// `audit.recovered`
    AUDIT_RECOVERED = "audit.recovered";
    /// `audit.viewed`
    AUDIT_VIEWED = "audit.viewed";
    /// `audit.exported`
    AUDIT_EXPORTED = "audit.exported";
    /// `audit.purged`
    AUDIT_PURGED = "audit.purged";
    /// `audit.verified`
    AUDIT_VERIFIED = "audit.verified";
    /// `audit.reviewed`
    AUDIT_REVIEWED = "audit.reviewed";
    /// `admin.config.changed`
    ADMIN_CONFIG_CHANGED = "admin.config.changed";
    /// `admin.role.changed`
    ADMIN_ROLE_CHANGED = "admin.role.changed";
    /// `admin.user.unlocked`
    ADMIN_USER_UNLOCKED = "admin.user.unlocked";
    /// `access.denied`: an access policy refused a request (`reason` is the code).
    ACCESS_DENIED = "access.denied";
    /// `access.reported`: a report-only access policy rule would have refused a request.
    ACCESS_REPORTED = "access.reported";
}

impl Action {
    /// Validates an app-defined action code.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `action` when the code is empty, too long, or not dotted
    /// lowercase segments.
    pub fn new(code: impl Into<String>) -> Result<Self> {
        let code = code.into();
        // A built-in code (most of what a store reads back) is the constant itself:
        // valid by construction, and cloned without copying.
        if let Some(known) = Self::built_in(&code) {
            return Ok(known);
        }
        check_code(&code, "action")?;
        Ok(Action(Cow::Owned(code)))
    }

    /// The code, e.g. `auth.login.failed`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The category: the code's first segment, e.g. `auth`.
    pub fn category(&self) -> &str {
        self.0.split('.').next().unwrap_or("")
    }

    /// Whether this is the code `code` or belongs to the category `code`.
    ///
    /// ```
    /// use activity_core::Action;
    /// assert!(Action::MFA_FAILED.matches("mfa"));
    /// assert!(Action::MFA_FAILED.matches("mfa.failed"));
    /// assert!(!Action::MFA_FAILED.matches("mf"));
    /// ```
    pub fn matches(&self, code: &str) -> bool {
        let s = self.as_str();
        s == code
            || (s.len() > code.len() && s.starts_with(code) && s.as_bytes()[code.len()] == b'.')
    }
}

/// Checks an action code or category prefix (`min_segments` 1 for categories).
pub(crate) fn check_code_segments(code: &str, field: &str, min_segments: usize) -> Result<()> {
    if code.is_empty() {
        return Err(Error::invalid(field, Rule::Missing));
    }
    if code.len() > MAX_ACTION_LEN {
        return Err(Error::invalid(
            field,
            Rule::TooLong {
                max: MAX_ACTION_LEN,
            },
        ));
    }
    let mut segments = 0;
    for seg in code.split('.') {
        segments += 1;
        let mut bytes = seg.bytes();
        match bytes.next() {
            Some(b'a'..=b'z') => {}
            _ => {
                return Err(Error::invalid(
                    field,
                    Rule::Malformed(
                        "each dot-separated segment must start with a lowercase letter",
                    ),
                ))
            }
        }
        if !bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')) {
            return Err(Error::invalid(
                field,
                Rule::Malformed("segments hold only lowercase letters, digits, `_` and `-`"),
            ));
        }
    }
    if segments < min_segments {
        return Err(Error::invalid(
            field,
            Rule::Malformed("an action code has at least two dot-separated segments"),
        ));
    }
    Ok(())
}

fn check_code(code: &str, field: &str) -> Result<()> {
    check_code_segments(code, field, 2)
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Action({})", self.0)
    }
}

impl AsRef<str> for Action {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Action::new(s)
    }
}

impl TryFrom<String> for Action {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Action::new(s)
    }
}

impl TryFrom<&str> for Action {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        Action::new(s)
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Action::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_codes_are_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::BUILT_IN {
            check_code(a.as_str(), "action").unwrap();
            assert!(seen.insert(a.as_str()));
            // Parsing a built-in code gives the constant itself, not a copy.
            let parsed = Action::new(a.as_str().to_owned()).unwrap();
            assert_eq!(&parsed, a);
            assert!(matches!(parsed.0, Cow::Borrowed(_)), "{a}");
        }
        assert!(matches!(
            Action::new("app.thing.done").unwrap().0,
            Cow::Owned(_)
        ));
    }

    #[test]
    fn malformed_codes_are_rejected_with_the_rule() {
        for bad in [
            "",
            "login",
            "Auth.login",
            "auth..login",
            "auth.login.",
            ".auth",
            "auth.1login",
            "auth.lo gin",
            "auth.logïn",
            "auth.login\0",
        ] {
            let err = Action::new(bad).unwrap_err();
            assert_eq!(err.field(), Some("action"), "{bad:?}");
        }
        let long = format!("a.{}", "b".repeat(MAX_ACTION_LEN));
        assert!(matches!(
            Action::new(long).unwrap_err(),
            Error::Invalid {
                rule: Rule::TooLong { .. },
                ..
            }
        ));
    }

    #[test]
    fn category_matching_is_by_whole_segment() {
        assert!(Action::LOGIN_FAILED.matches("auth"));
        assert!(Action::LOGIN_FAILED.matches("auth.login"));
        assert!(!Action::LOGIN_FAILED.matches("aut"));
        assert!(!Action::LOGIN_FAILED.matches("auth.login.failed.x"));
    }
}
