use url::Url;

/// Why a Graph or login URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{0}` is not an absolute http(s) URL")]
    NotHttp(String),
    #[error("tenant `{0}` contains characters that cannot appear in a login URL")]
    BadTenant(String),
}

/// The Microsoft endpoints of one deployment. Any host works, so national clouds (for example
/// `https://graph.microsoft.us/v1.0` with `https://login.microsoftonline.us`) and the local
/// emulator are configured the same way as the public cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphEndpoints {
    graph: String,
    authorize: Url,
    token: Url,
}

impl GraphEndpoints {
    /// `graph_url` includes the API version (`.../v1.0`); `login_url` is the identity platform's
    /// base; `tenant` is the directory id or domain.
    pub fn new(graph_url: &Url, login_url: &Url, tenant: &str) -> Result<Self, EndpointError> {
        for url in [graph_url, login_url] {
            if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
                return Err(EndpointError::NotHttp(url.to_string()));
            }
        }
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(EndpointError::BadTenant(tenant.to_owned()));
        }
        let login = login_url.as_str().trim_end_matches('/');
        let parse = |s: String| Url::parse(&s).map_err(|_| EndpointError::NotHttp(s));
        Ok(Self {
            graph: graph_url.as_str().trim_end_matches('/').to_owned(),
            authorize: parse(format!("{login}/{tenant}/oauth2/v2.0/authorize"))?,
            token: parse(format!("{login}/{tenant}/oauth2/v2.0/token"))?,
        })
    }

    /// The authorization endpoint users are sent to for sign-in.
    pub fn authorize_url(&self) -> &Url {
        &self.authorize
    }

    /// The token endpoint (authorization code, refresh token and client credentials grants).
    pub fn token_url(&self) -> &Url {
        &self.token
    }

    /// The configured `graph_url`, without a trailing slash (`https://graph.microsoft.com/v1.0`).
    pub fn graph_base(&self) -> &str {
        &self.graph
    }

    /// The Graph resource's origin (`https://graph.microsoft.com`): what `.default` scopes of
    /// application tokens are built on.
    pub fn graph_origin(&self) -> String {
        match Url::parse(&self.graph) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => self.graph.clone(),
        }
    }

    /// A Graph resource URL: `resource("/me")` is `<graph_url>/me`.
    pub fn resource(&self, path: &str) -> String {
        format!("{}/{}", self.graph, path.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn public_cloud_endpoints() {
        let e = GraphEndpoints::new(
            &url("https://graph.microsoft.com/v1.0"),
            &url("https://login.microsoftonline.com"),
            "contoso.onmicrosoft.com",
        )
        .expect("endpoints");
        assert_eq!(
            e.authorize_url().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
        );
        assert_eq!(
            e.token_url().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(e.resource("/me"), "https://graph.microsoft.com/v1.0/me");
        assert_eq!(
            e.resource("chats/getAllMessages"),
            "https://graph.microsoft.com/v1.0/chats/getAllMessages"
        );
    }

    #[test]
    fn emulator_and_national_clouds_work_alike() {
        let e = GraphEndpoints::new(
            &url("http://127.0.0.1:9001/graph/v1.0/"),
            &url("http://127.0.0.1:9001/login/"),
            "0f0e0d0c-0b0a-0908-0706-050403020100",
        )
        .expect("endpoints");
        assert_eq!(
            e.token_url().as_str(),
            "http://127.0.0.1:9001/login/0f0e0d0c-0b0a-0908-0706-050403020100/oauth2/v2.0/token"
        );
        assert_eq!(e.resource("/me"), "http://127.0.0.1:9001/graph/v1.0/me");
    }

    #[test]
    fn bad_input_is_refused() {
        let graph = url("https://graph.microsoft.com/v1.0");
        let login = url("https://login.microsoftonline.com");
        assert_eq!(
            GraphEndpoints::new(&graph, &login, "../evil").unwrap_err(),
            EndpointError::BadTenant("../evil".into())
        );
        assert!(matches!(
            GraphEndpoints::new(&url("ftp://x/"), &login, "t"),
            Err(EndpointError::NotHttp(_))
        ));
    }
}
