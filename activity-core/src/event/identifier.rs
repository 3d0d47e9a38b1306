//! The sign-in identifier as one account: what a person types (`Alice@Example.com `) and
//! the form the event, the alerts, the lockout and its pre-check all key on.

use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

/// Turns a typed sign-in identifier into the form every part of the SDK keys on; `None`
/// when nothing usable is left (empty, or control characters).
///
/// The HTTP layer applies the lockout's normaliser (see
/// [`LockoutCheck::normalizer`](crate::lockout::LockoutCheck::normalizer)) to the
/// identifier it reads, stores the result as the actor's id and the typed value as its
/// name. Closures of the right shape are normalisers.
///
/// ```
/// use activity_core::event::{DefaultNormalizer, Normalize};
/// assert_eq!(DefaultNormalizer.normalize(" Alice@Example.COM ").as_deref(), Some("alice@example.com"));
/// // Fullwidth letters fold to ASCII (NFKC).
/// assert_eq!(DefaultNormalizer.normalize("ａｌｉｃｅ").as_deref(), Some("alice"));
/// assert_eq!(DefaultNormalizer.normalize("  "), None);
/// // An app whose user names are case-sensitive keeps the case.
/// let keep_case = |typed: &str| Some(typed.trim().to_owned()).filter(|s| !s.is_empty());
/// assert_eq!(keep_case.normalize(" Bob ").as_deref(), Some("Bob"));
/// ```
pub trait Normalize: Send + Sync + 'static {
    /// The normal form of `typed`, or `None` if it names no account.
    fn normalize(&self, typed: &str) -> Option<String>;
}

impl<F> Normalize for F
where
    F: Fn(&str) -> Option<String> + Send + Sync + 'static,
{
    fn normalize(&self, typed: &str) -> Option<String> {
        self(typed)
    }
}

impl<N: Normalize + ?Sized> Normalize for Arc<N> {
    fn normalize(&self, typed: &str) -> Option<String> {
        (**self).normalize(typed)
    }
}

/// The default: surrounding white space trimmed, Unicode NFKC, then lower case; refused
/// when empty or holding a control character.
///
/// ```
/// use activity_core::event::{DefaultNormalizer, Normalize};
/// assert_eq!(DefaultNormalizer.normalize("ÉVA").as_deref(), Some("éva"));
/// assert_eq!(DefaultNormalizer.normalize("a\u{0}b"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultNormalizer;

impl Normalize for DefaultNormalizer {
    fn normalize(&self, typed: &str) -> Option<String> {
        let folded: String = typed.trim().nfkc().collect::<String>().to_lowercase();
        let folded = folded.trim();
        if folded.is_empty() || folded.chars().any(char::is_control) {
            return None;
        }
        Some(folded.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_idempotent_on_what_it_produces() {
        for typed in [
            "Alice@Example.com",
            "ＡＬＩＣＥ",
            " ǅemal ",
            "ﬁle",
            "İstanbul",
            "ß",
        ] {
            let once = DefaultNormalizer.normalize(typed).unwrap();
            assert_eq!(
                DefaultNormalizer.normalize(&once).as_deref(),
                Some(once.as_str()),
                "{typed}"
            );
        }
    }
}
