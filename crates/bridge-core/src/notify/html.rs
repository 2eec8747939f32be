//! Microsoft Teams chat message bodies (HTML, untrusted) to Mattermost Markdown.
//!
//! The HTML is tokenized by `html5gum` (which also decodes entities), built into a small tree
//! whose depth is bounded by [`MAX_DEPTH`], and rendered. Every text node is escaped so that it
//! cannot become markup it did not say: Markdown specials are backslash-escaped, `<`/`>` become
//! entities, line-start block markers are escaped, and `@`/`~` get a word joiner (U+2060) after
//! them so no `@all`, `@channel`, `@here`, `@user` or `~channel` in the text notifies or links
//! anyone. Links are kept only for `http`, `https` and `mailto` URLs. The output is bounded by
//! [`MAX_MARKDOWN`] characters and the work is linear in the input.

use html5gum::{DefaultEmitter, HtmlString, Token, Tokenizer};

/// Most characters [`to_markdown`] and [`text_to_markdown`] return before the shortened notice.
pub const MAX_MARKDOWN: usize = 16_000;

/// Deepest element nesting that is kept; deeper tags are ignored (their text is kept).
pub const MAX_DEPTH: usize = 32;

/// Appended when the output is cut at [`MAX_MARKDOWN`].
const SHORTENED: &str = "…\n\n_(message shortened)_";

/// Put after `@` and `~` in text so Mattermost sees no mention or channel link.
const WORD_JOINER: char = '\u{2060}';

/// How a mentioned user appears: their Mattermost @username when linked, else their display name.
pub trait MentionNames {
    fn mattermost_username(&self, microsoft_user_id: &str) -> Option<String>;
}

/// One entry of a Graph chatMessage's `mentions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The `<at id="N">` value, which is the Graph mention id.
    pub id: u32,
    pub microsoft_user_id: Option<String>,
    pub display_name: String,
}

/// Converts a Teams message body (contentType `html`) to Mattermost Markdown.
pub fn to_markdown(html: &str, mentions: &[Mention], names: &dyn MentionNames) -> String {
    let nodes = parse(html);
    let renderer = Renderer {
        nodes: &nodes,
        mentions,
        names,
    };
    let mut buf = Buf::default();
    renderer.children(0, Flags::default(), &mut buf);
    bound(buf.finish())
}

/// Converts plain text (contentType `text`, names, topics) to Markdown that shows it as it is.
pub fn text_to_markdown(text: &str) -> String {
    let mut buf = Buf::default();
    let mut blank = false;
    let mut first = true;
    for line in text.split('\n') {
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        if !first {
            buf.block(if blank { 2 } else { 1 });
        }
        buf.text(line);
        first = false;
        blank = false;
    }
    bound(buf.finish())
}

/// Quotes Markdown: every line, empty ones too, gets `> ` (an empty line gets `>`).
pub fn quote(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 16);
    for (i, line) in markdown.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            out.push('>');
        } else {
            out.push_str("> ");
            out.push_str(line);
        }
    }
    out
}

/// Cuts `s` after [`MAX_MARKDOWN`] characters and says so.
/// A fence still open at the cut is closed, so the notice is not shown as code.
fn bound(mut s: String) -> String {
    if s.char_indices().nth(MAX_MARKDOWN).is_none() {
        return s;
    }
    cut(&mut s, MAX_MARKDOWN);
    let mut fence = open_fence(&s);
    if let Some(open) = &fence {
        // Make room for the closing fence; the cut may drop the opening line itself.
        cut(&mut s, MAX_MARKDOWN.saturating_sub(open.len() + 1));
        fence = open_fence(&s);
    }
    match fence {
        Some(fence) => {
            s.push_str("…\n");
            s.push_str(&fence);
            s.push_str(&SHORTENED['…'.len_utf8()..]);
        }
        None => s.push_str(SHORTENED),
    }
    s
}

/// Keeps at most `chars` characters of `s`, trailing whitespace trimmed.
fn cut(s: &mut String, chars: usize) {
    if let Some((at, _)) = s.char_indices().nth(chars) {
        s.truncate(at);
    }
    let end = s.trim_end().len();
    s.truncate(end);
}

/// The fence of a code block left open at the end of `md`, if any. Text never starts a line
/// with backticks (they are escaped) and code spans of three or more backticks contain
/// backticks after their opening run, so only fences written by `Renderer::code_block` count.
fn open_fence(md: &str) -> Option<String> {
    let mut open: Option<usize> = None;
    for line in md.split('\n') {
        // Container prefixes: quotes, list markers, indentation.
        let t = line.trim_start_matches(|c: char| matches!(c, ' ' | '>' | '-' | '.' | '0'..='9'));
        let run = t.len() - t.trim_start_matches('`').len();
        if run < 3 {
            continue;
        }
        let rest = &t[run..];
        match open {
            None if !rest.contains('`') => open = Some(run),
            Some(n) if run >= n && rest.trim().is_empty() => open = None,
            _ => {}
        }
    }
    open.map(|n| "`".repeat(n))
}

// ---------------------------------------------------------------------------------------------
// Tree

/// What an element means for the conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Para,
    Line,
    Br,
    Hr,
    Bold,
    Italic,
    Strike,
    Link,
    Ul,
    Ol,
    Li,
    Table,
    Row,
    Cell,
    Code,
    Pre,
    Quote,
    Heading,
    Img,
    Emoji,
    At,
    Other,
}

fn classify(name: &str) -> Tag {
    match name {
        "p" => Tag::Para,
        "div" | "section" | "article" | "header" | "footer" | "nav" | "aside" | "main"
        | "figure" | "figcaption" | "address" | "center" | "dl" | "dt" | "dd" | "details"
        | "summary" | "form" | "fieldset" | "legend" | "caption" | "thead" | "tbody" | "tfoot" => {
            Tag::Line
        }
        "br" => Tag::Br,
        "hr" => Tag::Hr,
        "b" | "strong" => Tag::Bold,
        "i" | "em" => Tag::Italic,
        "s" | "strike" | "del" => Tag::Strike,
        "a" => Tag::Link,
        "ul" => Tag::Ul,
        "ol" => Tag::Ol,
        "li" => Tag::Li,
        "table" => Tag::Table,
        "tr" => Tag::Row,
        "td" | "th" => Tag::Cell,
        "code" => Tag::Code,
        "pre" | "codeblock" => Tag::Pre,
        "blockquote" => Tag::Quote,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Tag::Heading,
        "img" => Tag::Img,
        "emoji" => Tag::Emoji,
        "at" => Tag::At,
        _ => Tag::Other,
    }
}

/// Elements that never have content.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Elements dropped with everything inside them.
fn is_dropped(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "noscript"
            | "template"
            | "iframe"
            | "object"
            | "svg"
            | "math"
            | "head"
            | "title"
            | "textarea"
            | "xmp"
            | "noembed"
            | "noframes"
            | "noframe"
            | "plaintext"
            | "select"
            | "attachment"
            | "systemeventmessage"
    )
}

#[derive(Debug, Default)]
struct Attrs {
    href: Option<String>,
    alt: Option<String>,
    id: Option<String>,
    class: Option<String>,
    start: Option<String>,
}

#[derive(Debug)]
enum Kind {
    Text(String),
    Elem {
        tag: Tag,
        name: String,
        attrs: Attrs,
    },
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    children: Vec<usize>,
}

impl Node {
    fn elem_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Elem { name, .. } => Some(name),
            Kind::Text(_) => None,
        }
    }

    fn tag(&self) -> Option<Tag> {
        match &self.kind {
            Kind::Elem { tag, .. } => Some(*tag),
            Kind::Text(_) => None,
        }
    }
}

fn lossy(s: &HtmlString) -> String {
    String::from_utf8_lossy(s).into_owned()
}

/// Builds the element tree (node 0 is the root) from html5gum's tokens.
fn parse(html: &str) -> Vec<Node> {
    let mut nodes = vec![Node {
        kind: Kind::Elem {
            tag: Tag::Other,
            name: String::new(),
            attrs: Attrs::default(),
        },
        children: Vec::new(),
    }];
    let mut stack: Vec<usize> = vec![0];
    // Inside a dropped element: ignore everything up to its end tag.
    let mut skip: Option<String> = None;

    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    for token in Tokenizer::new_with_emitter(html, emitter) {
        let Ok(token) = token;
        match token {
            Token::StartTag(start) => {
                if skip.is_some() {
                    continue;
                }
                let name = lossy(&start.name);
                if is_dropped(&name) {
                    // Raw-text elements (script, style, ...) switch the tokenizer's state even
                    // when written self-closing.
                    let raw_text = html5gum::naive_next_state(name.as_bytes()).is_some();
                    if raw_text || !start.self_closing {
                        skip = Some(name);
                    }
                    continue;
                }
                let tag = classify(&name);
                close_implied(&nodes, &mut stack, tag);
                let void = is_void(&name) || start.self_closing;
                if !void && stack.len() > MAX_DEPTH {
                    continue;
                }
                let attr = |key: &str| {
                    start
                        .attributes
                        .get(key.as_bytes())
                        .map(|v| lossy(&v.value))
                };
                let attrs = match tag {
                    Tag::Link => Attrs {
                        href: attr("href"),
                        ..Attrs::default()
                    },
                    Tag::Emoji => Attrs {
                        alt: attr("alt"),
                        ..Attrs::default()
                    },
                    Tag::At => Attrs {
                        id: attr("id"),
                        ..Attrs::default()
                    },
                    Tag::Pre | Tag::Code => Attrs {
                        class: attr("class"),
                        ..Attrs::default()
                    },
                    Tag::Ol => Attrs {
                        start: attr("start"),
                        ..Attrs::default()
                    },
                    _ => Attrs::default(),
                };
                let idx = nodes.len();
                nodes.push(Node {
                    kind: Kind::Elem { tag, name, attrs },
                    children: Vec::new(),
                });
                let parent = *stack.last().unwrap_or(&0);
                nodes[parent].children.push(idx);
                if !void {
                    stack.push(idx);
                }
            }
            Token::EndTag(end) => {
                let name = lossy(&end.name);
                if let Some(skipping) = &skip {
                    if *skipping == name {
                        skip = None;
                    }
                    continue;
                }
                if name == "br" {
                    // `</br>` is read as `<br>`.
                    let idx = nodes.len();
                    nodes.push(Node {
                        kind: Kind::Elem {
                            tag: Tag::Br,
                            name,
                            attrs: Attrs::default(),
                        },
                        children: Vec::new(),
                    });
                    let parent = *stack.last().unwrap_or(&0);
                    nodes[parent].children.push(idx);
                    continue;
                }
                if let Some(pos) = stack
                    .iter()
                    .rposition(|&i| nodes[i].elem_name() == Some(name.as_str()))
                    && pos > 0
                {
                    stack.truncate(pos);
                }
            }
            Token::String(text) => {
                if skip.is_some() {
                    continue;
                }
                let text = String::from_utf8_lossy(&text.value);
                let parent = *stack.last().unwrap_or(&0);
                if let Some(&last) = nodes[parent].children.last()
                    && let Kind::Text(existing) = &mut nodes[last].kind
                {
                    existing.push_str(&text);
                    continue;
                }
                let idx = nodes.len();
                nodes.push(Node {
                    kind: Kind::Text(text.into_owned()),
                    children: Vec::new(),
                });
                nodes[parent].children.push(idx);
            }
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    nodes
}

/// Closes the elements a new `tag` implicitly ends (`<p>` before a block, a previous `<li>`,
/// `<tr>`, `<td>`).
fn close_implied(nodes: &[Node], stack: &mut Vec<usize>, tag: Tag) {
    let find = |stack: &[usize], target: &[Tag], boundary: &[Tag]| -> Option<usize> {
        for (pos, &i) in stack.iter().enumerate().skip(1).rev() {
            let t = nodes[i].tag()?;
            if target.contains(&t) {
                return Some(pos);
            }
            if boundary.contains(&t) {
                return None;
            }
        }
        None
    };
    let pos = match tag {
        Tag::Para
        | Tag::Line
        | Tag::Ul
        | Tag::Ol
        | Tag::Table
        | Tag::Pre
        | Tag::Quote
        | Tag::Heading
        | Tag::Hr => {
            let top = *stack.last().unwrap_or(&0);
            (top != 0 && nodes[top].tag() == Some(Tag::Para)).then(|| stack.len() - 1)
        }
        Tag::Li => find(stack, &[Tag::Li], &[Tag::Ul, Tag::Ol, Tag::Table]),
        Tag::Row => find(stack, &[Tag::Row], &[Tag::Table]),
        Tag::Cell => find(stack, &[Tag::Cell], &[Tag::Row, Tag::Table]),
        _ => None,
    };
    if let Some(pos) = pos {
        stack.truncate(pos);
    }
}

// ---------------------------------------------------------------------------------------------
// Output buffer

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Nothing written on this line yet.
    #[default]
    Start,
    /// Only digits written on this line (a `.` would make an ordered list item).
    Digits,
    Other,
}

/// Separation requested before or after a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    None,
    Space,
    Lines(u8),
}

/// Markdown being written, with whitespace and line breaks kept pending until content follows
/// (so output is trimmed and has at most one blank line in a row).
#[derive(Debug, Default)]
struct Buf {
    s: String,
    /// Newlines (1 or 2) to write before the next content.
    nl: u8,
    /// A space to write before the next content.
    space: bool,
    line: LineState,
    /// What was requested before any content.
    lead_nl: u8,
    lead_space: bool,
    /// A `@username` was just written: a name character right after it needs a space.
    after_mention: bool,
}

impl Buf {
    fn block(&mut self, n: u8) {
        if self.s.is_empty() {
            self.lead_nl = self.lead_nl.max(n);
        } else {
            self.nl = self.nl.max(n);
        }
        self.space = false;
    }

    fn br(&mut self) {
        if self.s.is_empty() {
            self.lead_nl = (self.lead_nl + 1).min(2);
        } else {
            self.nl = (self.nl + 1).min(2);
        }
        self.space = false;
    }

    fn space(&mut self) {
        if self.s.is_empty() {
            self.lead_space = true;
        } else if self.nl == 0 && self.line != LineState::Start {
            self.space = true;
        }
    }

    fn apply(&mut self, sep: Sep) {
        match sep {
            Sep::None => {}
            Sep::Space => self.space(),
            Sep::Lines(n) => self.block(n),
        }
    }

    fn flush(&mut self) {
        if self.nl > 0 {
            for _ in 0..self.nl {
                self.s.push('\n');
            }
            self.nl = 0;
            self.line = LineState::Start;
        } else if self.space {
            self.s.push(' ');
            self.line = LineState::Other;
        }
        self.space = false;
    }

    /// Appends Markdown as it is.
    fn raw(&mut self, md: &str) {
        if md.is_empty() {
            return;
        }
        self.flush();
        self.after_mention = false;
        self.s.push_str(md);
        self.line = if md.ends_with('\n') {
            LineState::Start
        } else {
            LineState::Other
        };
    }

    /// Appends text, escaped, with HTML whitespace collapsing.
    fn text(&mut self, text: &str) {
        for (i, ch) in text.char_indices() {
            if ch.is_whitespace() {
                self.space();
                continue;
            }
            if is_invisible_control(ch) {
                continue;
            }
            if self.after_mention {
                if self.nl == 0 && (ch.is_alphanumeric() || ch == '_') {
                    self.space = true;
                }
                self.after_mention = false;
            }
            self.flush();
            self.escaped(ch, &text[i + ch.len_utf8()..]);
        }
    }

    fn escaped(&mut self, ch: char, rest: &str) {
        let at_start = self.line == LineState::Start;
        let mut next = LineState::Other;
        match ch {
            '\\' | '*' | '_' | '`' | '#' | '[' | ']' | '(' | ')' | '|' | '!' => {
                self.s.push('\\');
                self.s.push(ch);
            }
            '~' => {
                self.s.push_str("\\~");
                self.s.push(WORD_JOINER);
            }
            '@' => {
                self.s.push('@');
                self.s.push(WORD_JOINER);
            }
            '<' => self.s.push_str("&lt;"),
            '>' => self.s.push_str("&gt;"),
            '&' if entity_like(rest) => self.s.push_str("\\&"),
            '-' | '+' | '=' if at_start => {
                self.s.push('\\');
                self.s.push(ch);
            }
            '.' if self.line == LineState::Digits => self.s.push_str("\\."),
            '0'..='9' if at_start || self.line == LineState::Digits => {
                self.s.push(ch);
                next = LineState::Digits;
            }
            _ => self.s.push(ch),
        }
        self.line = next;
    }

    /// The content and what separation was asked for around it.
    fn frag(self) -> (Sep, String, Sep) {
        let lead = if self.lead_nl > 0 {
            Sep::Lines(self.lead_nl)
        } else if self.lead_space {
            Sep::Space
        } else {
            Sep::None
        };
        let trail = if self.nl > 0 {
            Sep::Lines(self.nl)
        } else if self.space {
            Sep::Space
        } else {
            Sep::None
        };
        let mut s = self.s;
        let end = s.trim_end().len();
        s.truncate(end);
        (lead, s, trail)
    }

    fn finish(self) -> String {
        self.frag().1
    }

    fn ends_with_name_char(&self) -> bool {
        self.nl == 0
            && self
                .s
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
    }
}

/// Control characters and invisible direction overrides, which text never needs.
fn is_invisible_control(ch: char) -> bool {
    ch.is_control() || matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `&` followed by `rest` would read as an entity reference.
fn entity_like(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    let Some(end) = bytes.iter().take(34).position(|&b| b == b';') else {
        return false;
    };
    end > 0
        && bytes[..end]
            .iter()
            .enumerate()
            .all(|(i, &b)| b.is_ascii_alphanumeric() || (i == 0 && b == b'#'))
}

/// Joins the lines of `s` into one line.
fn flatten(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Wraps every non-blank line of `body` in `marker` (emphasis cannot span lines).
fn wrap_lines(body: &str, marker: &str) -> String {
    let mut out = String::with_capacity(body.len() + 8);
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        out.push_str(marker);
        out.push_str(trimmed);
        out.push_str(marker);
    }
    out
}

/// Prefixes the first line of `body` with `marker` and indents the others to match.
fn list_item(marker: &str, body: &str, out: &mut String) {
    for (i, line) in body.split('\n').enumerate() {
        if i == 0 {
            out.push_str(marker);
        } else {
            out.push('\n');
            if !line.is_empty() {
                out.extend(std::iter::repeat_n(' ', marker.len()));
            }
        }
        out.push_str(line);
    }
}

fn longest_backtick_run(s: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Code is shown as written, except that `@name` gets a word joiner so it notifies no one, and
/// in a table cell `|` is escaped (GFM splits cells before reading code spans).
fn neutralize_code(code: &str, in_table: bool) -> String {
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '@' => {
                out.push('@');
                if chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || matches!(n, '_' | '.' | '-'))
                {
                    out.push(WORD_JOINER);
                }
            }
            '|' if in_table => out.push_str("\\|"),
            _ => out.push(c),
        }
    }
    out
}

/// The URL to link to, percent-encoded for a Markdown link destination, if it is an `http`,
/// `https` or `mailto` URL.
fn safe_url(href: &str) -> Option<String> {
    let href = href.trim();
    let colon = href.find(':')?;
    let scheme = href[..colon].to_ascii_lowercase();
    let rest = &href[colon + 1..];
    let ok = match scheme.as_str() {
        "http" | "https" => rest.starts_with("//") && rest.len() > 2,
        "mailto" => !rest.is_empty(),
        _ => false,
    };
    if !ok {
        return None;
    }
    let mut out = String::with_capacity(href.len() + 8);
    out.push_str(&scheme);
    out.push(':');
    for &b in rest.as_bytes() {
        let encode = b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'<' | b'>' | b'(' | b')' | b'@' | b'\\' | b'`' | b'|' | b'[' | b']'
            );
        if encode {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    Some(out)
}

/// A Mattermost username we are willing to write as a mention.
fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "all" | "channel" | "here" | "everyone"
        )
}

/// A code block's language from a `class` such as `Python` or `language-rust`.
fn language(class: Option<&str>) -> String {
    let Some(class) = class else {
        return String::new();
    };
    let word = class.split_whitespace().next().unwrap_or("");
    let word = word.strip_prefix("language-").unwrap_or(word);
    if (1..=20).contains(&word.len())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '-' | '_'))
    {
        word.to_ascii_lowercase()
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    table: bool,
    link: bool,
    bold: bool,
    italic: bool,
    strike: bool,
    list: bool,
}

struct Renderer<'a> {
    nodes: &'a [Node],
    mentions: &'a [Mention],
    names: &'a dyn MentionNames,
}

impl Renderer<'_> {
    fn children(&self, idx: usize, f: Flags, buf: &mut Buf) {
        let kids = &self.nodes[idx].children;
        let mut i = 0;
        while i < kids.len() {
            if let Some(mention) = self.mention_of(kids[i]) {
                let mut text = self.text_of(kids[i]);
                let mut last = i;
                // Teams splits one name into adjacent `<at>`s of the same user.
                if let Some(user) = &mention.microsoft_user_id {
                    loop {
                        let mut k = last + 1;
                        while k < kids.len()
                            && matches!(&self.nodes[kids[k]].kind, Kind::Text(t) if t.trim().is_empty())
                        {
                            k += 1;
                        }
                        match kids.get(k).and_then(|&n| self.mention_of(n)) {
                            Some(next) if next.microsoft_user_id.as_ref() == Some(user) => {
                                let more = self.text_of(kids[k]);
                                if !more.is_empty() {
                                    if !text.is_empty() {
                                        text.push(' ');
                                    }
                                    text.push_str(&more);
                                }
                                last = k;
                            }
                            _ => break,
                        }
                    }
                }
                self.mention(mention, &text, buf);
                i = last + 1;
                continue;
            }
            self.node(kids[i], f, buf);
            i += 1;
        }
    }

    fn node(&self, idx: usize, f: Flags, buf: &mut Buf) {
        let (tag, attrs) = match &self.nodes[idx].kind {
            Kind::Text(text) => return buf.text(text),
            Kind::Elem { tag, attrs, .. } => (*tag, attrs),
        };
        match tag {
            Tag::Para => {
                buf.block(2);
                self.children(idx, f, buf);
                buf.block(2);
            }
            Tag::Line | Tag::Row => {
                buf.block(1);
                self.children(idx, f, buf);
                buf.block(1);
            }
            Tag::Cell => {
                buf.space();
                self.children(idx, f, buf);
                buf.space();
            }
            Tag::Br => buf.br(),
            Tag::Hr => {
                buf.block(2);
                buf.raw("---");
                buf.block(2);
            }
            Tag::Bold => self.emphasis(idx, f, buf, "**", f.bold, Flags { bold: true, ..f }),
            Tag::Italic => self.emphasis(idx, f, buf, "_", f.italic, Flags { italic: true, ..f }),
            Tag::Strike => {
                self.emphasis(idx, f, buf, "~~", f.strike, Flags { strike: true, ..f });
            }
            Tag::Link => self.link(idx, f, buf, attrs.href.as_deref()),
            Tag::Ul | Tag::Ol => self.list(idx, f, buf, tag == Tag::Ol, attrs.start.as_deref()),
            Tag::Li => {
                let mut sub = Buf::default();
                self.children(idx, Flags { list: true, ..f }, &mut sub);
                let body = sub.finish();
                if !body.is_empty() {
                    let mut out = String::new();
                    list_item("- ", &body, &mut out);
                    buf.block(1);
                    buf.raw(&out);
                    buf.block(1);
                }
            }
            Tag::Table => self.table(idx, f, buf),
            Tag::Code => self.inline_code(idx, f, buf),
            Tag::Pre => self.code_block(idx, f, buf, attrs.class.as_deref()),
            Tag::Quote => {
                let mut sub = Buf::default();
                self.children(idx, f, &mut sub);
                let body = sub.finish();
                if !body.is_empty() {
                    buf.block(2);
                    buf.raw(&quote(&body));
                    buf.block(2);
                }
            }
            Tag::Heading => {
                let mut sub = Buf::default();
                self.children(idx, Flags { bold: true, ..f }, &mut sub);
                let body = flatten(&sub.finish());
                if !body.is_empty() {
                    buf.block(2);
                    if f.bold {
                        buf.raw(&body);
                    } else {
                        buf.raw(&format!("**{body}**"));
                    }
                    buf.block(2);
                }
            }
            Tag::Img => {}
            Tag::Emoji => match attrs.alt.as_deref().filter(|a| !a.trim().is_empty()) {
                Some(alt) => buf.text(alt),
                None => self.children(idx, f, buf),
            },
            Tag::At | Tag::Other => self.children(idx, f, buf),
        }
    }

    /// The mention an `<at id="N">` refers to.
    fn mention_of(&self, idx: usize) -> Option<&Mention> {
        let Kind::Elem {
            tag: Tag::At,
            attrs,
            ..
        } = &self.nodes[idx].kind
        else {
            return None;
        };
        let id: u32 = attrs.id.as_deref()?.trim().parse().ok()?;
        self.mentions.iter().find(|m| m.id == id)
    }

    fn mention(&self, mention: &Mention, text: &str, buf: &mut Buf) {
        let username = mention
            .microsoft_user_id
            .as_deref()
            .and_then(|user| self.names.mattermost_username(user))
            .filter(|name| valid_username(name));
        match username {
            Some(name) => {
                if buf.ends_with_name_char() {
                    buf.space();
                }
                buf.raw(&format!("@{name}"));
                buf.after_mention = true;
            }
            None if text.is_empty() => buf.text(&mention.display_name),
            None => buf.text(text),
        }
    }

    /// The text inside an element, whitespace collapsed.
    fn text_of(&self, idx: usize) -> String {
        let mut raw = String::new();
        self.collect(idx, &mut raw, false);
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Appends the raw text inside an element; with `pre`, block elements start new lines.
    fn collect(&self, idx: usize, out: &mut String, pre: bool) {
        for &c in &self.nodes[idx].children {
            match &self.nodes[c].kind {
                Kind::Text(text) => out.push_str(text),
                Kind::Elem { tag, attrs, .. } => match tag {
                    Tag::Br => out.push('\n'),
                    Tag::Img => {}
                    Tag::Emoji if attrs.alt.as_deref().is_some_and(|a| !a.trim().is_empty()) => {
                        out.push_str(attrs.alt.as_deref().unwrap_or_default());
                    }
                    Tag::Para
                    | Tag::Line
                    | Tag::Li
                    | Tag::Row
                    | Tag::Pre
                    | Tag::Quote
                    | Tag::Heading
                    | Tag::Ul
                    | Tag::Ol
                    | Tag::Table
                    | Tag::Hr => {
                        let sep = if pre { '\n' } else { ' ' };
                        if !out.is_empty() && !out.ends_with('\n') {
                            out.push(sep);
                        }
                        self.collect(c, out, pre);
                        if !out.is_empty() && !out.ends_with('\n') {
                            out.push(sep);
                        }
                    }
                    Tag::Cell => {
                        out.push(' ');
                        self.collect(c, out, pre);
                        out.push(' ');
                    }
                    _ => self.collect(c, out, pre),
                },
            }
        }
    }

    fn emphasis(
        &self,
        idx: usize,
        f: Flags,
        buf: &mut Buf,
        marker: &str,
        already: bool,
        inner: Flags,
    ) {
        if already {
            return self.children(idx, f, buf);
        }
        let mut sub = Buf::default();
        self.children(idx, inner, &mut sub);
        let (lead, body, trail) = sub.frag();
        buf.apply(lead);
        if !body.is_empty() {
            buf.raw(&wrap_lines(&body, marker));
        }
        buf.apply(trail);
    }

    fn link(&self, idx: usize, f: Flags, buf: &mut Buf, href: Option<&str>) {
        let url = href.and_then(safe_url);
        let Some(url) = url.filter(|_| !f.link) else {
            return self.children(idx, f, buf);
        };
        let mut sub = Buf::default();
        self.children(idx, Flags { link: true, ..f }, &mut sub);
        let (lead, body, trail) = sub.frag();
        let mut text = flatten(&body);
        if text.is_empty() {
            let mut t = Buf::default();
            t.text(href.unwrap_or_default().trim());
            text = t.finish();
        }
        buf.apply(lead);
        buf.raw(&format!("[{text}]({url})"));
        buf.apply(trail);
    }

    fn list(&self, idx: usize, f: Flags, buf: &mut Buf, ordered: bool, start: Option<&str>) {
        let inner = Flags { list: true, ..f };
        let mut items: Vec<String> = Vec::new();
        let mut stray = Buf::default();
        for &c in &self.nodes[idx].children {
            match self.nodes[c].tag() {
                Some(Tag::Li) => {
                    let loose = std::mem::take(&mut stray).finish();
                    if !loose.is_empty() {
                        items.push(loose);
                    }
                    let mut sub = Buf::default();
                    self.children(c, inner, &mut sub);
                    let body = sub.finish();
                    if !body.is_empty() {
                        items.push(body);
                    }
                }
                Some(Tag::Ul | Tag::Ol) if !items.is_empty() && stray.s.is_empty() => {
                    // A list directly inside a list belongs to the item before it.
                    let mut sub = Buf::default();
                    self.node(c, inner, &mut sub);
                    let body = sub.finish();
                    if let Some(last) = items.last_mut()
                        && !body.is_empty()
                    {
                        last.push('\n');
                        last.push_str(&body);
                    }
                }
                _ => self.node(c, inner, &mut stray),
            }
        }
        let loose = stray.finish();
        if !loose.is_empty() {
            items.push(loose);
        }
        if items.is_empty() {
            return;
        }
        let first: u64 = start
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let mut out = String::new();
        for (n, item) in items.iter().enumerate() {
            if n > 0 {
                out.push('\n');
            }
            let marker = if ordered {
                let number = first.saturating_add(n as u64).min(999_999_999);
                format!("{number}. ")
            } else {
                "- ".to_owned()
            };
            list_item(&marker, item, &mut out);
        }
        let sep = if f.list { 1 } else { 2 };
        buf.block(sep);
        buf.raw(&out);
        buf.block(sep);
    }

    fn table(&self, idx: usize, f: Flags, buf: &mut Buf) {
        if f.table {
            // A table in a cell: its text, on one line.
            buf.block(1);
            self.children(idx, f, buf);
            buf.block(1);
            return;
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        self.rows(idx, Flags { table: true, ..f }, &mut rows);
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            // No rows: whatever text the table holds.
            buf.block(1);
            self.children(idx, f, buf);
            buf.block(1);
            return;
        }
        if rows.iter().flatten().all(String::is_empty) {
            return;
        }
        let mut out = String::new();
        for (r, row) in rows.iter().enumerate() {
            if r > 0 {
                out.push('\n');
            }
            out.push('|');
            for c in 0..columns {
                out.push(' ');
                out.push_str(row.get(c).map(String::as_str).unwrap_or_default());
                out.push_str(" |");
            }
            if r == 0 {
                out.push_str("\n|");
                for _ in 0..columns {
                    out.push_str(" --- |");
                }
            }
        }
        buf.block(2);
        buf.raw(&out);
        buf.block(2);
    }

    /// The rows of a table (also inside thead/tbody/tfoot), each cell as one line.
    fn rows(&self, idx: usize, f: Flags, rows: &mut Vec<Vec<String>>) {
        // Cells outside a <tr> make a row of their own.
        let mut loose: Vec<String> = Vec::new();
        for &c in &self.nodes[idx].children {
            match self.nodes[c].tag() {
                Some(Tag::Cell) => loose.push(self.cell(c, f)),
                Some(Tag::Row) => {
                    if !loose.is_empty() {
                        rows.push(std::mem::take(&mut loose));
                    }
                    let cells: Vec<String> = self.nodes[c]
                        .children
                        .iter()
                        .filter(|&&cell| self.nodes[cell].tag() == Some(Tag::Cell))
                        .map(|&cell| self.cell(cell, f))
                        .collect();
                    if !cells.is_empty() {
                        rows.push(cells);
                    }
                }
                Some(Tag::Line | Tag::Other | Tag::Table) => {
                    if !loose.is_empty() {
                        rows.push(std::mem::take(&mut loose));
                    }
                    self.rows(c, f, rows);
                }
                _ => {}
            }
        }
        if !loose.is_empty() {
            rows.push(loose);
        }
    }

    fn cell(&self, idx: usize, f: Flags) -> String {
        let mut sub = Buf::default();
        self.children(idx, f, &mut sub);
        flatten(&sub.finish())
    }

    fn inline_code(&self, idx: usize, f: Flags, buf: &mut Buf) {
        let mut raw = String::new();
        self.collect(idx, &mut raw, false);
        let lead = raw.starts_with(char::is_whitespace);
        let trail = raw.ends_with(char::is_whitespace);
        let code: String = raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|&c| !is_invisible_control(c))
            .collect();
        if lead {
            buf.space();
        }
        if !code.is_empty() {
            buf.raw(&code_span(&code, f.table));
        }
        if trail {
            buf.space();
        }
    }

    fn code_block(&self, idx: usize, f: Flags, buf: &mut Buf, class: Option<&str>) {
        let mut raw = String::new();
        self.collect(idx, &mut raw, true);
        let raw = raw.replace("\r\n", "\n").replace('\r', "\n");
        let code: String = raw
            .chars()
            .map(|c| if c == '\u{a0}' { ' ' } else { c })
            .filter(|&c| c == '\n' || c == '\t' || !is_invisible_control(c))
            .collect();
        let code = code.trim_start_matches('\n').trim_end();
        if code.trim().is_empty() {
            return;
        }
        if f.table {
            let flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
            buf.space();
            buf.raw(&code_span(&flat, true));
            buf.space();
            return;
        }
        let code = neutralize_code(code, false);
        let fence = "`".repeat(longest_backtick_run(&code).max(2) + 1);
        let lang = language(class.or_else(|| self.child_code_class(idx)));
        buf.block(2);
        buf.raw(&format!("{fence}{lang}\n{code}\n{fence}"));
        buf.block(2);
    }

    /// The `class` of a `<code>` directly inside a `<pre>`.
    fn child_code_class(&self, idx: usize) -> Option<&str> {
        self.nodes[idx]
            .children
            .iter()
            .find_map(|&c| match &self.nodes[c].kind {
                Kind::Elem {
                    tag: Tag::Code,
                    attrs,
                    ..
                } => attrs.class.as_deref(),
                _ => None,
            })
    }
}

/// A code span holding `code` (one line), with a fence longer than any backtick run inside.
fn code_span(code: &str, in_table: bool) -> String {
    let code = neutralize_code(code, in_table);
    let fence = "`".repeat(longest_backtick_run(&code) + 1);
    let pad = if code.starts_with('`') || code.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{code}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Names(HashMap<&'static str, &'static str>);

    impl MentionNames for Names {
        fn mattermost_username(&self, microsoft_user_id: &str) -> Option<String> {
            self.0.get(microsoft_user_id).map(|s| (*s).to_owned())
        }
    }

    fn none() -> Names {
        Names(HashMap::new())
    }

    fn md(html: &str) -> String {
        to_markdown(html, &[], &none())
    }

    #[test]
    fn paragraphs_divs_and_breaks() {
        assert_eq!(md("<p>Hello</p><p>World</p>"), "Hello\n\nWorld");
        assert_eq!(md("<div>a</div><div>b</div>"), "a\nb");
        assert_eq!(md("a<br>b<br><br><br><br>c"), "a\nb\n\nc");
        assert_eq!(md("<p>&nbsp;</p><p> x  \n y </p><p></p><p></p>"), "x y");
    }

    #[test]
    fn inline_formatting() {
        assert_eq!(
            md("<b>bold</b> <i>it</i> <s>gone</s> <strong><em>both</em></strong>"),
            "**bold** _it_ ~~gone~~ **_both_**"
        );
        assert_eq!(md("a<b> b </b>c"), "a **b** c");
        assert_eq!(md("<b><b>x</b></b>"), "**x**");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            md("1. * _ ` # [x](y) | ! \\ &lt;b&gt;"),
            "1\\. \\* \\_ \\` \\# \\[x\\]\\(y\\) \\| \\! \\\\ &lt;b&gt;"
        );
        assert_eq!(
            md("<p>- a</p><p>+ b</p><p>> c</p><p>= d</p>"),
            "\\- a\n\n\\+ b\n\n&gt; c\n\n\\= d"
        );
        assert_eq!(md("a - b + c = d 1. e"), "a - b + c = d 1. e");
        assert_eq!(md("Tom &amp; Jerry &amp;amp;"), "Tom & Jerry \\&amp;");
    }

    fn megan() -> Vec<Mention> {
        vec![
            Mention {
                id: 0,
                microsoft_user_id: Some("u-megan".into()),
                display_name: "Megan".into(),
            },
            Mention {
                id: 1,
                microsoft_user_id: Some("u-megan".into()),
                display_name: "Bowen".into(),
            },
            Mention {
                id: 2,
                microsoft_user_id: Some("u-alex".into()),
                display_name: "Alex Wilber".into(),
            },
        ]
    }

    fn linked() -> Names {
        Names(HashMap::from([("u-megan", "megan")]))
    }

    fn md_with(html: &str) -> String {
        to_markdown(html, &megan(), &linked())
    }

    #[test]
    fn split_mentions_are_joined() {
        let html = r#"<div><div><at id="0">Megan</at>&nbsp;<at id="1">Bowen</at>&nbsp;and <at id="2">Alex Wilber</at> look</div></div>"#;
        assert_eq!(md_with(html), "@megan and Alex Wilber look");
        // Not linked: the display name, once, escaped.
        assert_eq!(
            to_markdown(html, &megan(), &none()),
            "Megan Bowen and Alex Wilber look"
        );
    }

    #[test]
    fn adjacent_mentions_of_different_users_stay_apart() {
        let mentions = vec![
            Mention {
                id: 0,
                microsoft_user_id: Some("u-raghav".into()),
                display_name: "Raghav".into(),
            },
            Mention {
                id: 1,
                microsoft_user_id: Some("u-megan".into()),
                display_name: "TestGlobalBot".into(),
            },
        ];
        let html = "<div><div>\n<div>\n<div>\n<div>\n<div><at id=\"0\">Raghav</at><at id=\"1\">TestGlobalBot</at> YEAH</div></div></div></div></div></div>";
        assert_eq!(
            to_markdown(html, &mentions, &linked()),
            "Raghav @megan YEAH"
        );
    }

    #[test]
    fn mention_edge_cases() {
        // Unknown id: the text, escaped.
        assert_eq!(md_with(r#"Hi <at id="9">@all</at>"#), "Hi @\u{2060}all");
        // Empty text: the mention's display name, escaped.
        let mentions = vec![Mention {
            id: 0,
            microsoft_user_id: None,
            display_name: "[Bob](x)".into(),
        }];
        assert_eq!(
            to_markdown(r#"<at id="0"></at>!"#, &mentions, &none()),
            "\\[Bob\\]\\(x\\)\\!"
        );
        // A username that is not a plain Mattermost username is not written as a mention.
        let odd = Names(HashMap::from([("u-megan", "all"), ("u-alex", "a b")]));
        assert_eq!(
            to_markdown(
                r#"<at id="0">Megan</at> <at id="2">Alex</at>"#,
                &megan(),
                &odd
            ),
            "Megan Alex"
        );
        // A mention glued to a word gets a space so it still reads as a mention.
        assert_eq!(
            md_with(r#"Hi<at id="0">Megan</at>abc <at id="0">Megan</at>. ok"#),
            "Hi @megan abc @megan. ok"
        );
    }

    #[test]
    fn emoji_images_attachments_and_system_events() {
        assert_eq!(
            md(
                r#"<p><emoji id="smile" alt="🙂" title="Smile"></emoji> ok <emoji alt="😀"/><img src="a.png" alt="image"></p>"#
            ),
            "🙂 ok 😀"
        );
        assert_eq!(
            md(r#"<emoji id="x" alt="*"><img src="e.png"></emoji>"#),
            "\\*"
        );
        assert_eq!(
            md(r#"Here's the latest budget. <attachment id="153fa47d-18c9"></attachment>"#),
            "Here's the latest budget."
        );
        assert_eq!(md("<systemEventMessage/>"), "");
        assert_eq!(
            md("<style>p{color:red}</style><p>ok</p><script>alert(1)</script><script/>x</script>y"),
            "ok\n\ny"
        );
        assert_eq!(md("<foo>unknown</foo> <span>tags</span>"), "unknown tags");
    }

    #[test]
    fn links() {
        assert_eq!(
            md(
                r#"<a href="https://ex.com/a b(c)">site</a> <a href="mailto:a@b.c">mail</a> <a href="http://x.y/">http://x.y/</a>"#
            ),
            "[site](https://ex.com/a%20b%28c%29) [mail](mailto:a%40b.c) [http://x.y/](http://x.y/)"
        );
        assert_eq!(md(r#"<a href="/relative">rel</a> <a>none</a>"#), "rel none");
        assert_eq!(
            md(r#"<a href="https://e.com"></a>"#),
            "[https://e.com](https://e.com)"
        );
        assert_eq!(
            md(r#"<a href="https://e.com"><b>bold</b> [x]</a>"#),
            "[**bold** \\[x\\]](https://e.com)"
        );
    }

    #[test]
    fn lists() {
        assert_eq!(
            md(
                "<p>Todo:</p><ul><li>one</li><li>two<ol><li>a</li><li>b</li></ol></li><li>three</li></ul><p>end</p>"
            ),
            "Todo:\n\n- one\n- two\n  1. a\n  2. b\n- three\n\nend"
        );
        assert_eq!(
            md(r#"<ol start="9"><li>x</li><li>y<br>z</li></ol>"#),
            "9. x\n10. y\n    z"
        );
        // Unclosed items, and a list directly inside a list.
        assert_eq!(md("<ul><li>a<li>b<ul><li>c</ul></ul>"), "- a\n- b\n  - c");
        assert_eq!(md("<ul><li>a</li><ul><li>b</li></ul></ul>"), "- a\n  - b");
        assert_eq!(md("<li>stray</li>"), "- stray");
        assert_eq!(md("<ol><li>1. not a list</li></ol>"), "1. 1\\. not a list");
    }

    #[test]
    fn tables() {
        assert_eq!(
            md(
                "<table><thead><tr><th>A|B</th><th>C</th></tr></thead><tbody><tr><td>1<br>2</td><td><code>a|b</code></td></tr><tr><td>x</td></tr></tbody></table>"
            ),
            "| A\\|B | C |\n| --- | --- |\n| 1 2 | `a\\|b` |\n| x |  |"
        );
        assert_eq!(
            md(
                "<p>before</p><table><tr><td><p>multi</p><p>line</p></td><td><table><tr><td>in</td><td>ner</td></tr></table></td></tr></table>after"
            ),
            "before\n\n| multi line | in ner |\n| --- | --- |\n\nafter"
        );
        assert_eq!(md("<table><tr><td></td></tr></table>"), "");
        assert_eq!(
            md("<table><td>a</td><td>b</td><tbody><td>c</td></tbody></table>"),
            "| a | b |\n| --- | --- |\n| c |  |"
        );
        assert_eq!(md("<table><div>just text</div></table>"), "just text");
    }

    #[test]
    fn code() {
        assert_eq!(
            md("<p>Run <code>cargo `x` test</code> and <code>`tick`</code></p>"),
            "Run ``cargo `x` test`` and `` `tick` ``"
        );
        assert_eq!(
            md(
                "<pre><code class=\"language-rust\">fn main() {\n    println!(\"```\");\n}\n</code></pre>"
            ),
            "````rust\nfn main() {\n    println!(\"```\");\n}\n````"
        );
        // Teams' code block: lines as <br>, text inside not escaped, @ still neutralised.
        assert_eq!(
            md(
                r#"<codeblock class="Python"><code><span>def f(*a):</span><br><span>    return "@all &lt;b&gt;"</span></code></codeblock>"#
            ),
            "```python\ndef f(*a):\n    return \"@\u{2060}all <b>\"\n```"
        );
        assert_eq!(md("<pre>\n</pre><code> </code>x"), "x");
    }

    #[test]
    fn quotes_headings_and_rules() {
        assert_eq!(
            md("<blockquote><p>quoted</p><p>- more</p></blockquote><p>after</p>"),
            "> quoted\n>\n> \\- more\n\nafter"
        );
        assert_eq!(
            md("<h1>Title *x*</h1><h2><b>B</b></h2>text<hr>end"),
            "**Title \\*x\\***\n\n**B**\n\ntext\n\n---\n\nend"
        );
    }

    #[test]
    fn real_teams_bodies() {
        assert_eq!(
            md_with(
                r#"<div><div><div><div><at id="2">Alex</at>&nbsp;Test123</div></div></div></div>"#
            ),
            "Alex Test123"
        );
        assert_eq!(
            md(r#"<p><emoji id="smile" alt="🙂" title="Smile"></emoji></p>"#),
            "🙂"
        );
        assert_eq!(
            md_with(concat!(
                r#"<p>Hi <at id="0">Megan</at>&nbsp;<at id="1">Bowen</at>, status:</p>"#,
                r#"<ul><li><b>API</b> done <emoji id="1f44d_thumbsup" alt="👍" title="Thumbs up"></emoji></li>"#,
                r#"<li>UI<ul><li>list <i>page</i></li><li>form</li></ul></li></ul>"#,
                r#"<p>See <a href="https://contoso.sharepoint.com/sites/x/doc.docx" title="https://contoso.sharepoint.com/sites/x/doc.docx">the doc</a>.</p>"#,
                r#"<p>&nbsp;</p><codeblock class=""><code>npm run build</code></codeblock>"#,
            )),
            "Hi @megan, status:\n\n- **API** done 👍\n- UI\n  - list _page_\n  - form\n\n\
             See [the doc](https://contoso.sharepoint.com/sites/x/doc.docx).\n\n```\nnpm run build\n```"
        );
    }

    #[test]
    fn injection_is_neutralised() {
        assert_eq!(
            md(
                "<p>@all **x** [a](javascript:alert(1)) <script>x</script> ![i](http://evil) ~town-square</p>"
            ),
            "@\u{2060}all \\*\\*x\\*\\* \\[a\\]\\(javascript:alert\\(1\\)\\) \\!\\[i\\]\\(http://evil\\) \\~\u{2060}town-square"
        );
        assert_eq!(md(r#"<a href="javascript:alert(1)">x</a>"#), "x");
        assert_eq!(md(r#"<a href=" JavaScript:alert(1)">x</a>"#), "x");
        assert_eq!(md(r#"<a href="data:text/html,hi">x</a>"#), "x");
        assert_eq!(md(r#"<a href="vbscript:msgbox">x</a>"#), "x");
        assert_eq!(
            md(r#"<a href="https://e.com/)[x](javascript:1)">y</a>"#),
            "[y](https://e.com/%29%5Bx%5D%28javascript:1%29)"
        );
        assert_eq!(
            md("&lt;img src=x onerror=alert(1)&gt;"),
            "&lt;img src=x onerror=alert\\(1\\)&gt;"
        );
        assert_eq!(
            md("<p>@here @channel @Everyone</p>"),
            "@\u{2060}here @\u{2060}channel @\u{2060}Everyone"
        );
        assert_eq!(
            md("<table><tr><td>a | b</td><td>c</td></tr></table>"),
            "| a \\| b | c |\n| --- | --- |"
        );
        assert_eq!(
            md("<p>1. x</p><p>10) y</p><p># h</p><p>---</p><p>===</p>"),
            "1\\. x\n\n10\\) y\n\n\\# h\n\n\\---\n\n\\==="
        );
        assert_eq!(md("<b>x</b><b>**</b>"), "**x****\\*\\***");
        for html in [
            "<p>@all</p>",
            "<at id=\"7\">@channel</at>",
            "<emoji alt=\"@here\"></emoji>",
            "<a href=\"https://x.y\">@all</a>",
            "<code>@all</code>",
            "<table><tr><th>@here</th></tr></table>",
            "<ul><li>@channel</li></ul>",
        ] {
            let out = md(html).to_lowercase();
            for bad in ["@all", "@here", "@channel", "<"] {
                assert!(!out.contains(bad), "{html} -> {out}");
            }
        }
    }

    #[test]
    fn output_is_bounded() {
        let long = "a".repeat(MAX_MARKDOWN * 2);
        let out = md(&long);
        assert_eq!(
            out.chars().count(),
            MAX_MARKDOWN + SHORTENED.chars().count()
        );
        assert!(out.ends_with("…\n\n_(message shortened)_"));
        let stars = "*é".repeat(MAX_MARKDOWN);
        assert!(md(&stars).chars().count() <= MAX_MARKDOWN + 40);
        assert_eq!(
            text_to_markdown(&long).chars().count(),
            MAX_MARKDOWN + SHORTENED.chars().count()
        );
        // Cut inside a code block: the fence is closed before the notice.
        let code = format!(
            "<p>intro</p><ul><li><pre>{}</pre></li></ul>",
            "x``\n".repeat(MAX_MARKDOWN)
        );
        let out = md(&code);
        assert!(out.starts_with("intro\n\n- ```\n  x``\n"), "{}", &out[..40]);
        assert!(
            out.ends_with("x``…\n```\n\n_(message shortened)_"),
            "{}",
            &out[out.len() - 60..]
        );
        assert!(out.chars().count() <= MAX_MARKDOWN + 40);
    }

    #[test]
    fn hostile_nesting_is_bounded() {
        for tag in [
            "div",
            "b",
            "ul><li",
            "blockquote",
            "table><tr><td",
            "a href=\"http://x\"",
        ] {
            let html = format!(
                "{}deep{}",
                format!("<{tag}>").repeat(50_000),
                "</x>".repeat(10)
            );
            let out = md(&html);
            assert!(out.contains("deep"), "{tag}");
            assert!(out.chars().count() <= MAX_MARKDOWN + 40);
        }
        let html = "<a href=\"http://x\">".repeat(100);
        let _ = md(&html);
    }

    #[test]
    fn plain_text_and_quote() {
        assert_eq!(
            text_to_markdown("  Launch *plan* @all\r\n\n\n\n# two <b>\n~x"),
            "Launch \\*plan\\* @\u{2060}all\n\n\\# two &lt;b&gt;\n\\~\u{2060}x"
        );
        assert_eq!(text_to_markdown("big.zip"), "big.zip");
        assert_eq!(text_to_markdown(""), "");
        assert_eq!(quote("a\n\nb"), "> a\n>\n> b");
        assert_eq!(quote("x"), "> x");
    }

    fn html_escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_is_bounded(s in proptest::prelude::any::<String>()) {
            let out = to_markdown(&s, &megan(), &linked());
            proptest::prop_assert!(out.chars().count() <= MAX_MARKDOWN + 40);
        }

        #[test]
        fn tag_soup_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
            "<p>", "</p>", "<div>", "</div>", "<br>", "<b>", "</b>", "<i>", "</i>", "<s>", "<ul>",
            "<ol start=\"7\">", "</ul>", "</ol>", "<li>", "</li>", "<table>", "<tr>", "<td>", "<th>",
            "</td>", "</tr>", "</table>", "<code>", "</code>", "<pre>", "</pre>", "<blockquote>",
            "</blockquote>", "<h2>", "</h2>", "<a href=\"https://x.y/(a)\">", "<a href=\"javascript:1\">",
            "</a>", "<at id=\"0\">", "<at id=\"1\">", "<at id=\"2\">", "</at>", "<emoji alt=\"@all\">",
            "</emoji>", "<img src=x>", "<attachment id=\"1\">", "</attachment>", "<script>", "</script>",
            "<hr>", "&nbsp;", " ", "\n", "@all", "~town", "`", "```", "|", "*", "_", "1.", "-", "text",
            "é", "&amp;", "<!-- c -->", "<", ">",
        ]), 0..120)) {
            let html: String = parts.concat();
            let out = to_markdown(&html, &megan(), &linked());
            proptest::prop_assert!(out.chars().count() <= MAX_MARKDOWN + 40);
            let lower = out.to_lowercase();
            proptest::prop_assert!(!lower.contains("@all"),
                "{} -> {}",
                html,
                out
            );
        }

        #[test]
        fn escaped_text_stays_text(s in proptest::prelude::any::<String>()) {
            let out = to_markdown(&html_escape(&s), &[], &none()).to_lowercase();
            proptest::prop_assert!(!out.contains('<'), "{}", out);
            for bad in ["@all", "@here", "@channel"] {
                proptest::prop_assert!(!out.contains(bad), "{}", out);
            }
            let plain = text_to_markdown(&s).to_lowercase();
            proptest::prop_assert!(!plain.contains('<') && !plain.contains("@all"), "{}", plain);
        }
    }
}
