//! Reading a forwarding header from the right, one element at a time, on its raw bytes:
//! `X-Forwarded-For` (a comma list), RFC 7239 `Forwarded` (comma-separated elements of
//! `;`-separated pairs, values quoted or not), or a header holding one address.
//!
//! Every element is parsed on its own: a malformed one (non-ASCII bytes, an unterminated
//! quote, a port out of range, `unknown`, an obfuscated `_name`) is [`Hop::Opaque`] and
//! leaves the elements to its right as they are. Lines of a repeated header are read last
//! line first, so a line boundary is always an element boundary. At most
//! [`MAX_FORWARDED_BYTES`] bytes and [`MAX_FORWARDED_ENTRIES`] elements are looked at,
//! counted from the right; the element cut by the byte limit is opaque.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{MAX_FORWARDED_BYTES, MAX_FORWARDED_ENTRIES};

/// One element of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hop {
    /// An address (IPv4-mapped IPv6 given as IPv4).
    Addr(IpAddr),
    /// Malformed, `unknown`, an obfuscated identifier, or cut by a limit.
    Opaque,
}

/// How the header's elements are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// `X-Forwarded-For` and single-address headers: `addr[:port]`, comma-separated.
    List,
    /// RFC 7239 `Forwarded`: `for=node;proto=…`, comma-separated, quotes respected.
    Forwarded,
}

/// The elements of the header lines `lines` (in the order they arrived), from the
/// rightmost, within the limits.
pub(crate) fn hops_from_right<'a, I>(lines: I, syntax: Syntax) -> HopsFromRight<'a, I::IntoIter>
where
    I: IntoIterator<Item = &'a [u8]>,
    I::IntoIter: DoubleEndedIterator,
{
    HopsFromRight {
        lines: lines.into_iter(),
        syntax,
        line: &[],
        line_cut: false,
        in_line: false,
        bytes_left: MAX_FORWARDED_BYTES,
        entries_left: MAX_FORWARDED_ENTRIES,
        done: false,
    }
}

/// The iterator of [`hops_from_right`].
pub(crate) struct HopsFromRight<'a, I> {
    lines: I,
    syntax: Syntax,
    /// What is left of the current line (its left part).
    line: &'a [u8],
    /// The current line was cut by the byte limit: its leftmost element is partial.
    line_cut: bool,
    /// A line is being read (`line` may be empty and still hold one empty element).
    in_line: bool,
    bytes_left: usize,
    entries_left: usize,
    done: bool,
}

impl<'a, I: DoubleEndedIterator<Item = &'a [u8]>> Iterator for HopsFromRight<'a, I> {
    type Item = Hop;

    fn next(&mut self) -> Option<Hop> {
        if self.done {
            return None;
        }
        if self.entries_left == 0 {
            // Whatever is further left is not looked at: unknown.
            self.done = true;
            let more = self.in_line || self.lines.next_back().is_some();
            return more.then_some(Hop::Opaque);
        }
        if !self.in_line {
            if self.bytes_left == 0 {
                // A further line exists only if the iterator has one.
                self.done = true;
                return self.lines.next_back().map(|_| Hop::Opaque);
            }
            let raw = self.lines.next_back()?;
            let take = raw.len().min(self.bytes_left);
            self.bytes_left -= take;
            self.line = &raw[raw.len() - take..];
            self.line_cut = take < raw.len();
            self.in_line = true;
        }
        self.entries_left -= 1;
        let (rest, element) = match self.syntax {
            Syntax::List => split_last(self.line, b','),
            Syntax::Forwarded => split_last_quoted(self.line, b','),
        };
        let last_of_line = rest.is_none();
        self.line = rest.unwrap_or(&[]);
        if last_of_line {
            self.in_line = false;
            if self.line_cut {
                // Everything left of the cut is unknown.
                self.done = true;
                return Some(Hop::Opaque);
            }
        }
        Some(match self.syntax {
            Syntax::List => list_element(element),
            Syntax::Forwarded => forwarded_element(element),
        })
    }
}

/// The text after the last `sep` and what is left of it (`None`: there was no `sep`).
fn split_last(s: &[u8], sep: u8) -> (Option<&[u8]>, &[u8]) {
    match s.iter().rposition(|&b| b == sep) {
        Some(i) => (Some(&s[..i]), &s[i + 1..]),
        None => (None, s),
    }
}

/// As [`split_last`], but a `sep` inside a quoted string (RFC 9110 §5.6.4, with `\`
/// escapes) does not count. Read from the right, an unterminated quote on the left takes
/// the rest of the line into one (malformed) element and nothing to its right.
fn split_last_quoted(s: &[u8], sep: u8) -> (Option<&[u8]>, &[u8]) {
    let mut in_quotes = false;
    let mut i = s.len();
    while i > 0 {
        i -= 1;
        let b = s[i];
        if b == b'"' && !(in_quotes && escaped(s, i)) {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            return (Some(&s[..i]), &s[i + 1..]);
        }
    }
    (None, s)
}

/// Whether `s[i]` is preceded by an odd number of backslashes.
fn escaped(s: &[u8], i: usize) -> bool {
    s[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// `s` without the optional whitespace around it (space and tab).
fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// An `X-Forwarded-For` element: `addr`, `addr:port`, `[v6]`, `[v6]:port`, optionally in
/// double quotes.
fn list_element(raw: &[u8]) -> Hop {
    let s = trim_ows(raw);
    let s = match s {
        [b'"', inner @ .., b'"'] => inner,
        _ => s,
    };
    std::str::from_utf8(s).map_or(Hop::Opaque, node)
}

/// A `Forwarded` element: its one `for=` parameter's node.
fn forwarded_element(raw: &[u8]) -> Hop {
    let mut found = None;
    let mut rest = Some(raw);
    while let Some(s) = rest {
        let (left, pair) = split_last_quoted(s, b';');
        rest = left;
        let pair = trim_ows(pair);
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            // An empty pair (`a=1;;b=2`, a trailing `;`) is tolerated; any other is not.
            if pair.is_empty() {
                continue;
            }
            return Hop::Opaque;
        };
        let (name, value) = (trim_ows(&pair[..eq]), trim_ows(&pair[eq + 1..]));
        if !name.eq_ignore_ascii_case(b"for") {
            continue;
        }
        if found.is_some() {
            // Two `for=` in one element: which one is meant is a guess.
            return Hop::Opaque;
        }
        found = Some(value);
    }
    let Some(value) = found else {
        return Hop::Opaque;
    };
    match unquote(value) {
        Some(text) => node(&text),
        None => Hop::Opaque,
    }
}

/// A token or a quoted string's content, ASCII only (`None` when malformed).
fn unquote(v: &[u8]) -> Option<String> {
    if !v.is_ascii() {
        return None;
    }
    match v {
        [b'"', inner @ .., b'"'] => {
            let mut out = String::with_capacity(inner.len());
            let mut it = inner.iter();
            while let Some(&b) = it.next() {
                match b {
                    b'\\' => out.push(*it.next()? as char),
                    b'"' => return None,
                    _ => out.push(b as char),
                }
            }
            Some(out)
        }
        _ if v.contains(&b'"') || v.contains(&b'\\') => None,
        _ => Some(String::from_utf8_lossy(v).into_owned()),
    }
}

/// A node: `IPv4[:port]`, `[IPv6][:port]`, a bare IPv6, with `port` digits (≤ 65535) or
/// an obfuscated `_port`. `unknown`, `_name` and anything else are opaque.
fn node(s: &str) -> Hop {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Hop::Opaque;
        };
        let Ok(ip) = inner.parse::<Ipv6Addr>() else {
            return Hop::Opaque;
        };
        return match after {
            "" => Hop::Addr(IpAddr::V6(ip).to_canonical()),
            _ => match after.strip_prefix(':') {
                Some(port) if valid_port(port) => Hop::Addr(IpAddr::V6(ip).to_canonical()),
                _ => Hop::Opaque,
            },
        };
    }
    if let Ok(ip) = s.parse::<Ipv4Addr>() {
        return Hop::Addr(IpAddr::V4(ip));
    }
    if let Some((host, port)) = s.split_once(':') {
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return if valid_port(port) {
                Hop::Addr(IpAddr::V4(ip))
            } else {
                Hop::Opaque
            };
        }
    }
    // A bare IPv6 address (not RFC 7239, but what many X-Forwarded-For writers send).
    match s.parse::<Ipv6Addr>() {
        Ok(ip) => Hop::Addr(IpAddr::V6(ip).to_canonical()),
        Err(_) => Hop::Opaque,
    }
}

/// A port: 1–5 digits up to 65535, or RFC 7239's obfuscated `_[A-Za-z0-9._-]+`.
fn valid_port(p: &str) -> bool {
    if let Some(obf) = p.strip_prefix('_') {
        return !obf.is_empty()
            && obf
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    }
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| n <= 65535)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hops(lines: &[&[u8]], syntax: Syntax) -> Vec<Hop> {
        let mut v: Vec<Hop> = hops_from_right(lines.iter().copied(), syntax).collect();
        v.reverse();
        v
    }

    fn a(s: &str) -> Hop {
        Hop::Addr(s.parse().unwrap())
    }

    const O: Hop = Hop::Opaque;

    #[test]
    fn list_elements() {
        let h = hops(
            &[b"1.1.1.1, 2.2.2.2:80", b" [2001:db8::1]:443 ,\"3.3.3.3\""],
            Syntax::List,
        );
        assert_eq!(
            h,
            [a("1.1.1.1"), a("2.2.2.2"), a("2001:db8::1"), a("3.3.3.3")]
        );
        let h = hops(
            &[b"::ffff:81.2.69.142, unknown, _hidden, 1.2.3.4:99999"],
            Syntax::List,
        );
        assert_eq!(h, [a("81.2.69.142"), O, O, O]);
        assert_eq!(hops(&[b"2001:db8::5"], Syntax::List), [a("2001:db8::5")]);
        assert_eq!(hops(&[b""], Syntax::List), [O]);
        assert_eq!(hops(&[], Syntax::List), []);
    }

    #[test]
    fn a_bad_element_is_opaque_alone() {
        // Non-ASCII bytes in the client's element; the proxy's element is intact.
        let h = hops(&[b"\xff\xfe, 81.2.69.142"], Syntax::List);
        assert_eq!(h, [O, a("81.2.69.142")]);
        let h = hops(&[b"for=\"\xff\", for=81.2.69.142"], Syntax::Forwarded);
        assert_eq!(h, [O, a("81.2.69.142")]);
        // An unterminated quote swallows only what is left of it.
        let h = hops(&[b"for=\"6.6.6.6, for=81.2.69.142"], Syntax::Forwarded);
        assert_eq!(h, [O, a("81.2.69.142")]);
        let h = hops(&[b"for=\"6.6.6.6", b"for=81.2.69.142"], Syntax::Forwarded);
        assert_eq!(h, [O, a("81.2.69.142")]);
    }

    #[test]
    fn forwarded_elements() {
        let h = hops(
            &[b"for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\""],
            Syntax::Forwarded,
        );
        assert_eq!(h, [a("192.0.2.60"), a("2001:db8:cafe::17")]);
        // Quoted commas and semicolons stay inside their element.
        let h = hops(
            &[b"for=1.1.1.1;x=\"a,b;c\", for=\"2.2.2.2:_p\""],
            Syntax::Forwarded,
        );
        assert_eq!(h, [a("1.1.1.1"), a("2.2.2.2")]);
        let h = hops(
            &[b"for=unknown, for=_hidden, proto=https, for=1.1.1.1;for=2.2.2.2"],
            Syntax::Forwarded,
        );
        assert_eq!(h, [O, O, O, O]);
        // Escapes in a quoted value.
        assert_eq!(
            hops(&[b"for=\"1.2.3.\\4\""], Syntax::Forwarded),
            [a("1.2.3.4")]
        );
        // `[v6]` must be quoted to be a valid token; accepted either way.
        assert_eq!(hops(&[b"for=[::1]"], Syntax::Forwarded), [a("::1")]);
        assert_eq!(hops(&[b"for=1.2.3.4\""], Syntax::Forwarded), [O]);
    }

    #[test]
    fn limits_count_from_the_right() {
        let many = "1.1.1.1, ".repeat(100) + "2.2.2.2";
        let got: Vec<Hop> = hops_from_right([many.as_bytes()], Syntax::List).collect();
        assert_eq!(got.len(), MAX_FORWARDED_ENTRIES + 1);
        assert_eq!(got[0], a("2.2.2.2"));
        assert_eq!(got[MAX_FORWARDED_ENTRIES], O);
        let long = "9".repeat(MAX_FORWARDED_BYTES) + ", 2.2.2.2";
        let got: Vec<Hop> = hops_from_right([long.as_bytes()], Syntax::List).collect();
        assert_eq!(got, [a("2.2.2.2"), O]);
        let lines = [long.as_bytes(), b"3.3.3.3"];
        let got: Vec<Hop> = hops_from_right(lines, Syntax::List).collect();
        assert_eq!(got, [a("3.3.3.3"), a("2.2.2.2"), O]);
    }
}
