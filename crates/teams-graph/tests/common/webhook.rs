//! A webhook for change notifications on a plain std listener: it answers Graph's validation
//! handshake by echoing the token (decoded with [`validation_token`], as the bridge does) and
//! 202 to anything else, which it records. Include it with
//! `#[path = "common/webhook.rs"] mod webhook;`.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use teams_graph::{RawNotification, parse_notification_batch, validation_token};

/// One request the webhook received: its target (path and query) and body.
#[derive(Debug, Clone)]
pub struct Received {
    pub target: String,
    pub body: Vec<u8>,
}

pub struct Webhook {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind webhook");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || answer(stream, &log));
            }
        });
        Self { base, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every notification item POSTed to `path` so far (handshakes left out), oldest first.
    pub fn items(&self, path: &str) -> Vec<RawNotification> {
        self.received
            .lock()
            .expect("log")
            .iter()
            .filter(|r| r.target == path)
            .flat_map(|r| parse_notification_batch(&r.body).expect("a notification batch"))
            .map(|item| item.expect("a valid notification"))
            .collect()
    }

    /// Waits up to 10 s for at least `count` items at `path`, and returns them all.
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<RawNotification> {
        for _ in 0..500 {
            let items = self.items(path);
            if items.len() >= count {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{} notifications at {path}, not {count}",
            self.items(path).len()
        );
    }
}

fn answer(mut stream: TcpStream, log: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let target = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let body = data[head_end..].to_vec();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let response = match validation_token(query) {
        Some(token) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{token}",
            token.len()
        ),
        None => {
            log.lock().expect("log").push(Received { target, body });
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
        }
    };
    let _ = stream.write_all(response.as_bytes());
}
