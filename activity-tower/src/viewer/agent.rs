//! A user-agent string as a person reads it: browser and operating system ("Chrome on
//! Linux"), from the `woothee` parser (its data is compiled in: no file to ship, no
//! start-up cost).

use serde::Serialize;

/// What a user-agent string says, as far as the parser knows.
///
/// ```
/// use activity_tower::viewer::Agent;
/// let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
///           (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// let a = Agent::parse(ua);
/// assert_eq!(a.browser.as_deref(), Some("Chrome"));
/// assert_eq!(a.os.as_deref(), Some("Windows 10"));
/// assert_eq!(a.label(), "Chrome on Windows 10");
/// assert_eq!(Agent::parse("Mystery/1.0").label(), "Unknown browser");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// The browser's name (`Chrome`, `Firefox`, `Safari`…).
    pub browser: Option<String>,
    /// The operating system (`Linux`, `Windows 10`, `Mac OSX`, `iPhone`, `Android`…).
    pub os: Option<String>,
}

/// The longest user agent handed to the parser, in bytes (the layer caps what it stores
/// already; this bounds the parser's work whatever a store holds).
const MAX_PARSED: usize = 512;

fn known(s: &str) -> Option<String> {
    (!s.is_empty() && s != "UNKNOWN").then(|| s.to_owned())
}

impl Agent {
    /// Parses `user_agent`.
    pub fn parse(user_agent: &str) -> Self {
        let ua = activity_core::text::truncate(user_agent, MAX_PARSED);
        match woothee::parser::Parser::new().parse(ua) {
            Some(r) => Self {
                browser: known(r.name),
                os: known(r.os),
            },
            None => Self::default(),
        }
    }

    /// "Browser on OS", or what of it is known, or "Unknown browser".
    pub fn label(&self) -> String {
        match (&self.browser, &self.os) {
            (Some(b), Some(o)) => format!("{b} on {o}"),
            (Some(b), None) => b.clone(),
            (None, Some(o)) => format!("Unknown browser on {o}"),
            (None, None) => "Unknown browser".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_read_as_browser_on_os() {
        for (ua, label) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.85 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
        ] {
            assert_eq!(Agent::parse(ua).label(), label, "{ua}");
        }
    }

    #[test]
    fn hostile_strings_are_unknown_not_a_panic() {
        for ua in [
            "",
            "\u{0}",
            "(((((",
            &"Mozilla/5.0 (".repeat(10_000),
            "é".repeat(3000).as_str(),
        ] {
            let _ = Agent::parse(ua).label();
        }
        assert_eq!(Agent::parse("").label(), "Unknown browser");
    }
}
