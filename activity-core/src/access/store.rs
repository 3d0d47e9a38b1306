//! [`AccessPolicyStore`]: where the policies are kept, versioned so that every instance
//! notices a change; [`MemoryPolicyStore`], the in-process one.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::access::{AccessPolicy, PolicySet};
use crate::error::{Error, Result};

/// Storage for access policies (the SQL stores of `activity-sqlx` keep them in a table
/// beside the log).
///
/// ```
/// use activity_core::access::{AccessPolicy, AccessPolicyStore, MemoryPolicyStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryPolicyStore::new();
/// assert_eq!(store.version().await?, 0);
/// let v = store.put(Some("acme"), Some(&AccessPolicy::default()), 0).await?;
/// assert_eq!(v, 1);
/// // A writer that has not seen version 1 is refused.
/// assert!(store.put(Some("acme"), None, 0).await.is_err());
/// assert_eq!(store.load().await?.tenants.len(), 1);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait AccessPolicyStore: Send + Sync + 'static {
    /// Every policy, with the current version.
    ///
    /// # Errors
    /// The storage's; a stored policy that does not parse is an error naming it, never
    /// skipped.
    async fn load(&self) -> Result<PolicySet>;

    /// The current version (cheap: read on every refresh).
    ///
    /// # Errors
    /// The storage's.
    async fn version(&self) -> Result<u64>;

    /// Replaces the policy of `tenant` (`None`: the global one) with `policy` (`None`:
    /// removes it), if the version is still `expected`; the new version.
    ///
    /// # Errors
    /// [`Error::Conflict`] when another change came first; the storage's.
    async fn put(
        &self,
        tenant: Option<&str>,
        policy: Option<&AccessPolicy>,
        expected: u64,
    ) -> Result<u64>;
}

/// Policies in process memory (one instance, tests).
#[derive(Debug, Default)]
pub struct MemoryPolicyStore {
    set: Mutex<PolicySet>,
}

impl MemoryPolicyStore {
    /// No policies, version 0.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AccessPolicyStore for MemoryPolicyStore {
    async fn load(&self) -> Result<PolicySet> {
        Ok(self.set.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn version(&self) -> Result<u64> {
        Ok(self.set.lock().unwrap_or_else(|p| p.into_inner()).version)
    }

    async fn put(
        &self,
        tenant: Option<&str>,
        policy: Option<&AccessPolicy>,
        expected: u64,
    ) -> Result<u64> {
        let mut set = self.set.lock().unwrap_or_else(|p| p.into_inner());
        if set.version != expected {
            return Err(conflict(expected, set.version));
        }
        match (tenant, policy) {
            (None, p) => set.global = p.cloned(),
            (Some(t), Some(p)) => {
                set.tenants.insert(t.to_owned(), p.clone());
            }
            (Some(t), None) => {
                set.tenants.remove(t);
            }
        }
        set.version += 1;
        Ok(set.version)
    }
}

/// The error of a change made on a stale version.
pub fn conflict(expected: u64, found: u64) -> Error {
    Error::conflict(
        format!(
            "access policies changed meanwhile (version {found}, expected {expected}); \
             reload and try again"
        ),
        None,
    )
}
