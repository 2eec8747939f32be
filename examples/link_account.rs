//! Linking a Mattermost account to a Microsoft account with the crates directly, as an embedder
//! building their own bridge would: the Graph and Mattermost emulators stand in for Microsoft
//! and Mattermost.
//!
//! `cargo run -p bridge-examples --example link_account`
//!
//! 1. PKCE and state with `teams-graph`, the sign-in URL, and the browser's round trip (here: an
//!    HTTP client that stops at the redirect back to us).
//! 2. The code redeemed with the verifier; `/me` read with the new token.
//! 3. `bridge-core`'s rules decide whether the Microsoft account may link to the Mattermost user.
//! 4. `store` keeps the link with the token sealed; `mm-client` sends the bot's confirmation.

use anyhow::{Context as _, bail, ensure};
use bridge_core::linking::rules::{LinkCandidate, check_link};
use bridge_core::linking::{MattermostUser, MicrosoftAccount};
use graph_emulator::{AppRegistration, GraphEmulator, NewUser};
use mm_client::{MattermostClient, PostProps};
use mm_emulator::{MattermostEmulator, NewUser as MmUser};
use secrecy::{ExposeSecret as _, SecretString};
use store::{EncryptionKey, NewLink, Store, StoreOptions, TokenSealer, link_token_context};
use teams_graph::{GraphClient, GraphEndpoints, OAuthClient, Pkce, random_state, scopes};

const CLIENT_ID: &str = "11111111-2222-4333-8444-555555555555";
const CLIENT_SECRET: &str = "example-secret";
const REDIRECT: &str = "https://bridge.example.com/oauth/redirect";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // The two emulated services, seeded with the same person on both sides.
    let graph = GraphEmulator::start().await?;
    graph.register_app(AppRegistration {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        redirect_uris: vec![REDIRECT.into()],
        display_name: "example".into(),
    });
    let ms_alice = graph.add_user(NewUser::new("Alice Smith", "alice@contoso.com"));
    let mattermost = MattermostEmulator::start().await?;
    let alice = mattermost.create_user(MmUser::new("alice", "alice@contoso.com"))?;
    let bot = mattermost.create_bot("bridge", "Bridge")?;

    // 1. Sign-in URL with state and PKCE; keep the verifier server-side.
    let endpoints =
        GraphEndpoints::new(&graph.graph_url(), &graph.login_url(), &graph.tenant_id())?;
    let oauth = OAuthClient::new(
        endpoints.clone(),
        CLIENT_ID.into(),
        SecretString::from(CLIENT_SECRET),
    );
    let state = random_state()?;
    let pkce = Pkce::generate()?;
    let authorize = oauth.authorize_url(REDIRECT, &state, &pkce.challenge(), scopes::TEAMS, None);
    println!("1. send the user to {}…", &authorize.as_str()[..60]);

    // The user signs in (the emulator consents as Alice) and is sent back with a code.
    graph.sign_in_as(Some(&ms_alice.id));
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let back = browser.get(authorize.as_str()).send().await?;
    let location = back
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the sign-in redirects back")?;
    let back = url::Url::parse(location)?;
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    ensure!(
        query.get("state") == Some(&state),
        "the state comes back unchanged"
    );
    let code = query.get("code").context("a code")?;

    // 2. Redeem the code with the verifier, then ask Graph who signed in.
    let tokens = oauth
        .exchange_code(
            code,
            REDIRECT,
            pkce.verifier(),
            scopes::TEAMS,
            chrono::Utc::now(),
        )
        .await?;
    let me = GraphClient::new(&endpoints, &tokens.access_token)?
        .me()
        .await?;
    println!(
        "2. signed in as {} ({})",
        me.display_name, me.user_principal_name
    );

    // 3. The linking rules: the Microsoft address must match the Mattermost email.
    let mm_user = MattermostUser {
        id: alice.id.clone(),
        username: alice.username.clone(),
        email: alice.email.clone(),
        is_admin: false,
        is_bot: false,
    };
    let ms_account = MicrosoftAccount {
        id: me.id.clone(),
        display_name: me.display_name.clone(),
        mail: me.mail.clone(),
        user_principal_name: me.user_principal_name.clone(),
    };
    let login = match check_link(&LinkCandidate {
        mattermost: &mm_user,
        microsoft: &ms_account,
        mapping: None,
        current: None,
        holder_of_microsoft_account: None,
    }) {
        Ok(login) => login,
        Err(refusal) => bail!("not linked: {refusal:?}"),
    };
    println!("3. the rules allow the link (matched {login})");

    // 4. Store the link with the tokens sealed, bound to this user.
    let dir = tempfile::tempdir()?;
    let store = Store::open(
        &format!("sqlite://{}/example.db", dir.path().display()),
        &StoreOptions::default(),
    )
    .await?;
    let sealer = TokenSealer::new(EncryptionKey::generate()?, Vec::new());
    let sealed = sealer.seal(
        tokens.to_json()?.expose_secret().as_bytes(),
        &link_token_context(&alice.id),
    )?;
    let now = chrono::Utc::now();
    store
        .link_account(&NewLink {
            mm_user_id: &alice.id,
            teams_user_id: &me.id,
            teams_login: &login,
            token: &sealed,
            token_expires_at: Some(tokens.expires_at),
            now,
        })
        .await?;
    println!("4. link stored; token at rest: {sealed:?}");

    // And the bot tells Alice.
    let client = MattermostClient::new(&mattermost.site_url(), &SecretString::from(bot.token))?;
    let post = client
        .dm(
            &bot.bot.user_id,
            &alice.id,
            &format!("Your Mattermost account is now connected to Microsoft Teams as **{login}**."),
            None::<PostProps>,
        )
        .await?;
    println!("   bot -> @alice: {}", post.message);
    ensure!(
        mattermost.direct_messages_to(&alice.id).len() == 1,
        "one DM arrived"
    );
    store.close().await;
    Ok(())
}
