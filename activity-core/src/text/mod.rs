//! Presentation helpers shared by the SDK's outputs: HTML escaping for the pages it
//! renders, terminal-safe text and the event table for the command line.

mod html;
mod table;

pub use html::escape_html;
pub use table::{escape_control, EventTable};
