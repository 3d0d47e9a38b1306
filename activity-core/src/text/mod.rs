//! Presentation helpers shared by the SDK's outputs: HTML escaping for the pages it
//! renders, terminal-safe text and the event table for the command line.

mod html;
mod table;

pub use html::escape_html;
pub use table::{escape_control, EventTable};

/// `s` cut to at most `max` bytes, on a character boundary (the field caps of
/// [`limits`](crate::limits) are in bytes).
///
/// ```
/// use activity_core::text::truncate;
/// assert_eq!(truncate("héllo", 2), "h"); // "é" is two bytes: not cut in half
/// assert_eq!(truncate("hello", 64), "hello");
/// ```
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
