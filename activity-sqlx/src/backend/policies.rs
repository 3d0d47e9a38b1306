//! The access policies ([`activity_core::access`]) in two tables beside the log:
//! `<prefix>activity_access_policies` (one row per tenant, and one for the global policy)
//! and `<prefix>activity_access_version` (one row: the version every instance polls).
//! Written once over [`Backend`] for the three stores; created by the store's
//! `access_policies()`, outside the log's schema migrations.

use std::collections::BTreeMap;
use std::sync::Arc;

use activity_core::access::{conflict, AccessPolicy, AccessPolicyStore, PolicySet};
use activity_core::{Error, Result};
use async_trait::async_trait;

use super::{err, fetch_all, Backend, Db, Finish};
use crate::sql::{Dialect, Stmt, Val};

/// Bytes a stored policy may take.
const MAX_POLICY: usize = 60_000;

/// The row key of the global policy; tenants' rows are `t:<tenant>`.
const GLOBAL: &str = "global";

pub(crate) struct PolicyTables<B> {
    store: B,
    policies: String,
    version: String,
}

impl<B: Backend + 'static> PolicyTables<B> {
    /// The tables beside `store`'s, created if missing.
    pub(crate) async fn open(store: B) -> Result<Arc<dyn AccessPolicyStore>> {
        let prefix = store.tables().prefix.clone();
        let t = Self {
            store,
            policies: format!("{prefix}activity_access_policies"),
            version: format!("{prefix}activity_access_version"),
        };
        t.create().await?;
        Ok(Arc::new(t))
    }

    async fn create(&self) -> Result<()> {
        let text = match B::DIALECT {
            Dialect::Mysql => "MEDIUMTEXT",
            _ => "TEXT",
        };
        let ignore = match B::DIALECT {
            Dialect::Postgres => ("INSERT INTO", " ON CONFLICT (id) DO NOTHING"),
            Dialect::Mysql => ("INSERT IGNORE INTO", ""),
            Dialect::Sqlite => ("INSERT OR IGNORE INTO", ""),
        };
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS {} (scope VARCHAR(200) NOT NULL PRIMARY KEY, \
                 policy {text} NOT NULL)",
                self.policies
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (id INTEGER NOT NULL PRIMARY KEY, \
                 version BIGINT NOT NULL)",
                self.version
            ),
            format!(
                "{} {} (id, version) VALUES (1, 0){}",
                ignore.0, self.version, ignore.1
            ),
        ];
        for sql in statements {
            let mut s = Stmt::new(B::DIALECT);
            s.push(&sql);
            self.execute(s).await?;
        }
        Ok(())
    }

    async fn execute(&self, s: Stmt) -> Result<u64> {
        let mut conn = self.store.lease().await.map_err(err::<B>)?;
        let done = B::Db::execute(&mut *conn, s).await;
        conn.finish();
        done.map_err(err::<B>)
    }

    fn select_version(&self) -> Stmt {
        let mut s = Stmt::new(B::DIALECT);
        s.push("SELECT version FROM ")
            .push(&self.version)
            .push(" WHERE id = 1");
        s
    }
}

fn scope_of(tenant: Option<&str>) -> String {
    match tenant {
        None => GLOBAL.to_owned(),
        Some(t) => format!("t:{t}"),
    }
}

#[async_trait]
impl<B: Backend + 'static> AccessPolicyStore for PolicyTables<B> {
    async fn load(&self) -> Result<PolicySet> {
        // One connection, in one transaction: the version and the rows agree.
        let mut conn = self.store.lease().await.map_err(err::<B>)?;
        let read = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let version = B::Db::fetch_all(&mut *tx, self.select_version()).await?;
            let mut s = Stmt::new(B::DIALECT);
            s.push("SELECT scope, policy FROM ")
                .push(&self.policies)
                .push(" ORDER BY scope");
            let rows = B::Db::fetch_all(&mut *tx, s).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((version, rows))
        }
        .await;
        conn.finish();
        let (version, rows) = read.map_err(err::<B>)?;
        let version = match version.first() {
            Some(r) => B::Db::int(r, 0).map_err(err::<B>)?,
            None => {
                return Err(Error::backend(
                    "the access policy version row is missing",
                    None,
                ))
            }
        };
        let mut set = PolicySet {
            version: u64::try_from(version).unwrap_or(0),
            global: None,
            tenants: BTreeMap::new(),
        };
        for r in &rows {
            let scope = B::Db::text(r, 0).map_err(err::<B>)?.unwrap_or_default();
            let text = B::Db::text(r, 1).map_err(err::<B>)?.unwrap_or_default();
            // A stored policy that does not parse stops the load: never "allow all".
            let policy = AccessPolicy::from_json(&text).map_err(|e| {
                Error::backend(
                    format!("stored access policy {scope:?} does not parse"),
                    Some(Box::new(e)),
                )
            })?;
            match scope.strip_prefix("t:") {
                Some(t) => {
                    set.tenants.insert(t.to_owned(), policy);
                }
                None if scope == GLOBAL => set.global = Some(policy),
                None => {
                    return Err(Error::backend(
                        format!("stored access policy has an unknown scope {scope:?}"),
                        None,
                    ))
                }
            }
        }
        Ok(set)
    }

    async fn version(&self) -> Result<u64> {
        let rows = fetch_all(&self.store, self.select_version())
            .await
            .map_err(err::<B>)?;
        let v = match rows.first() {
            Some(r) => B::Db::int(r, 0).map_err(err::<B>)?,
            None => {
                return Err(Error::backend(
                    "the access policy version row is missing",
                    None,
                ))
            }
        };
        Ok(u64::try_from(v).unwrap_or(0))
    }

    async fn put(
        &self,
        tenant: Option<&str>,
        policy: Option<&AccessPolicy>,
        expected: u64,
    ) -> Result<u64> {
        let text = match policy {
            Some(p) => {
                p.validate()?;
                let t = serde_json::to_string(p).map_err(|e| {
                    Error::backend("access policy does not encode", Some(Box::new(e)))
                })?;
                if t.len() > MAX_POLICY {
                    return Err(Error::invalid(
                        "access policy",
                        activity_core::Rule::TooLong { max: MAX_POLICY },
                    ));
                }
                Some(t)
            }
            None => None,
        };
        let expected_i = i64::try_from(expected).unwrap_or(i64::MAX);
        let scope = scope_of(tenant);
        let mut conn = self.store.lease().await.map_err(err::<B>)?;
        let write = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            // The version moves first: of two writers on the same version, one wins.
            let mut bump = Stmt::new(B::DIALECT);
            bump.push("UPDATE ")
                .push(&self.version)
                .push(" SET version = version + 1 WHERE id = 1 AND version = ")
                .bind(Val::Int(Some(expected_i)));
            if B::Db::execute(&mut *tx, bump).await? != 1 {
                return Ok(false);
            }
            let mut del = Stmt::new(B::DIALECT);
            del.push("DELETE FROM ")
                .push(&self.policies)
                .push(" WHERE scope = ")
                .bind(Val::Text(Some(scope.clone())));
            B::Db::execute(&mut *tx, del).await?;
            if let Some(text) = &text {
                let mut ins = Stmt::new(B::DIALECT);
                ins.push("INSERT INTO ")
                    .push(&self.policies)
                    .push(" (scope, policy) VALUES (")
                    .bind(Val::Text(Some(scope.clone())))
                    .push(", ")
                    .bind(Val::Text(Some(text.clone())))
                    .push(")");
                B::Db::execute(&mut *tx, ins).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        }
        .await;
        conn.finish();
        if write.map_err(err::<B>)? {
            Ok(expected + 1)
        } else {
            Err(conflict(expected, self.version().await?))
        }
    }
}
