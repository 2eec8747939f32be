//! Untrusted text and links made safe for a Mattermost post.
//!
//! Event subjects, locations and organizer names are written by other people, often outside the
//! organisation: anyone can send an invitation. Whatever they wrote is shown as plain text on one
//! line, never as markup:
//!
//! - line breaks, tabs and other control characters become spaces, runs of spaces one space, and
//!   bidirectional-override characters (which can make text read backwards) are dropped;
//! - every character Markdown gives a meaning to (`\ ` `` ` `` `* _ [ ] ( ) # | ! ~`) is
//!   backslash-escaped, `<` and `>` become `&lt;` and `&gt;`, and a `&` that starts an entity
//!   is escaped, so no link, image, emphasis, heading, table, HTML or entity can be formed;
//! - `@` and `~` get a word joiner (U+2060, invisible) after them, so `@all`, `@channel`,
//!   `@here`, `@someone` and `~town-square` neither notify anyone nor link a channel;
//! - block markers (`-`, `+`, `=`, `1.`) are escaped at the start, so the text is safe even where
//!   a caller puts it at the start of a line;
//! - the text is cut at a length that fits a post line.
//!
//! Links are kept only for `http` and `https` URLs with a host and no user name (the classic
//! `https://trusted.example@evil.example` disguise is refused); characters that could end or
//! bend the Markdown link (`(`, `)`, `<`, `>`, spaces, backslashes, brackets, ...) are
//! percent-encoded. A bare URL in a subject is still text that Mattermost may autolink, showing
//! the address itself, which deceives no one.

/// Put after `@` and `~` so Mattermost sees no mention or channel link.
const WORD_JOINER: char = '\u{2060}';

/// Longest untrusted text kept, in characters, before "…".
pub const MAX_TEXT: usize = 200;

/// Longest URL accepted for a link.
pub const MAX_URL: usize = 2_048;

/// `text` as Markdown that shows exactly that text on one line, at most [`MAX_TEXT`] characters
/// of it.
///
/// ```
/// use calendar_core::markdown::escape_text;
/// assert_eq!(escape_text("Q3 *review*\n[x](http://evil)"), "Q3 \\*review\\* \\[x\\]\\(http://evil\\)");
/// assert_eq!(escape_text("@all"), "@\u{2060}all");
/// ```
pub fn escape_text(text: &str) -> String {
    escape_text_within(text, MAX_TEXT)
}

/// [`escape_text`] with another length limit (in characters of the original text).
pub fn escape_text_within(text: &str, max_chars: usize) -> String {
    let clean = one_line(text);
    let mut chars: Vec<char> = clean.chars().collect();
    let cut = chars.len() > max_chars;
    if cut {
        chars.truncate(max_chars.saturating_sub(1));
        while chars.last().is_some_and(|c| c.is_whitespace()) {
            chars.pop();
        }
    }
    let mut out = String::with_capacity(chars.len() + 8);
    // Leading block markers: digits then `.` or `)` (an ordered list), or `-`, `+`, `=`.
    let leading_digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    for (i, &ch) in chars.iter().enumerate() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '|' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(ch);
            }
            '~' => {
                out.push_str("\\~");
                out.push(WORD_JOINER);
            }
            '@' => {
                out.push('@');
                out.push(WORD_JOINER);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' if starts_entity(&chars[i + 1..]) => out.push_str("\\&"),
            '-' | '+' | '=' if i == 0 => {
                out.push('\\');
                out.push(ch);
            }
            '.' if i > 0 && i == leading_digits => out.push_str("\\."),
            _ => out.push(ch),
        }
    }
    if cut {
        out.push('…');
    }
    out
}

/// Text on one line: controls to spaces, runs of whitespace collapsed, invisible direction
/// overrides dropped, trimmed.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for ch in text.chars() {
        if is_direction_override(ch) || ch == WORD_JOINER || ch == '\u{200B}' || ch == '\u{FEFF}' {
            continue;
        }
        if ch.is_whitespace() || ch.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(ch);
    }
    out
}

fn is_direction_override(ch: char) -> bool {
    matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Whether the characters after a `&` would make an HTML entity (`&amp;`, `&#64;`, `&#x40;`).
fn starts_entity(rest: &[char]) -> bool {
    let body: Vec<char> = rest.iter().take(33).copied().collect();
    let Some(end) = body.iter().position(|&c| c == ';') else {
        return false;
    };
    let name = &body[..end];
    match name {
        [] => false,
        ['#', 'x' | 'X', hex @ ..] => !hex.is_empty() && hex.iter().all(|c| c.is_ascii_hexdigit()),
        ['#', digits @ ..] => !digits.is_empty() && digits.iter().all(|c| c.is_ascii_digit()),
        _ => name.iter().all(|c| c.is_ascii_alphanumeric()),
    }
}

/// `url` fit to be a Markdown link target, or `None` when it is not an `http`/`https` URL with a
/// host (or is too long, or names a user before the host).
///
/// ```
/// use calendar_core::markdown::safe_url;
/// assert_eq!(safe_url("https://teams.microsoft.com/l/meetup-join/a b)").as_deref(),
///            Some("https://teams.microsoft.com/l/meetup-join/a%20b%29"));
/// assert_eq!(safe_url("javascript:alert(1)"), None);
/// assert_eq!(safe_url("https://outlook.office.com@evil.example/"), None);
/// ```
pub fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    if url.len() > MAX_URL {
        return None;
    }
    let (scheme, rest) = url.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let rest = rest.strip_prefix("//")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_ok = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok || authority.starts_with(':') {
        return None;
    }
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(&scheme);
    out.push_str("://");
    out.push_str(&authority.to_ascii_lowercase());
    for &b in &rest.as_bytes()[authority_end..] {
        let encode = b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'<'
                    | b'>'
                    | b'('
                    | b')'
                    | b'\\'
                    | b'`'
                    | b'|'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'^'
            );
        if encode {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    Some(out)
}

/// `[label](url)` when `url` is safe, else `label` alone. `label` is Markdown the caller made
/// safe already (escaped text, or a fixed string).
pub fn link(label: &str, url: Option<&str>) -> String {
    match url.and_then(safe_url) {
        Some(url) => format!("[{label}]({url})"),
        None => label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_is_shown_not_obeyed() {
        assert_eq!(
            escape_text("  Launch *plan* @all\r\n\n# two <b>\t~x  "),
            "Launch \\*plan\\* @\u{2060}all \\# two &lt;b&gt; \\~\u{2060}x"
        );
        assert_eq!(
            escape_text("![img](http://evil/x.png) `code` _em_ a|b"),
            "\\!\\[img\\]\\(http://evil/x.png\\) \\`code\\` \\_em\\_ a\\|b"
        );
        assert_eq!(escape_text("- item"), "\\- item");
        assert_eq!(escape_text("1. first"), "1\\. first");
        assert_eq!(escape_text("v1.2 - 3"), "v1.2 - 3");
        assert_eq!(
            escape_text("AT&T &amp; &#64;all"),
            "AT&T \\&amp; \\&\\#64;all"
        );
        assert_eq!(escape_text("a\u{202E}evil"), "aevil");
        assert_eq!(escape_text("\\*"), "\\\\\\*");
    }

    #[test]
    fn mentions_are_neutralized() {
        for mention in ["@all", "@channel", "@here", "@alice", "@ALL"] {
            let escaped = escape_text(&format!("hi {mention} there"));
            assert!(!escaped.contains(mention), "{escaped}");
            assert!(escaped.contains('\u{2060}'));
        }
        // A word joiner in the input cannot be used to cancel ours.
        assert_eq!(escape_text("@\u{2060}all"), "@\u{2060}all");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "a".repeat(500);
        let escaped = escape_text(&long);
        assert_eq!(escaped.chars().count(), MAX_TEXT);
        assert!(escaped.ends_with('…'));
        assert_eq!(escape_text_within("abc def", 5), "abc…");
    }

    #[test]
    fn only_plain_web_links() {
        assert_eq!(
            safe_url("HTTPS://Example.COM/a?b=(c)&d=e f#g").as_deref(),
            Some("https://example.com/a?b=%28c%29&d=e%20f#g")
        );
        assert_eq!(
            safe_url("https://x.example/a](javascript:alert(1))").as_deref(),
            Some("https://x.example/a%5D%28javascript:alert%281%29%29")
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "mailto:a@b.c",
            "ftp://x.example/",
            "https://",
            "https:///path",
            "//x.example/",
            "https://user:pw@x.example/",
            "https://x.example\nfoo/",
            "https://x .example/",
            "x.example",
            "",
        ] {
            assert_eq!(safe_url(bad), None, "{bad}");
        }
        assert_eq!(
            link(
                "Join",
                Some("https://teams.microsoft.com/l/meetup-join/19%3ameeting")
            ),
            "[Join](https://teams.microsoft.com/l/meetup-join/19%3ameeting)"
        );
        assert_eq!(link("Join", Some("javascript:x")), "Join");
        assert_eq!(link("Join", None), "Join");
    }

    proptest! {
        #[test]
        fn escaped_text_is_one_inert_line(s in any::<String>()) {
            let escaped = escape_text(&s);
            prop_assert!(!escaped.contains('\n') && !escaped.contains('\r'));
            prop_assert!(!escaped.contains('<') && !escaped.contains('>'));
            let lower = escaped.to_lowercase();
            for bad in ["@all", "@here", "@channel"] {
                prop_assert!(!lower.contains(bad), "{}", escaped);
            }
            // Every Markdown special is preceded by a backslash that is itself not escaped.
            let chars: Vec<char> = escaped.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                if chars[i] == '\\' {
                    i += 2;
                    continue;
                }
                prop_assert!(!"`*_[]()#|!~{}".contains(chars[i]), "{}", escaped);
                i += 1;
            }
        }

        #[test]
        fn safe_urls_cannot_leave_the_link(s in any::<String>()) {
            let url = format!("https://x.example/{s}");
            if let Some(safe) = safe_url(&url) {
                prop_assert!(!safe.contains(|c: char| c.is_whitespace() || "()<>[]\\`".contains(c)));
                prop_assert!(safe.is_ascii());
            }
        }
    }
}
