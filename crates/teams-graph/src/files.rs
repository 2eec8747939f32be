//! The files of a chat message, downloaded with the client's token: pasted images (hosted
//! contents, `GET /chats/{chat}/messages/{message}/hostedContents/{id}/$value`) and shared files
//! (`reference` attachments, whose `contentUrl` is a SharePoint URL, fetched through
//! `GET /shares/{u!base64url(url)}/driveItem/content`, which answers with a redirect to a
//! pre-authenticated download URL).
//!
//! Downloads stop at a maximum size instead of reading a huge file whole: the answer is then
//! [`Downloaded::TooLarge`]. The token goes to `graph_url` only: a shared file's URL is never
//! fetched itself, and the redirect Graph answers with is followed without the token when it
//! leaves Graph's host (reqwest drops `Authorization` on cross-host redirects).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};

use crate::graph::{GraphClient, GraphError, error_of};
use crate::transport::describe;

/// The most of an error answer's body that is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A downloaded file.
#[derive(Clone, PartialEq, Eq)]
pub struct Download {
    pub bytes: Vec<u8>,
    /// The `Content-Type` served, such as `image/png`.
    pub content_type: Option<String>,
    /// The file name the server gave (`Content-Disposition`), without any path.
    pub name: Option<String>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("bytes", &self.bytes.len())
            .field("content_type", &self.content_type)
            .field("name", &self.name)
            .finish()
    }
}

/// What a download came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Downloaded {
    File(Download),
    /// Larger than the maximum asked for: reading stopped there. `size` is the size the server
    /// announced, when it did.
    TooLarge {
        limit: u64,
        size: Option<u64>,
    },
}

/// A sharing URL as `/shares/{id}` takes it: `u!` and the URL in unpadded base64url.
pub fn encode_sharing_url(url: &str) -> String {
    format!("u!{}", URL_SAFE_NO_PAD.encode(url.as_bytes()))
}

/// The ids of the pasted images of an HTML message body: each `<img>` whose `src` is a hosted
/// content (`…/hostedContents/{id}/$value`), in order, each once. A plain scan of the tags, which
/// never fails: anything it cannot read is not an image of the message.
pub fn hosted_content_ids(html: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<img") {
        let start = at + found + "<img".len();
        let rest = &html[start..];
        // `<imgx` is another element.
        if !rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>') {
            at = start;
            continue;
        }
        let (src, len) = src_attribute(rest);
        at = start + len.max(1).min(rest.len());
        if let Some(id) = src.as_deref().and_then(hosted_id)
            && !ids.contains(&id)
        {
            ids.push(id);
        }
        if at >= html.len() {
            break;
        }
    }
    ids
}

/// The `src` of a tag's attributes (`tag` starts after the element name), and how many bytes
/// the tag has up to its `>`.
fn src_attribute(tag: &str) -> (Option<String>, usize) {
    let bytes = tag.as_bytes();
    let mut i = 0;
    let mut src = None;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'>' {
            return (src, i + 1);
        }
        if c.is_ascii_whitespace() || c == b'/' {
            i += 1;
            continue;
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = &tag[name_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let value_start = i + 1;
                let end = tag[value_start..]
                    .find(char::from(quote))
                    .map_or(tag.len(), |e| value_start + e);
                i = (end + 1).min(tag.len());
                &tag[value_start..end]
            }
            _ => {
                let value_start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[value_start..i]
            }
        };
        if name.eq_ignore_ascii_case("src") && src.is_none() {
            src = Some(value.replace("&amp;", "&"));
        }
    }
    (src, bytes.len())
}

/// The hosted-content id in an image URL: what lies between `/hostedContents/` and `/$value`,
/// percent-decoded; `None` for any other URL or an id with spaces or control characters.
fn hosted_id(src: &str) -> Option<String> {
    const MARK: &str = "/hostedcontents/";
    let lower = src.to_ascii_lowercase();
    let start = lower.find(MARK)? + MARK.len();
    let rest = &src[start..];
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let lower_rest = rest.to_ascii_lowercase();
    let end = lower_rest
        .rfind("/$value")
        .or_else(|| lower_rest.rfind("/%24value"))?;
    let id = percent_decode(&rest[..end])?;
    let valid = !id.is_empty()
        && id.len() <= 4096
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
        && !matches!(id.as_str(), "." | "..");
    valid.then_some(id)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file name of a `Content-Disposition` (`filename*=UTF-8''…` first, then `filename=`),
/// without any directory part.
fn disposition_name(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for part in value.split(';').map(str::trim) {
        let Some((key, v)) = part.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let v = v.trim();
                let encoded = v.split_once("''").map_or(v, |(charset, rest)| {
                    if charset.eq_ignore_ascii_case("utf-8") {
                        rest
                    } else {
                        ""
                    }
                });
                extended = percent_decode(encoded);
            }
            "filename" => plain = Some(v.trim().trim_matches('"').to_owned()),
            _ => {}
        }
    }
    let name = extended.or(plain)?;
    let name = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    (!name.is_empty() && !name.chars().any(char::is_control)).then(|| name.to_owned())
}

impl GraphClient {
    /// A pasted image of a chat message (`GET /chats/{chat}/messages/{message}/hostedContents/
    /// {id}/$value`), at most `max_bytes` long. Works with application and delegated tokens
    /// (`Chat.Read.All` / `ChatMessage.Read.All`, or `Chat.Read`).
    pub async fn download_hosted_content(
        &self,
        chat_id: &str,
        message_id: &str,
        hosted_content_id: &str,
        max_bytes: u64,
    ) -> Result<Downloaded, GraphError> {
        let url = self.url(
            &[
                "chats",
                chat_id,
                "messages",
                message_id,
                "hostedContents",
                hosted_content_id,
                "$value",
            ],
            &[],
        );
        self.download("download_hosted_content", url, max_bytes)
            .await
    }

    /// A shared file by the URL a `reference` attachment carries (`GET /shares/{u!…}/driveItem/
    /// content`, see [`encode_sharing_url`]), at most `max_bytes` long. Needs `Files.Read.All`
    /// (or `Sites.Read.All`).
    pub async fn download_shared_file(
        &self,
        content_url: &str,
        max_bytes: u64,
    ) -> Result<Downloaded, GraphError> {
        let share = encode_sharing_url(content_url);
        let url = self.url(&["shares", &share, "driveItem", "content"], &[]);
        self.download("download_shared_file", url, max_bytes).await
    }

    async fn download(
        &self,
        label: &'static str,
        url: url::Url,
        max_bytes: u64,
    ) -> Result<Downloaded, GraphError> {
        let mut response = self.get_streaming(label, url).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let read_err = |e: reqwest::Error| GraphError::Transport(describe(e));
        if !(200..300).contains(&status) {
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(read_err)? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ERROR_BODY {
                    break;
                }
            }
            return Err(error_of(status, &headers, &body));
        }
        let size = response.content_length();
        if size.is_some_and(|s| s > max_bytes) {
            return Ok(Downloaded::TooLarge {
                limit: max_bytes,
                size,
            });
        }
        let capacity = usize::try_from(size.unwrap_or(0).min(max_bytes)).unwrap_or(0);
        let mut bytes = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(read_err)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Ok(Downloaded::TooLarge {
                    limit: max_bytes,
                    size,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Downloaded::File(Download {
            bytes,
            content_type: text(CONTENT_TYPE).filter(|t| !t.is_empty()),
            name: text(CONTENT_DISPOSITION).and_then(|d| disposition_name(&d)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_urls_are_unpadded_base64url_after_u_bang() {
        // The example of Graph's "Accessing shared items" page.
        assert_eq!(
            encode_sharing_url(
                "https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1"
            ),
            "u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9MTIwMTkxOSExMjkyMSEx"
        );
        let encoded = encode_sharing_url("https://x.sharepoint.com/a b/ü?.docx");
        assert!(!encoded.contains(['=', '+', '/']), "{encoded}");
    }

    #[test]
    fn hosted_content_ids_come_from_img_sources_only() {
        let html = concat!(
            r#"<p>Look:</p><p><img src="https://graph.microsoft.com/v1.0/chats/19:a@thread.v2/messages/1/hostedContents/aWQ9eF8w+LzE=/$value" alt="image" width="250"></p>"#,
            r#"<IMG alt='x' SRC='https://graph.microsoft.com/v1.0/chats/c/messages/1/hostedContents/second%3D/%24value'>"#,
            r#"<img src="https://graph.microsoft.com/v1.0/chats/c/messages/1/hostedContents/aWQ9eF8w+LzE=/$value">"#,
            r#"<img src="https://example.com/cat.png"><imgx src="/hostedContents/no/$value">"#,
            r#"<p>/hostedContents/text/$value</p><img src=/hostedContents/bare/$value>"#,
            r#"<img src="/hostedContents/has space/$value"><img src="/hostedContents//$value"><img src="#,
        );
        assert_eq!(
            hosted_content_ids(html),
            ["aWQ9eF8w+LzE=", "second=", "bare"]
        );
        assert!(hosted_content_ids("").is_empty());
        assert!(hosted_content_ids("<img").is_empty());
        assert!(hosted_content_ids("<img src='unterminated").is_empty());
        assert!(hosted_content_ids("é<img src=\"/hostedContents/ü/$value\">é").len() == 1);
    }

    #[test]
    fn disposition_names_lose_paths_and_prefer_the_utf8_form() {
        assert_eq!(
            disposition_name(r#"attachment; filename="plan.docx""#).as_deref(),
            Some("plan.docx")
        );
        assert_eq!(
            disposition_name(r#"attachment; filename="_.txt"; filename*=UTF-8''%C3%BC.txt"#)
                .as_deref(),
            Some("ü.txt")
        );
        assert_eq!(
            disposition_name(r#"attachment; filename="../../etc/passwd""#).as_deref(),
            Some("passwd")
        );
        assert_eq!(disposition_name("attachment"), None);
    }

    #[test]
    fn debug_shows_the_size_not_the_bytes() {
        let d = Download {
            bytes: b"secret".to_vec(),
            content_type: None,
            name: None,
        };
        assert!(!format!("{d:?}").contains("115"), "{d:?}");
    }
}
