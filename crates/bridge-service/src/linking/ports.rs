//! The linking ports of `bridge-core`, implemented with the store, the Mattermost client and the
//! Microsoft identity platform.

use std::sync::Arc;

use async_trait::async_trait;
use bridge_core::Clock;
use bridge_core::linking::ports::{
    Accounts, ConnectError, Directory, Messenger, PortError, SignIn, SignInError, SignedIn,
};
use bridge_core::linking::rules::LinkRefusal;
use bridge_core::linking::{BotMessage, LinkState, LoginMapping, MattermostUser, MicrosoftAccount};
use chrono::TimeDelta;
use mm_client::{MattermostClient, MmError, NewPost};
use secrecy::ExposeSecret as _;
use store::{LinkConflict, NewLink, NewOAuthState, StateLookup, Store, StoreError, TokenSealer};
use teams_graph::{
    GraphClient, GraphEndpoints, GraphObserver, OAuthClient, OAuthError, Pkce, TokenSet,
};

use super::buttons;

/// The user preference that holds the chat-notification setting (`on` / `off`).
pub(crate) const NOTIFICATIONS: &str = "notifications";
/// How long a sign-in link works.
pub(crate) const STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// What the OAuth states of this integration are for.
const PURPOSE: &str = "teams-connect";

fn store_error(what: &str) -> impl FnOnce(StoreError) -> PortError + '_ {
    move |err| PortError::new(what, err)
}

fn mattermost_error(what: &str) -> impl FnOnce(MmError) -> PortError + '_ {
    move |err| PortError::new(what, err)
}

/// The associated data of a sealed PKCE verifier: it opens only for the user whose state it is.
fn verifier_context(mm_user_id: &str) -> String {
    format!("pkce_verifier:{mm_user_id}")
}

/// Account links, preferences and mappings in the store; tokens sealed at rest (S9).
#[derive(Clone)]
pub(crate) struct StoreAccounts {
    pub(crate) store: Store,
    pub(crate) sealer: Arc<TokenSealer>,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for StoreAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAccounts").finish_non_exhaustive()
    }
}

#[async_trait]
impl Accounts for StoreAccounts {
    type Credentials = TokenSet;

    async fn link(&self, mm_user_id: &str) -> Result<Option<LinkState>, PortError> {
        let link = self
            .store
            .account_link(mm_user_id)
            .await
            .map_err(store_error("reading a link"))?;
        Ok(link.map(|l| LinkState {
            teams_user_id: l.teams_user_id,
            teams_login: l.teams_login,
            connected_at: l.connected_at,
            disconnected_at: l.disconnected_at,
        }))
    }

    async fn holder_of(&self, microsoft_user_id: &str) -> Result<Option<String>, PortError> {
        let link = self
            .store
            .connected_link_by_teams_user(microsoft_user_id)
            .await
            .map_err(store_error("reading a link"))?;
        Ok(link.map(|l| l.mm_user_id))
    }

    async fn connect(
        &self,
        mm_user_id: &str,
        microsoft: &MicrosoftAccount,
        login: &str,
        credentials: &TokenSet,
    ) -> Result<(), ConnectError> {
        let json = credentials
            .to_json()
            .map_err(|e| PortError::new("encoding a token", e))?;
        let sealed = self
            .sealer
            .seal(
                json.expose_secret().as_bytes(),
                &store::link_token_context(mm_user_id),
            )
            .map_err(|e| PortError::new("sealing a token", e))?;
        let result = self
            .store
            .link_account(&NewLink {
                mm_user_id,
                teams_user_id: &microsoft.id,
                teams_login: login,
                token: &sealed,
                token_expires_at: Some(credentials.expires_at),
                now: self.clock.now(),
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::LinkConflict(LinkConflict::TeamsUserLinked { .. })) => {
                Err(ConnectError::Refused(LinkRefusal::MicrosoftAccountTaken))
            }
            Err(StoreError::LinkConflict(LinkConflict::MattermostUserLinked { .. })) => {
                let login = self
                    .link(mm_user_id)
                    .await?
                    .map(|l| l.teams_login)
                    .unwrap_or_default();
                Err(ConnectError::Refused(LinkRefusal::ConnectedElsewhere {
                    teams_login: login,
                }))
            }
            Err(err) => Err(ConnectError::Port(PortError::new("writing a link", err))),
        }
    }

    async fn disconnect(&self, mm_user_id: &str) -> Result<bool, PortError> {
        self.store
            .disconnect_account(mm_user_id, self.clock.now())
            .await
            .map_err(store_error("disconnecting"))
    }

    async fn notifications_enabled(&self, mm_user_id: &str) -> Result<bool, PortError> {
        let value = self
            .store
            .preference(mm_user_id, NOTIFICATIONS)
            .await
            .map_err(store_error("reading a preference"))?;
        Ok(value.as_deref() == Some("on"))
    }

    async fn set_notifications(&self, mm_user_id: &str, on: bool) -> Result<(), PortError> {
        self.store
            .set_preference(
                mm_user_id,
                NOTIFICATIONS,
                if on { "on" } else { "off" },
                self.clock.now(),
            )
            .await
            .map_err(store_error("writing a preference"))
    }

    async fn mapping(&self, mm_user_id: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .store
            .login_mapping(mm_user_id)
            .await
            .map_err(store_error("reading a mapping"))?
            .map(|m| m.microsoft_login))
    }

    async fn set_mapping(&self, mapping: &LoginMapping, created_by: &str) -> Result<(), PortError> {
        self.store
            .set_login_mapping(
                &mapping.mm_user_id,
                &mapping.microsoft_login,
                created_by,
                self.clock.now(),
            )
            .await
            .map_err(store_error("writing a mapping"))
    }

    async fn remove_mapping(&self, mm_user_id: &str) -> Result<bool, PortError> {
        self.store
            .remove_login_mapping(mm_user_id)
            .await
            .map_err(store_error("removing a mapping"))
    }

    async fn mappings(&self) -> Result<Vec<LoginMapping>, PortError> {
        Ok(self
            .store
            .login_mappings()
            .await
            .map_err(store_error("listing mappings"))?
            .into_iter()
            .map(|m| LoginMapping {
                mm_user_id: m.mm_user_id,
                microsoft_login: m.microsoft_login,
            })
            .collect())
    }
}

/// Mattermost's users, read with the admin token when there is one (emails may be hidden from
/// bots by the server's privacy settings), else with the bot's.
#[derive(Debug, Clone)]
pub(crate) struct MattermostDirectory {
    pub(crate) client: Arc<MattermostClient>,
}

fn to_user(user: mm_client::User) -> MattermostUser {
    MattermostUser {
        is_admin: user.is_system_admin(),
        is_bot: user.is_bot,
        id: user.id,
        username: user.username,
        email: user.email,
    }
}

#[async_trait]
impl Directory for MattermostDirectory {
    /// A deactivated account counts as gone: it can neither link nor be mapped.
    async fn user(&self, mm_user_id: &str) -> Result<Option<MattermostUser>, PortError> {
        match self.client.user(mm_user_id).await {
            Ok(user) if user.delete_at != 0 => Ok(None),
            Ok(user) => Ok(Some(to_user(user))),
            Err(MmError::NotFound) => Ok(None),
            Err(err) => Err(PortError::new("looking up a Mattermost user", err)),
        }
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<MattermostUser>, PortError> {
        match self.client.user_by_username(username).await {
            Ok(user) if user.delete_at != 0 => Ok(None),
            Ok(user) => Ok(Some(to_user(user))),
            Err(MmError::NotFound) => Ok(None),
            Err(err) => Err(PortError::new("looking up a Mattermost user", err)),
        }
    }
}

/// The Microsoft sign-in round trip: state and PKCE verifier kept server-side (the verifier
/// sealed), authorization code redeemed with the verifier, `/me` read with the new token.
#[derive(Clone)]
pub(crate) struct MicrosoftSignIn {
    pub(crate) store: Store,
    pub(crate) sealer: Arc<TokenSealer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) oauth: Arc<OAuthClient>,
    pub(crate) endpoints: GraphEndpoints,
    pub(crate) scopes: &'static [&'static str],
    /// `<public_url>/oauth/connect`
    pub(crate) connect_url: String,
    /// `<public_url>/oauth/redirect`, registered in the Azure app.
    pub(crate) redirect_url: String,
    /// Told of the `/me` request (the product's metrics).
    pub(crate) observer: GraphObserver,
}

impl std::fmt::Debug for MicrosoftSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftSignIn")
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// What `/oauth/connect` does with a state.
#[derive(Debug)]
pub(crate) enum ConnectTarget {
    /// Send the browser to Microsoft.
    Authorize(url::Url),
    Unknown,
    Expired,
}

impl MicrosoftSignIn {
    /// The authorize URL for a state issued by [`SignIn::start`], without using the state up.
    pub(crate) async fn authorize_target(&self, state: &str) -> Result<ConnectTarget, PortError> {
        let found = match self
            .store
            .peek_oauth_state(state, PURPOSE, self.clock.now())
            .await
            .map_err(store_error("reading a sign-in state"))?
        {
            StateLookup::Valid(found) => found,
            StateLookup::Unknown => return Ok(ConnectTarget::Unknown),
            StateLookup::Expired(_) => return Ok(ConnectTarget::Expired),
        };
        let verifier = self
            .sealer
            .open_secret(&found.pkce_verifier, &verifier_context(&found.mm_user_id))
            .map_err(|e| PortError::new("opening a PKCE verifier", e))?;
        let pkce = Pkce::from_verifier(verifier);
        Ok(ConnectTarget::Authorize(self.oauth.authorize_url(
            &self.redirect_url,
            state,
            &pkce.challenge(),
            self.scopes,
            None,
        )))
    }

    async fn take(&self, state: &str) -> Result<store::OAuthState, SignInError> {
        match self
            .store
            .take_oauth_state(state, PURPOSE, self.clock.now())
            .await
            .map_err(|e| SignInError::Unavailable(PortError::new("reading a sign-in state", e)))?
        {
            StateLookup::Valid(found) => Ok(found),
            StateLookup::Unknown => Err(SignInError::UnknownState),
            StateLookup::Expired(found) => Err(SignInError::Expired {
                mm_user_id: found.mm_user_id,
            }),
        }
    }
}

#[async_trait]
impl SignIn for MicrosoftSignIn {
    type Credentials = TokenSet;

    async fn start(&self, mm_user_id: &str) -> Result<String, PortError> {
        let state = teams_graph::random_state().map_err(|e| PortError::new("making a state", e))?;
        let pkce = Pkce::generate().map_err(|e| PortError::new("making a PKCE verifier", e))?;
        let sealed = self
            .sealer
            .seal_secret(pkce.verifier(), &verifier_context(mm_user_id))
            .map_err(|e| PortError::new("sealing a PKCE verifier", e))?;
        let now = self.clock.now();
        self.store
            .create_oauth_state(&NewOAuthState {
                state: &state,
                mm_user_id,
                purpose: PURPOSE,
                pkce_verifier: &sealed,
                created_at: now,
                expires_at: now + STATE_LIFETIME,
            })
            .await
            .map_err(store_error("storing a sign-in state"))?;
        let mut url = url::Url::parse(&self.connect_url)
            .map_err(|e| PortError::new("building the connect link", e))?;
        url.query_pairs_mut().append_pair("state", &state);
        Ok(url.to_string())
    }

    async fn finish(&self, state: &str, code: &str) -> Result<SignedIn<TokenSet>, SignInError> {
        let found = self.take(state).await?;
        let mm_user_id = found.mm_user_id;
        let verifier = self
            .sealer
            .open_secret(&found.pkce_verifier, &verifier_context(&mm_user_id))
            .map_err(|e| SignInError::Unavailable(PortError::new("opening a PKCE verifier", e)))?;
        let rejected = |reason: String| SignInError::Rejected {
            mm_user_id: Some(mm_user_id.clone()),
            reason,
        };
        let tokens = match self
            .oauth
            .exchange_code(
                code,
                &self.redirect_url,
                &verifier,
                self.scopes,
                self.clock.now(),
            )
            .await
        {
            Ok(tokens) => tokens,
            Err(OAuthError::InvalidGrant { .. }) => {
                return Err(rejected(
                    "the sign-in code was not accepted (it may have expired or been used already)"
                        .into(),
                ));
            }
            Err(err @ OAuthError::InvalidClient { .. }) => {
                tracing::error!(error = %err, "Microsoft rejected the app's credentials; check microsoft.client_id and microsoft.client_secret");
                return Err(SignInError::Unavailable(PortError::new(
                    "redeeming a code",
                    err,
                )));
            }
            Err(err) => {
                return Err(SignInError::Unavailable(PortError::new(
                    "redeeming a code",
                    err,
                )));
            }
        };
        if tokens.refresh_token.is_none() {
            // Without one the link would silently die within the hour.
            return Err(rejected(
                "Microsoft did not grant offline access (the offline_access permission), so the \
                 connection could not be kept"
                    .into(),
            ));
        }
        let graph = GraphClient::new(&self.endpoints, &tokens.access_token)
            .map_err(|e| SignInError::Unavailable(PortError::new("reading /me", e)))?
            .with_observer(self.observer.clone());
        let me = graph
            .me()
            .await
            .map_err(|e| SignInError::Unavailable(PortError::new("reading /me", e)))?;
        Ok(SignedIn {
            mm_user_id,
            microsoft: MicrosoftAccount {
                id: me.id,
                display_name: me.display_name,
                mail: me.mail,
                user_principal_name: me.user_principal_name,
            },
            credentials: tokens,
        })
    }

    async fn abandon(&self, state: &str) -> Result<Option<String>, SignInError> {
        match self.take(state).await {
            Ok(found) => Ok(Some(found.mm_user_id)),
            Err(SignInError::Expired { mm_user_id }) => Ok(Some(mm_user_id)),
            Err(err) => Err(err),
        }
    }
}

/// The bot's direct messages, with buttons whose contexts are sealed for the recipient.
pub(crate) struct BotMessenger {
    bot: Arc<MattermostClient>,
    /// Learnt from `/users/me` on first use.
    bot_user_id: tokio::sync::OnceCell<String>,
    sealer: Arc<TokenSealer>,
    clock: Arc<dyn Clock>,
    /// `<public_url>/mattermost/action`
    action_url: String,
}

impl std::fmt::Debug for BotMessenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotMessenger")
            .field("bot_user_id", &self.bot_user_id.get())
            .finish_non_exhaustive()
    }
}

impl BotMessenger {
    pub(crate) fn new(
        bot: Arc<MattermostClient>,
        sealer: Arc<TokenSealer>,
        clock: Arc<dyn Clock>,
        action_url: String,
    ) -> Self {
        Self {
            bot,
            bot_user_id: tokio::sync::OnceCell::new(),
            sealer,
            clock,
            action_url,
        }
    }

    async fn bot_user_id(&self) -> Result<&str, PortError> {
        self.bot_user_id
            .get_or_try_init(|| async { self.bot.me().await.map(|me| me.id) })
            .await
            .map(String::as_str)
            .map_err(mattermost_error("looking up the bot account"))
    }
}

#[async_trait]
impl Messenger for BotMessenger {
    async fn direct_message(
        &self,
        mm_user_id: &str,
        message: &BotMessage,
    ) -> Result<(), PortError> {
        let bot_user_id = self.bot_user_id().await?;
        let channel_id = self
            .bot
            .direct_channel(bot_user_id, mm_user_id)
            .await
            .map_err(mattermost_error("opening a direct channel"))?;
        let props = buttons::render(
            message,
            &self.sealer,
            &self.action_url,
            mm_user_id,
            self.clock.now(),
        );
        self.bot
            .create_post(&NewPost {
                channel_id,
                message: message.text.clone(),
                root_id: None,
                props,
            })
            .await
            .map_err(mattermost_error("posting a direct message"))?;
        Ok(())
    }
}
