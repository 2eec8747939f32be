//! The one browser page of the sign-in round trip: plain, self-contained HTML, every dynamic part
//! escaped.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bridge_core::linking::SignInPage;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes `text` and shows `code` spans (the commands in our messages) as code.
fn with_code(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

pub(crate) fn render(page: &SignInPage, product_name: &str) -> Response {
    let status = if page.success {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - {product}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2329}}\
         h1{{font-size:1.5rem}} .ok{{color:#1b7f3b}} .fail{{color:#b42318}} code{{background:#f2f4f7;padding:0 .2em}}</style>\
         </head><body><h1 class=\"{class}\">{title}</h1><p>{message}</p><p><small>{product}</small></p></body></html>\n",
        title = escape(&page.title),
        product = escape(product_name),
        class = if page.success { "ok" } else { "fail" },
        message = with_code(&page.message),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Inline style only: no script, frame, form or outside resource can run here.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'",
            ),
            // The page's address holds the sign-in code and state: no link may carry it away.
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_text_is_escaped() {
        assert_eq!(
            with_code("run `/msteams connect` <script>&"),
            "run <code>/msteams connect</code> &lt;script&gt;&amp;"
        );
    }
}
