//! The Microsoft identity platform, as far as the bridges use it: the authorize endpoint (which
//! consents at once as a chosen test user), the token endpoint (authorization code with PKCE,
//! refresh token, client credentials) with its documented error bodies, and bearer-token checks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::error::GraphError;
use crate::model::url_escape;
use crate::state::{AccessGrant, AuthCode, Principal, RefreshGrant};

/// The authenticated caller of a Graph endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) principal: Principal,
}

impl Caller {
    /// The signed-in user, for endpoints that only work with delegated tokens (`/me`, sending
    /// messages).
    pub(crate) fn user_id(&self, what: &str) -> Result<&str, GraphError> {
        match &self.principal {
            Principal::User { user_id, .. } => Ok(user_id),
            Principal::App { .. } => Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("{what} is only valid with delegated authentication flow."),
            )),
        }
    }
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, GraphError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| GraphError::unauthorized("Access token is empty."))?;
        let tenant = shared.lock();
        let grant = tenant.access_tokens.get(token).ok_or_else(|| {
            GraphError::unauthorized("Access token validation failure. Invalid audience.")
        })?;
        if grant.expires_at <= tenant.now() {
            return Err(GraphError::unauthorized(
                "Lifetime validation failed, the token is expired.",
            ));
        }
        Ok(Self {
            principal: grant.principal.clone(),
        })
    }
}

fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub(crate) fn issue_access_token(shared: &Shared, principal: Principal) -> String {
    let token = random_token("eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0");
    let mut tenant = shared.lock();
    let expires_at = tenant.now() + shared.options.access_token_lifetime;
    tenant.access_tokens.insert(
        token.clone(),
        AccessGrant {
            principal,
            expires_at,
        },
    );
    token
}

fn tenant_matches(shared: &Shared, tenant: &str) -> bool {
    let id = shared.lock().tenant_id.clone();
    tenant == id || matches!(tenant, "common" | "organizations") || tenant.contains('.')
}

/// An identity-platform error body, exactly as the token endpoint sends it.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, code: u32, description: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            description: description.to_owned(),
        }
    }

    fn invalid_grant(code: u32, description: &str) -> Self {
        Self::new("invalid_grant", code, description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        });
        (self.status, Json(body)).into_response()
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Sign in</title><h1>Sorry, but we're having trouble signing you in.</h1><p>{}</p>",
        html_escape(message)
    );
    (status, Html(body)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// GET /{tenant}/oauth2/v2.0/authorize
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !tenant_matches(&shared, &tenant) {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    let client_id = q.get("client_id").cloned().unwrap_or_default();
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let app = shared.lock().apps.get(&client_id).cloned();
    let Some(app) = app else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
            ),
        );
    };
    if !app.redirect_uris.is_empty() && !app.redirect_uris.contains(&redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
            ),
        );
    }
    let state = q.get("state").cloned();
    let back = |params: &[(&str, &str)]| {
        let mut url = redirect_uri.clone();
        let mut separator = if url.contains('?') { '&' } else { '?' };
        for (k, v) in params
            .iter()
            .copied()
            .chain(state.as_deref().map(|s| ("state", s)))
        {
            url.push(separator);
            url.push_str(&format!("{k}={}", url_escape(v)));
            separator = '&';
        }
        (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
    };
    if !q
        .get("response_type")
        .is_some_and(|t| t.split(' ').any(|p| p == "code"))
    {
        return back(&[
            ("error", "unsupported_response_type"),
            (
                "error_description",
                "AADSTS70005: response_type 'code' is required.",
            ),
        ]);
    }
    let challenge = match (
        q.get("code_challenge"),
        q.get("code_challenge_method").map(String::as_str),
    ) {
        (None, _) => None,
        (Some(c), None | Some("plain")) => Some((c.clone(), "plain".to_owned())),
        (Some(c), Some("S256")) => Some((c.clone(), "S256".to_owned())),
        (Some(_), Some(other)) => {
            return back(&[
                ("error", "invalid_request"),
                (
                    "error_description",
                    &format!("AADSTS501491: Invalid code_challenge_method '{other}'."),
                ),
            ]);
        }
    };
    let (chosen, users) = {
        let tenant = shared.lock();
        let hinted = q
            .get("login_hint")
            .and_then(|hint| tenant.find_user(hint))
            .map(|u| u.id.clone());
        let picked = q
            .get("emulator_user")
            .filter(|id| tenant.users.contains_key(*id))
            .cloned();
        let chosen = hinted.or(picked).or_else(|| tenant.sign_in_as.clone());
        let users: Vec<(String, String, String)> = tenant
            .users
            .values()
            .map(|u| {
                (
                    u.id.clone(),
                    u.display_name.clone(),
                    u.user_principal_name.clone(),
                )
            })
            .collect();
        (chosen, users)
    };
    let Some(user_id) = chosen else {
        return account_picker(&tenant, &q, &users);
    };
    let enabled = shared
        .lock()
        .users
        .get(&user_id)
        .is_some_and(|u| u.account_enabled);
    if !enabled {
        return back(&[
            ("error", "access_denied"),
            (
                "error_description",
                "AADSTS50057: The user account is disabled.",
            ),
        ]);
    }
    let code = random_token("0.AXEA");
    let mut tenant_state = shared.lock();
    let expires_at = tenant_state.now() + TimeDelta::minutes(10);
    tenant_state.codes.insert(
        code.clone(),
        AuthCode {
            client_id,
            redirect_uri: redirect_uri.clone(),
            user_id,
            scope: q.get("scope").cloned().unwrap_or_default(),
            code_challenge: challenge,
            expires_at,
        },
    );
    drop(tenant_state);
    back(&[("code", &code)])
}

/// With no user chosen in advance, a page to pick one: the sandbox's sign-in, by hand.
fn account_picker(
    tenant: &str,
    q: &HashMap<String, String>,
    users: &[(String, String, String)],
) -> Response {
    let query: String = q
        .iter()
        .filter(|(k, _)| k.as_str() != "emulator_user")
        .map(|(k, v)| format!("{}={}&", url_escape(k), url_escape(v)))
        .collect();
    let items: String = users
        .iter()
        .map(|(id, name, upn)| {
            format!(
                "<li><a href=\"/{}/oauth2/v2.0/authorize?{query}emulator_user={}\">{} ({})</a></li>",
                url_escape(tenant),
                url_escape(id),
                html_escape(name),
                html_escape(upn)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><title>Pick an account</title><h1>Pick an account</h1><p>Microsoft identity platform emulator: choose who signs in.</p><ul>{items}</ul>"
    ))
    .into_response()
}

fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    if let Some((id, secret)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
    {
        return (Some(id), Some(secret));
    }
    (
        form.get("client_id").cloned(),
        form.get("client_secret").cloned(),
    )
}

fn pkce_matches(challenge: &(String, String), verifier: &str) -> bool {
    let (challenge, method) = challenge;
    if method == "S256" {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref()) == *challenge
    } else {
        verifier == challenge
    }
}

/// POST /{tenant}/oauth2/v2.0/token
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match token_inner(&shared, &tenant, &headers, &form) {
        Ok(body) => Json(body).into_response(),
        Err(err) => err.into_response(),
    }
}

fn token_inner(
    shared: &Arc<Shared>,
    tenant: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    if !tenant_matches(shared, tenant) {
        return Err(OAuthError::new(
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        ));
    }
    let (client_id, secret) = client_credentials(headers, form);
    let client_id = client_id.ok_or_else(|| {
        OAuthError::new(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    })?;
    let app = shared.lock().apps.get(&client_id).cloned().ok_or_else(|| {
        OAuthError::new(
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        )
    })?;
    match secret {
        None => {
            return Err(OAuthError::new(
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
        Some(secret) if secret != app.client_secret => {
            let mut err = OAuthError::new(
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            );
            err.status = StatusCode::UNAUTHORIZED;
            return Err(err);
        }
        Some(_) => {}
    }
    let grant_type = form
        .get("grant_type")
        .map(String::as_str)
        .unwrap_or_default();
    match grant_type {
        "authorization_code" => redeem_code(shared, &client_id, form),
        "refresh_token" => refresh(shared, &client_id, form),
        "client_credentials" => {
            let scope = form.get("scope").cloned().unwrap_or_default();
            if !scope.split(' ').all(|s| s.ends_with("/.default")) || scope.is_empty() {
                return Err(OAuthError::new(
                    "invalid_scope",
                    1002012,
                    &format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                ));
            }
            let access = issue_access_token(shared, Principal::App { client_id });
            Ok(json!({
                "token_type": "Bearer",
                "expires_in": shared.options.access_token_lifetime.num_seconds(),
                "ext_expires_in": shared.options.access_token_lifetime.num_seconds(),
                "access_token": access,
            }))
        }
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn redeem_code(
    shared: &Arc<Shared>,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let code = form.get("code").cloned().unwrap_or_default();
    let grant = {
        let mut tenant = shared.lock();
        if tenant.redeemed_codes.contains(&code) {
            return Err(OAuthError::invalid_grant(
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        let grant = tenant.codes.remove(&code);
        if grant.is_some() {
            tenant.redeemed_codes.insert(code.clone());
        }
        let now = tenant.now();
        match grant {
            None => {
                return Err(OAuthError::invalid_grant(
                    70000,
                    "The provided value for the 'code' parameter is not valid.",
                ));
            }
            Some(grant) if grant.expires_at <= now => {
                return Err(OAuthError::invalid_grant(
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
                ));
            }
            Some(grant) => grant,
        }
    };
    if grant.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            70000,
            "The code was issued to another application.",
        ));
    }
    if form
        .get("redirect_uri")
        .is_some_and(|r| *r != grant.redirect_uri)
    {
        return Err(OAuthError::invalid_grant(
            50148,
            "The redirect_uri doesn't match the one used in the authorization request.",
        ));
    }
    if let Some(challenge) = &grant.code_challenge {
        let verified = form
            .get("code_verifier")
            .is_some_and(|v| pkce_matches(challenge, v));
        if !verified {
            return Err(OAuthError::invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    Ok(user_tokens(shared, client_id, &grant.user_id, &grant.scope))
}

fn refresh(
    shared: &Arc<Shared>,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthError> {
    let token = form.get("refresh_token").cloned().unwrap_or_default();
    let grant = shared.lock().refresh_tokens.get(&token).cloned().ok_or_else(|| {
        OAuthError::invalid_grant(
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
        )
    })?;
    if grant.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            70000,
            "The refresh token was issued to another application.",
        ));
    }
    let enabled = shared
        .lock()
        .users
        .get(&grant.user_id)
        .is_some_and(|u| u.account_enabled);
    if !enabled {
        return Err(OAuthError::invalid_grant(
            50057,
            "The user account is disabled.",
        ));
    }
    Ok(user_tokens(shared, client_id, &grant.user_id, &grant.scope))
}

/// Access token, plus a refresh token with `offline_access` and an id token with `openid`.
fn user_tokens(shared: &Arc<Shared>, client_id: &str, user_id: &str, scope: &str) -> Value {
    let access = issue_access_token(
        shared,
        Principal::User {
            user_id: user_id.to_owned(),
            client_id: client_id.to_owned(),
        },
    );
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let resource_scopes: Vec<&str> = scopes
        .iter()
        .copied()
        .filter(|s| !matches!(*s, "offline_access" | "openid" | "profile" | "email"))
        .collect();
    let lifetime = shared.options.access_token_lifetime.num_seconds();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": resource_scopes.join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    });
    if scopes.contains(&"offline_access") {
        let refresh = random_token("0.AXEA-refresh");
        shared.lock().refresh_tokens.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                user_id: user_id.to_owned(),
                scope: scope.to_owned(),
            },
        );
        body["refresh_token"] = Value::String(refresh);
    }
    if scopes.contains(&"openid") {
        let tenant = shared.lock();
        let user = tenant.users.get(user_id);
        let claims = json!({
            "aud": client_id,
            "iss": format!("https://login.microsoftonline.com/{}/v2.0", tenant.tenant_id),
            "tid": tenant.tenant_id,
            "oid": user_id,
            "sub": user_id,
            "name": user.map(|u| u.display_name.clone()),
            "preferred_username": user.map(|u| u.user_principal_name.clone()),
        });
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"none"}"#);
        body["id_token"] = Value::String(format!(
            "{header}.{}.",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        ));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_is_base64url_of_sha256() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
            "S256".to_owned(),
        );
        assert!(pkce_matches(&challenge, verifier));
        assert!(!pkce_matches(
            &challenge,
            "another-verifier-of-enough-length-aaaaaaaaaa"
        ));
        assert!(pkce_matches(&("plain-v".into(), "plain".into()), "plain-v"));
    }
}
