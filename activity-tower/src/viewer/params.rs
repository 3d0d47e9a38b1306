//! Query-string parameters of the viewer endpoints, parsed strictly and scoped to the
//! viewer: a filter can narrow what a viewer may see, never widen it.

use std::net::IpAddr;

use activity_core::{
    query::MAX_FILTER_VALUES, query::MAX_PAGE_SIZE, ActivityQuery, Cursor, Outcome,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::{Scope, Viewer};
use crate::Error;

/// The longest query string accepted.
pub(crate) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// The decoded `key=value` pairs of a query string.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `query`, refusing oversized strings and keys outside `allowed`.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, Error> {
        let query = query.unwrap_or("");
        if query.len() > MAX_QUERY_BYTES {
            return Err(Error::param("query", "longer than 8 KiB"));
        }
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k == "tenant" {
                return Err(Error::param(
                    "tenant",
                    "not a filter: the tenant comes from your sign-in",
                ));
            }
            if !allowed.contains(&k.as_ref()) {
                return Err(Error::param(&k, "unknown parameter"));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(pairs))
    }

    /// The single value of `key`; repeating it is an error; an empty value is absent.
    pub fn one(&self, key: &str) -> Result<Option<&str>, Error> {
        let mut found = None;
        for (k, v) in &self.0 {
            if k == key {
                if found.is_some() {
                    return Err(Error::param(key, "given more than once"));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.map(str::trim).filter(|v| !v.is_empty()))
    }

    /// Every value of `key`, each also split on commas.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn time(&self, key: &str) -> Result<Option<DateTime<Utc>>, Error> {
        self.one(key)?
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Error::param(key, "not an RFC 3339 time"))
            })
            .transpose()
    }

    /// An event id.
    pub fn uuid(&self, key: &str) -> Result<Option<Uuid>, Error> {
        self.one(key)?
            .map(|v| Uuid::try_parse(v).map_err(|_| Error::param(key, "not an event id")))
            .transpose()
    }
}

/// The keys a listing accepts.
pub(crate) const LIST_KEYS: &[&str] = &[
    "scope", "since", "until", "action", "outcome", "user", "ip", "cursor", "limit",
];

/// The keys an export accepts: a listing's, without the paging.
pub(crate) const EXPORT_KEYS: &[&str] =
    &["scope", "since", "until", "action", "outcome", "user", "ip"];

/// Builds the store query for `viewer` from a listing's or export's parameters.
pub(crate) fn scoped_query(p: &Params, viewer: &Viewer) -> Result<(Scope, ActivityQuery), Error> {
    let scope = match p.one("scope")? {
        None | Some("own") => Scope::Own,
        Some("tenant") if viewer.is_admin() => Scope::Tenant,
        Some("tenant") => {
            return Err(Error::Forbidden(
                "only administrators see the tenant's audit log",
            ))
        }
        Some(_) => return Err(Error::param("scope", "expected own or tenant")),
    };
    let user = p.one("user")?;
    let mut q = match scope {
        Scope::Own => {
            if user.is_some_and(|u| u != viewer.user_id) {
                return Err(Error::Forbidden("users see only their own activity"));
            }
            ActivityQuery::own(viewer.tenant.as_deref(), &viewer.user_id)
        }
        Scope::Tenant => {
            let mut q = ActivityQuery::new();
            q.tenant = viewer.tenant.clone();
            q.actor = user.map(str::to_owned);
            q
        }
    };
    q.since = p.time("since")?;
    q.until = p.time("until")?;
    let actions = p.all("action");
    if actions.len() > MAX_FILTER_VALUES {
        return Err(Error::param("action", "too many values"));
    }
    q.actions = actions.into_iter().map(str::to_owned).collect();
    q.outcome = p
        .one("outcome")?
        .map(|v| match v {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            "unknown" => Ok(Outcome::Unknown),
            _ => Err(Error::param(
                "outcome",
                "expected success, failure or unknown",
            )),
        })
        .transpose()?;
    q.ip = p
        .one("ip")?
        .map(|v| {
            v.parse::<IpAddr>()
                .map(|ip| ip.to_canonical())
                .map_err(|_| Error::param("ip", "not an IP address"))
        })
        .transpose()?;
    q.after = p
        .one("cursor")?
        .map(|v| {
            Cursor::decode(v).map_err(|_| Error::param("cursor", "not a cursor from this log"))
        })
        .transpose()?;
    q.limit = match p.one("limit")? {
        None => 0,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => return Err(Error::param("limit", "expected 1 to 1000")),
        },
    };
    q.validate()?;
    Ok((scope, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str, v: &Viewer) -> Result<(Scope, ActivityQuery), Error> {
        scoped_query(&Params::parse(Some(s), LIST_KEYS)?, v)
    }

    #[test]
    fn users_are_pinned_to_themselves() {
        let bob = Viewer::user("bob").tenant("acme");
        let (scope, query) = q("action=auth&outcome=failure", &bob).unwrap();
        assert_eq!(scope, Scope::Own);
        assert_eq!(query.actor.as_deref(), Some("bob"));
        assert_eq!(query.tenant.as_deref(), Some("acme"));
        assert!(matches!(q("user=alice", &bob), Err(Error::Forbidden(_))));
        assert!(matches!(q("scope=tenant", &bob), Err(Error::Forbidden(_))));
        assert!(q("user=bob", &bob).is_ok());
    }

    #[test]
    fn admins_filter_their_tenant_only() {
        let alice = Viewer::admin("alice").tenant("acme");
        let (_, query) = q("scope=tenant&user=bob", &alice).unwrap();
        assert_eq!(query.tenant.as_deref(), Some("acme"));
        assert_eq!(query.actor.as_deref(), Some("bob"));
        let e = q("scope=tenant&tenant=globex", &alice).err().unwrap();
        assert!(matches!(e, Error::BadParam { ref param, .. } if param == "tenant"));
    }

    #[test]
    fn hostile_parameters_are_typed_errors() {
        let v = Viewer::user("bob");
        for bad in [
            "since=yesterday",
            "outcome=maybe",
            "ip=1.2.3",
            "cursor=garbage",
            "limit=0",
            "limit=99999",
            "limit=-1",
            "scope=everything",
            "nope=1",
            "since=2026-01-01T00:00:00Z&since=2026-01-02T00:00:00Z",
            "action=..",
        ] {
            let e = q(bad, &v).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(e.status(), http::StatusCode::BAD_REQUEST, "{bad}: {e}");
        }
        let long = format!("action={}", "a".repeat(MAX_QUERY_BYTES));
        assert!(q(&long, &v).is_err());
    }

    #[test]
    fn actions_split_on_commas_and_repeat() {
        let v = Viewer::user("bob");
        let (_, query) = q("action=auth,mfa&action=password.changed", &v).unwrap();
        assert_eq!(query.actions, ["auth", "mfa", "password.changed"]);
    }
}
