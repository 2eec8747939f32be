//! The bot DM for one Teams chat message (T6): who wrote, in which chat, the message quoted, the
//! files, and a link that opens it in Teams.

use super::html;
use super::model::ChatKind;

/// Most files a notification carries; more are only counted.
pub const MAX_FILES: usize = 10;

/// Longest DM, in characters: Mattermost refuses posts over 16,383 by default.
pub const MAX_POST: usize = 16_000;

/// `body` (Markdown) quoted in at most `budget` characters; cut on a line boundary when it is
/// longer, with any open code fence closed and a note that it was shortened.
fn quote_within(body: &str, budget: usize) -> String {
    let quoted = html::quote(body);
    if quoted.chars().count() <= budget {
        return quoted;
    }
    let note = "\n>\n> _(message shortened; open it in Teams for the rest)_";
    let mut keep = body.chars().count();
    loop {
        keep = keep * 3 / 4;
        let mut cut: String = body.chars().take(keep).collect();
        if let Some(newline) = cut.rfind('\n') {
            cut.truncate(newline);
        }
        let fences = cut
            .lines()
            .filter(|l| l.trim_start().starts_with("```"))
            .count();
        if fences % 2 == 1 {
            cut.push_str("\n```");
        }
        let mut quoted = html::quote(&cut);
        quoted.push_str(note);
        if quoted.chars().count() <= budget || keep == 0 {
            return quoted;
        }
    }
}

/// What the DM says, gathered by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification<'a> {
    pub sender_name: &'a str,
    pub chat_kind: ChatKind,
    /// The chat's topic (group chats may have one).
    pub topic: Option<&'a str>,
    /// How many members the chat has, sender and recipient included.
    pub member_count: usize,
    /// The message body, already converted to Markdown (see [`html::to_markdown`]).
    pub body_markdown: &'a str,
    /// Text carried by attachments (code snippets, adaptive cards), converted.
    pub attachment_texts: &'a [String],
    /// Files that could not be attached (too large, unreadable), by name.
    pub files_left_out: &'a [String],
    /// Files the message had beyond [`MAX_FILES`].
    pub files_over_limit: usize,
    pub chat_id: &'a str,
    pub message_id: &'a str,
    /// Graph's `webUrl` when it gave one.
    pub web_url: Option<&'a str>,
}

/// A link that opens the message in Teams: Graph's `webUrl` when it is a Teams https link, else
/// the documented deep-link form.
pub fn teams_link(chat_id: &str, message_id: &str, web_url: Option<&str>) -> String {
    if let Some(url) = web_url.filter(|u| {
        u.starts_with("https://teams.microsoft.com/")
            && !u.contains(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>'))
    }) {
        return url.to_owned();
    }
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "https://teams.microsoft.com/l/message/{}/{}?context=%7B%22contextType%22%3A%22chat%22%7D",
        encode(chat_id),
        encode(message_id)
    )
}

/// The DM's Markdown.
pub fn compose(n: &Notification<'_>) -> String {
    let sender = html::text_to_markdown(n.sender_name.trim());
    let sender = if sender.is_empty() {
        "Someone".to_owned()
    } else {
        format!("**{sender}**")
    };
    let topic = n
        .topic
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| format!(" **{}**", html::text_to_markdown(t)));
    let header = match n.chat_kind {
        ChatKind::OneOnOne => format!("{sender} in an MS Teams chat:"),
        ChatKind::Group | ChatKind::Meeting => {
            let others = n.member_count.saturating_sub(2);
            let with = match others {
                0 => String::new(),
                1 => " and 1 other user".to_owned(),
                n => format!(" and {n} other users"),
            };
            format!(
                "{sender}{with} in an MS Teams group chat{}:",
                topic.unwrap_or_default()
            )
        }
    };
    let mut out = header;
    let mut body = n.body_markdown.trim().to_owned();
    for text in n.attachment_texts {
        let text = text.trim();
        if !text.is_empty() {
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            body.push_str(text);
        }
    }
    let mut footer = String::new();
    let left_out = n.files_left_out.len() + n.files_over_limit;
    if left_out > 0 {
        let names: Vec<String> = n
            .files_left_out
            .iter()
            .map(|name| html::text_to_markdown(name))
            .collect();
        footer.push_str("\n\n_");
        if left_out == 1 {
            footer.push_str("1 file could not be attached");
        } else {
            footer.push_str(&format!("{left_out} files could not be attached"));
        }
        if !names.is_empty() {
            // File names are the sender's: keep the note to a sane length.
            let names: String = names.join(", ").chars().take(1_000).collect();
            footer.push_str(&format!(" ({names})"));
        }
        footer.push_str("; open the message in Teams to see it._");
    }
    footer.push_str(&format!(
        "\n\n[Open in Microsoft Teams]({})",
        teams_link(n.chat_id, n.message_id, n.web_url)
    ));
    if !body.is_empty() {
        let budget = MAX_POST.saturating_sub(out.chars().count() + footer.chars().count() + 1);
        out.push('\n');
        out.push_str(&quote_within(&body, budget));
    }
    out.push_str(&footer);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base<'a>() -> Notification<'a> {
        Notification {
            sender_name: "Megan Bowen",
            chat_kind: ChatKind::OneOnOne,
            topic: None,
            member_count: 2,
            body_markdown: "Hello **there**",
            attachment_texts: &[],
            files_left_out: &[],
            files_over_limit: 0,
            chat_id: "19:abc@thread.v2",
            message_id: "1616990032035",
            web_url: None,
        }
    }

    #[test]
    fn one_on_one_and_group_headers() {
        let text = compose(&base());
        assert!(
            text.starts_with("**Megan Bowen** in an MS Teams chat:\n> Hello **there**"),
            "{text}"
        );
        assert!(text.ends_with("[Open in Microsoft Teams](https://teams.microsoft.com/l/message/19%3Aabc%40thread.v2/1616990032035?context=%7B%22contextType%22%3A%22chat%22%7D)"), "{text}");

        let group = Notification {
            chat_kind: ChatKind::Group,
            topic: Some("Launch *plan*"),
            member_count: 5,
            ..base()
        };
        let text = compose(&group);
        assert!(
            text.starts_with(
                "**Megan Bowen** and 3 other users in an MS Teams group chat **Launch \\*plan\\***:"
            ),
            "{text}"
        );
        let small = Notification {
            chat_kind: ChatKind::Group,
            member_count: 3,
            ..base()
        };
        assert!(
            compose(&small)
                .starts_with("**Megan Bowen** and 1 other user in an MS Teams group chat:")
        );
    }

    #[test]
    fn names_cannot_inject_markup_and_files_left_out_are_said() {
        let n = Notification {
            sender_name: "@all [x](http://evil)",
            files_left_out: &["big.zip".to_owned()],
            files_over_limit: 2,
            ..base()
        };
        let text = compose(&n);
        assert!(!text.contains("@all"), "{text}");
        assert!(!text.contains("[x](http://evil)"), "{text}");
        assert!(
            text.contains(
                "_3 files could not be attached (big.zip); open the message in Teams to see it._"
            ),
            "{text}"
        );
    }

    #[test]
    fn long_messages_are_shortened_to_fit_a_post() {
        let body = format!("```\n{}\n```\n", "line of code\n".repeat(3_000));
        let cards = vec!["card text ".repeat(500)];
        let n = Notification {
            body_markdown: &body,
            attachment_texts: &cards,
            ..base()
        };
        let text = compose(&n);
        assert!(text.chars().count() <= MAX_POST, "{}", text.chars().count());
        assert!(text.contains("_(message shortened; open it in Teams for the rest)_"));
        assert!(text.ends_with(")"), "the link survives");
        let fences = text.lines().filter(|l| l.contains("```")).count();
        assert_eq!(fences % 2, 0, "the code block is closed");
        // A short message is untouched.
        assert!(!compose(&base()).contains("shortened"));
    }

    #[test]
    fn web_url_is_used_only_when_it_is_a_teams_link() {
        assert_eq!(
            teams_link("c", "m", Some("https://teams.microsoft.com/l/message/c/m")),
            "https://teams.microsoft.com/l/message/c/m"
        );
        assert!(
            teams_link("c", "m", Some("https://evil.example/x"))
                .starts_with("https://teams.microsoft.com/l/message/c/m")
        );
    }
}
