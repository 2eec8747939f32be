//! The linking flows against in-memory ports: what users see, and what is (not) written.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bridge_core::linking::ports::{
    Accounts, ConnectError, Directory, Messenger, PortError, SignIn, SignInError, SignedIn,
};
use bridge_core::linking::rules::LinkRefusal;
use bridge_core::linking::{
    BotMessage, ButtonAction, LinkState, Linker, LoginMapping, MattermostUser, MicrosoftAccount,
};
use chrono::{TimeZone, Utc};

#[derive(Debug, Default)]
struct World {
    users: Vec<MattermostUser>,
    links: BTreeMap<String, (LinkState, Option<String>)>,
    notifications: BTreeMap<String, bool>,
    mappings: BTreeMap<String, String>,
    /// state -> (mm user, expired, microsoft account that will sign in)
    states: BTreeMap<String, (String, bool, MicrosoftAccount)>,
    dms: Vec<(String, BotMessage)>,
    fail_store: bool,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<World>>);

impl Fake {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().expect("lock")
    }
    fn check(&self) -> Result<(), PortError> {
        if self.world().fail_store {
            Err(PortError::new("store", "unreachable"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Accounts for Fake {
    type Credentials = String;
    async fn link(&self, id: &str) -> Result<Option<LinkState>, PortError> {
        self.check()?;
        Ok(self.world().links.get(id).map(|l| l.0.clone()))
    }
    async fn holder_of(&self, ms: &str) -> Result<Option<String>, PortError> {
        Ok(self
            .world()
            .links
            .iter()
            .find(|(_, (l, _))| l.teams_user_id == ms && l.is_connected())
            .map(|(id, _)| id.clone()))
    }
    async fn connect(
        &self,
        id: &str,
        ms: &MicrosoftAccount,
        login: &str,
        credentials: &String,
    ) -> Result<(), ConnectError> {
        self.check()?;
        let mut w = self.world();
        if w.links
            .iter()
            .any(|(other, (l, _))| other != id && l.teams_user_id == ms.id && l.is_connected())
        {
            return Err(ConnectError::Refused(LinkRefusal::MicrosoftAccountTaken));
        }
        w.links.insert(
            id.into(),
            (
                LinkState {
                    teams_user_id: ms.id.clone(),
                    teams_login: login.into(),
                    connected_at: Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
                    disconnected_at: None,
                },
                Some(credentials.clone()),
            ),
        );
        Ok(())
    }
    async fn disconnect(&self, id: &str) -> Result<bool, PortError> {
        self.check()?;
        let mut w = self.world();
        match w.links.get_mut(id) {
            Some((l, token)) if l.is_connected() => {
                l.disconnected_at = Some(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap());
                *token = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    async fn notifications_enabled(&self, id: &str) -> Result<bool, PortError> {
        self.check()?;
        Ok(self.world().notifications.get(id).copied().unwrap_or(false))
    }
    async fn set_notifications(&self, id: &str, on: bool) -> Result<(), PortError> {
        self.check()?;
        self.world().notifications.insert(id.into(), on);
        Ok(())
    }
    async fn mapping(&self, id: &str) -> Result<Option<String>, PortError> {
        Ok(self.world().mappings.get(id).cloned())
    }
    async fn set_mapping(&self, m: &LoginMapping, _by: &str) -> Result<(), PortError> {
        self.world()
            .mappings
            .insert(m.mm_user_id.clone(), m.microsoft_login.clone());
        Ok(())
    }
    async fn remove_mapping(&self, id: &str) -> Result<bool, PortError> {
        Ok(self.world().mappings.remove(id).is_some())
    }
    async fn mappings(&self) -> Result<Vec<LoginMapping>, PortError> {
        Ok(self
            .world()
            .mappings
            .iter()
            .map(|(k, v)| LoginMapping {
                mm_user_id: k.clone(),
                microsoft_login: v.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl Directory for Fake {
    async fn user(&self, id: &str) -> Result<Option<MattermostUser>, PortError> {
        Ok(self.world().users.iter().find(|u| u.id == id).cloned())
    }
    async fn user_by_username(&self, name: &str) -> Result<Option<MattermostUser>, PortError> {
        Ok(self
            .world()
            .users
            .iter()
            .find(|u| u.username == name)
            .cloned())
    }
}

#[async_trait]
impl SignIn for Fake {
    type Credentials = String;
    async fn start(&self, id: &str) -> Result<String, PortError> {
        self.check()?;
        Ok(format!("https://bridge.example.com/oauth/connect?for={id}"))
    }
    async fn finish(&self, state: &str, code: &str) -> Result<SignedIn<String>, SignInError> {
        let Some((mm_user_id, expired, microsoft)) = self.world().states.remove(state) else {
            return Err(SignInError::UnknownState);
        };
        if expired {
            return Err(SignInError::Expired { mm_user_id });
        }
        if code == "bad" {
            return Err(SignInError::Rejected {
                mm_user_id: Some(mm_user_id),
                reason: "the code was already used".into(),
            });
        }
        Ok(SignedIn {
            mm_user_id,
            microsoft,
            credentials: format!("token-for-{code}"),
        })
    }
    async fn abandon(&self, state: &str) -> Result<Option<String>, SignInError> {
        match self.world().states.remove(state) {
            Some((id, _, _)) => Ok(Some(id)),
            None => Err(SignInError::UnknownState),
        }
    }
}

#[async_trait]
impl Messenger for Fake {
    async fn direct_message(&self, id: &str, message: &BotMessage) -> Result<(), PortError> {
        self.world().dms.push((id.into(), message.clone()));
        Ok(())
    }
}

fn user(id: &str, email: &str, admin: bool) -> MattermostUser {
    MattermostUser {
        id: id.into(),
        username: id.trim_start_matches("mm-").into(),
        email: email.into(),
        is_admin: admin,
        is_bot: false,
    }
}

fn microsoft(id: &str, mail: &str) -> MicrosoftAccount {
    MicrosoftAccount {
        id: id.into(),
        display_name: id.into(),
        mail: Some(mail.into()),
        user_principal_name: mail.into(),
    }
}

fn setup() -> (Fake, Linker<Fake, Fake, Fake, Fake>) {
    let fake = Fake::default();
    fake.world().users = vec![
        user("mm-alice", "alice@contoso.com", false),
        user("mm-bob", "bob@contoso.com", false),
        user("mm-admin", "admin@contoso.com", true),
    ];
    let linker = Linker::new(fake.clone(), fake.clone(), fake.clone(), fake.clone());
    (fake, linker)
}

fn offer(fake: &Fake, state: &str, mm: &str, ms: MicrosoftAccount, expired: bool) {
    fake.world()
        .states
        .insert(state.into(), (mm.into(), expired, ms));
}

#[tokio::test]
async fn connect_sign_in_confirmation_and_notifications_button() {
    let (fake, linker) = setup();
    let reply = linker.command("mm-alice", "connect").await.expect("reply");
    assert!(
        reply
            .text
            .contains("(https://bridge.example.com/oauth/connect?for=mm-alice)"),
        "{reply:?}"
    );

    offer(
        &fake,
        "s1",
        "mm-alice",
        microsoft("ms-alice", "Alice@Contoso.com"),
        false,
    );
    let page = linker.finish_sign_in("s1", "code1").await;
    assert!(page.success, "{page:?}");
    assert!(page.message.contains("Alice@Contoso.com"));
    {
        let w = fake.world();
        let (link, token) = &w.links["mm-alice"];
        assert_eq!(link.teams_user_id, "ms-alice");
        assert_eq!(token.as_deref(), Some("token-for-code1"));
        let (to, dm) = &w.dms[0];
        assert_eq!(to, "mm-alice");
        assert!(dm.text.contains("now connected"), "{dm:?}");
        assert_eq!(dm.buttons[0].action, ButtonAction::NotificationsOn);
    }

    let clicked = linker
        .click("mm-alice", ButtonAction::NotificationsOn)
        .await
        .expect("click");
    assert!(fake.world().notifications["mm-alice"]);
    let update = clicked.update.expect("update");
    assert!(
        update.text.contains("Chat notifications: **on**"),
        "{update:?}"
    );
    assert_eq!(update.buttons[0].action, ButtonAction::NotificationsOff);

    let status = linker.command("mm-alice", "status").await.expect("status");
    assert!(
        status
            .text
            .contains("connected to Microsoft Teams as **Alice@Contoso.com**"),
        "{status:?}"
    );
    assert!(status.text.contains("notifications are on"));
    let again = linker.command("mm-alice", "connect").await.expect("again");
    assert!(again.text.contains("already connected"), "{again:?}");

    let bye = linker.command("mm-alice", "disconnect").await.expect("bye");
    assert!(bye.text.contains("now disconnected"), "{bye:?}");
    {
        let w = fake.world();
        assert!(!w.links["mm-alice"].0.is_connected());
        assert_eq!(w.links["mm-alice"].1, None, "token deleted");
        assert!(!w.notifications["mm-alice"], "notifications turned off");
    }
    let status = linker.command("mm-alice", "status").await.expect("status");
    assert!(status.text.contains("not connected"), "{status:?}");
    let again = linker
        .command("mm-alice", "disconnect")
        .await
        .expect("again");
    assert!(again.text.contains("not connected"));
}

#[tokio::test]
async fn refusals_leave_everything_unchanged() {
    let (fake, linker) = setup();
    // Wrong address.
    offer(
        &fake,
        "s1",
        "mm-alice",
        microsoft("ms-mallory", "mallory@contoso.com"),
        false,
    );
    let page = linker.finish_sign_in("s1", "c").await;
    assert!(!page.success);
    assert!(
        page.message.contains(
            "mallory@contoso.com, which does not match your Mattermost email (alice@contoso.com)"
        ),
        "{page:?}"
    );
    // Expired, replayed, rejected states.
    offer(
        &fake,
        "s2",
        "mm-alice",
        microsoft("ms-alice", "alice@contoso.com"),
        true,
    );
    let page = linker.finish_sign_in("s2", "c").await;
    assert_eq!(page.title, "Link expired");
    let page = linker.finish_sign_in("s2", "c").await;
    assert_eq!(page.title, "Link not valid");
    offer(
        &fake,
        "s3",
        "mm-alice",
        microsoft("ms-alice", "alice@contoso.com"),
        false,
    );
    let page = linker.finish_sign_in("s3", "bad").await;
    assert!(page.message.contains("already used"), "{page:?}");
    // A Microsoft account held by someone else.
    offer(
        &fake,
        "s4",
        "mm-bob",
        microsoft("ms-bob", "bob@contoso.com"),
        false,
    );
    assert!(linker.finish_sign_in("s4", "c").await.success);
    fake.world()
        .mappings
        .insert("mm-alice".into(), "bob@contoso.com".into());
    offer(
        &fake,
        "s5",
        "mm-alice",
        microsoft("ms-bob", "bob@contoso.com"),
        false,
    );
    let page = linker.finish_sign_in("s5", "c").await;
    assert!(
        page.message
            .contains("already connected to another Mattermost account"),
        "{page:?}"
    );
    let w = fake.world();
    assert!(!w.links.contains_key("mm-alice"), "{:?}", w.links);
    assert_eq!(w.dms.len(), 1, "only Bob's confirmation: {:?}", w.dms);
}

#[tokio::test]
async fn admin_mappings_let_different_addresses_link() {
    let (fake, linker) = setup();
    let denied = linker
        .command("mm-alice", "mapping add alice a.w@fabrikam.com")
        .await
        .expect("reply");
    assert!(denied.text.contains("Only system admins"), "{denied:?}");
    assert!(fake.world().mappings.is_empty());

    let added = linker
        .command("mm-admin", "mapping add @alice a.w@fabrikam.com")
        .await
        .expect("reply");
    assert!(added.text.contains("@alice may now connect"), "{added:?}");
    let unknown = linker
        .command("mm-admin", "mapping add nobody x@y.com")
        .await
        .expect("reply");
    assert!(unknown.text.contains("no Mattermost user `nobody`"));
    let list = linker
        .command("mm-admin", "mapping list")
        .await
        .expect("list");
    assert!(
        list.text.contains("| @alice | a.w@fabrikam.com |"),
        "{list:?}"
    );

    offer(
        &fake,
        "s1",
        "mm-alice",
        microsoft("ms-aw", "A.W@fabrikam.com"),
        false,
    );
    assert!(linker.finish_sign_in("s1", "c").await.success);
    assert_eq!(
        fake.world().links["mm-alice"].0.teams_login,
        "A.W@fabrikam.com"
    );

    let removed = linker
        .command("mm-admin", "mapping remove alice")
        .await
        .expect("reply");
    assert!(removed.text.contains("must now connect"), "{removed:?}");
    let help = linker.command("mm-admin", "help").await.expect("help");
    assert!(help.text.contains("mapping add"));
    let help = linker.command("mm-alice", "help").await.expect("help");
    assert!(!help.text.contains("mapping add"));
}

#[tokio::test]
async fn notifications_need_a_connection_and_usage_errors_reply() {
    let (fake, linker) = setup();
    let reply = linker
        .command("mm-alice", "notifications on")
        .await
        .expect("reply");
    assert!(reply.text.contains("need a connected account"), "{reply:?}");
    assert!(fake.world().notifications.is_empty());
    let reply = linker
        .command("mm-alice", "notifications")
        .await
        .expect("reply");
    assert!(reply.text.contains("Chat notifications are off"));
    let reply = linker
        .command("mm-alice", "frobnicate")
        .await
        .expect("reply");
    assert!(reply.text.starts_with("Unknown subcommand `frobnicate`"));
    let settings = linker.command("mm-alice", "settings").await.expect("reply");
    assert_eq!(settings.buttons.len(), 1);
    assert_eq!(settings.buttons[0].action, ButtonAction::Connect);
    let clicked = linker
        .click("mm-alice", ButtonAction::Connect)
        .await
        .expect("click");
    assert!(
        clicked
            .ephemeral
            .expect("link")
            .contains("oauth/connect?for=mm-alice")
    );
}

#[tokio::test]
async fn store_failures_are_errors_not_replies_and_revocation_disconnects() {
    let (fake, linker) = setup();
    offer(
        &fake,
        "s1",
        "mm-alice",
        microsoft("ms-alice", "alice@contoso.com"),
        false,
    );
    assert!(linker.finish_sign_in("s1", "c").await.success);
    fake.world().notifications.insert("mm-alice".into(), true);

    fake.world().fail_store = true;
    assert!(linker.command("mm-alice", "status").await.is_err());
    fake.world().fail_store = false;

    assert!(
        linker
            .credentials_revoked("mm-alice")
            .await
            .expect("revoke")
    );
    assert!(!linker.credentials_revoked("mm-alice").await.expect("again"));
    let w = fake.world();
    assert!(!w.links["mm-alice"].0.is_connected());
    assert!(w.notifications["mm-alice"], "setting kept for reconnecting");
    let last = &w.dms.last().expect("dm").1;
    assert!(last.text.contains("/msteams connect"), "{last:?}");
    assert_eq!(w.dms.len(), 2, "confirmation and revocation notice");
}
