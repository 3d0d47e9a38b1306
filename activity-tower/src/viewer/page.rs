//! The viewer page: one HTML document plus its stylesheet and script, embedded in the
//! crate. No inline script or style (it runs under `default-src 'self'`), no CDN, no
//! external font; the script writes every value with `textContent`, never as HTML.

use activity_core::text::escape_html;

use super::access::Viewer;

/// The script.
pub(crate) const JS: &str = include_str!("assets/viewer.js");
/// The stylesheet.
pub(crate) const CSS: &str = include_str!("assets/viewer.css");
const HTML: &str = include_str!("assets/viewer.html");

/// What a page carries besides the viewer: its CSRF token, the "Not you?" address and
/// the sentences' language.
pub(crate) struct PageParts<'a> {
    pub csrf: &'a str,
    pub not_you: Option<&'a str>,
    pub lang: &'a str,
    /// Whether the page has the administrators' Policies section.
    pub policies: bool,
    /// Whether the overview links to the administrators' Delivery to sinks page.
    pub sinks: bool,
}

/// The page for `viewer`, mounted at `base`.
pub(crate) fn html(base: &str, viewer: &Viewer, parts: &PageParts<'_>) -> String {
    let (title, role) = if viewer.is_admin() {
        ("Audit Log", "admin")
    } else {
        ("Activity Log", "user")
    };
    let who = viewer.name.as_deref().unwrap_or(&viewer.user_id);
    HTML.replace("{{BASE}}", &escape_html(base))
        .replace("{{ROLE}}", role)
        .replace("{{TITLE}}", title)
        .replace("{{USER_ID}}", &escape_html(&viewer.user_id))
        .replace("{{WHO}}", &escape_html(who))
        .replace("{{CSRF}}", &escape_html(parts.csrf))
        .replace("{{LANG}}", &escape_html(parts.lang))
        .replace("{{NOT_YOU}}", &escape_html(parts.not_you.unwrap_or("")))
        .replace(
            "{{POLICIES}}",
            if parts.policies && viewer.is_admin() {
                "on"
            } else {
                "off"
            },
        )
        .replace(
            "{{SINKS}}",
            if parts.sinks && viewer.is_admin() {
                "on"
            } else {
                "off"
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_nothing_is_inline() {
        let v = Viewer::admin("\"><script>alert(1)</script>").name("<b>eve</b>");
        let parts = PageParts {
            csrf: "v1.1.ab",
            not_you: Some("/account/security?from=\"><script>"),
            lang: "en",
            policies: true,
            sinks: true,
        };
        let page = html("/activity-log", &v, &parts);
        assert!(!page.contains("from=\"><script>"));
        assert!(page.contains("<meta name=\"csrf-token\" content=\"v1.1.ab\">"));
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<b>eve"));
        assert!(page.contains("&lt;b&gt;eve"));
        // Under default-src 'self': no inline script, style element or attribute.
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        assert!(!page.contains(" onclick"));
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("<script src=\"/activity-log/viewer.js\" defer></script>"));
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!JS.contains("innerHTML") && !JS.contains("eval("));
        assert!(page.contains("data-policies=\"on\""));
        assert!(page.contains("data-sinks=\"on\""));
        let user = html("/activity-log", &Viewer::user("u"), &parts);
        assert!(
            user.contains("data-policies=\"off\""),
            "only administrators manage policies"
        );
        assert!(user.contains("data-sinks=\"off\""));
    }
}
