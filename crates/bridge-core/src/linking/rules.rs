//! The linking rules (T1, B5): which Microsoft account a Mattermost user may link.

use super::model::{LinkState, MattermostUser, MicrosoftAccount};

/// Everything the decision needs, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct LinkCandidate<'a> {
    pub mattermost: &'a MattermostUser,
    pub microsoft: &'a MicrosoftAccount,
    /// An admin mapping for this Mattermost user, if any.
    pub mapping: Option<&'a str>,
    /// The user's current link, connected or not.
    pub current: Option<&'a LinkState>,
    /// The Mattermost user id that holds this Microsoft account now, if someone does.
    pub holder_of_microsoft_account: Option<&'a str>,
}

/// Why a link is refused. Each has its own reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Neither the mail nor the UPN equals the Mattermost email (or the admin mapping).
    AddressMismatch {
        expected: String,
        microsoft_logins: Vec<String>,
        mapped: bool,
    },
    /// The Microsoft account is connected to another Mattermost user.
    MicrosoftAccountTaken,
    /// The user is connected to a different Microsoft account already.
    ConnectedElsewhere { teams_login: String },
    /// Bots do not link accounts.
    BotAccount,
}

/// Decides whether the link may be made; on success returns the Microsoft address that matched.
pub fn check_link(candidate: &LinkCandidate<'_>) -> Result<String, LinkRefusal> {
    let LinkCandidate {
        mattermost,
        microsoft,
        mapping,
        current,
        holder_of_microsoft_account,
    } = *candidate;
    if mattermost.is_bot {
        return Err(LinkRefusal::BotAccount);
    }
    if let Some(current) = current.filter(|c| c.is_connected())
        && current.teams_user_id != microsoft.id
    {
        return Err(LinkRefusal::ConnectedElsewhere {
            teams_login: current.teams_login.clone(),
        });
    }
    if holder_of_microsoft_account.is_some_and(|holder| holder != mattermost.id) {
        return Err(LinkRefusal::MicrosoftAccountTaken);
    }
    let expected = mapping.unwrap_or(&mattermost.email).trim();
    let logins = microsoft.logins();
    match logins
        .iter()
        .find(|login| !expected.is_empty() && login.eq_ignore_ascii_case(expected))
    {
        Some(login) => Ok((*login).to_owned()),
        None => Err(LinkRefusal::AddressMismatch {
            expected: expected.to_owned(),
            microsoft_logins: logins.iter().map(|l| (*l).to_owned()).collect(),
            mapped: mapping.is_some(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn alice() -> MattermostUser {
        MattermostUser {
            id: "mm-alice".into(),
            username: "alice".into(),
            email: "Alice@Contoso.com".into(),
            is_admin: false,
            is_bot: false,
        }
    }

    fn microsoft(mail: Option<&str>, upn: &str) -> MicrosoftAccount {
        MicrosoftAccount {
            id: "ms-alice".into(),
            display_name: "Alice".into(),
            mail: mail.map(Into::into),
            user_principal_name: upn.into(),
        }
    }

    fn candidate<'a>(mm: &'a MattermostUser, ms: &'a MicrosoftAccount) -> LinkCandidate<'a> {
        LinkCandidate {
            mattermost: mm,
            microsoft: ms,
            mapping: None,
            current: None,
            holder_of_microsoft_account: None,
        }
    }

    #[test]
    fn mail_or_upn_must_equal_the_email_ignoring_case() {
        let mm = alice();
        let by_mail = microsoft(Some("alice@contoso.com"), "alice_x@contoso.onmicrosoft.com");
        assert_eq!(
            check_link(&candidate(&mm, &by_mail)),
            Ok("alice@contoso.com".into())
        );
        let by_upn = microsoft(None, "ALICE@contoso.com");
        assert_eq!(
            check_link(&candidate(&mm, &by_upn)),
            Ok("ALICE@contoso.com".into())
        );
        let other = microsoft(Some("mallory@contoso.com"), "mallory@contoso.com");
        assert_eq!(
            check_link(&candidate(&mm, &other)),
            Err(LinkRefusal::AddressMismatch {
                expected: "Alice@Contoso.com".into(),
                microsoft_logins: vec!["mallory@contoso.com".into()],
                mapped: false,
            })
        );
    }

    #[test]
    fn an_admin_mapping_replaces_the_email() {
        let mm = alice();
        let ms = microsoft(Some("a.wong@fabrikam.com"), "awong@fabrikam.com");
        let mut c = candidate(&mm, &ms);
        assert!(check_link(&c).is_err());
        c.mapping = Some("AWONG@fabrikam.com");
        assert_eq!(check_link(&c), Ok("awong@fabrikam.com".into()));
        // With a mapping, the Mattermost email itself no longer matches.
        let own = microsoft(Some("alice@contoso.com"), "alice@contoso.com");
        let mut c = candidate(&mm, &own);
        c.mapping = Some("awong@fabrikam.com");
        assert!(matches!(
            check_link(&c),
            Err(LinkRefusal::AddressMismatch { mapped: true, .. })
        ));
    }

    #[test]
    fn one_microsoft_account_per_mattermost_account_and_back() {
        let mm = alice();
        let ms = microsoft(Some("alice@contoso.com"), "alice@contoso.com");
        let mut c = candidate(&mm, &ms);
        c.holder_of_microsoft_account = Some("mm-bob");
        assert_eq!(check_link(&c), Err(LinkRefusal::MicrosoftAccountTaken));
        // Holding it oneself is a token refresh, not a conflict.
        c.holder_of_microsoft_account = Some("mm-alice");
        let now = Utc
            .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
            .single()
            .expect("time");
        let same = LinkState {
            teams_user_id: "ms-alice".into(),
            teams_login: "alice@contoso.com".into(),
            connected_at: now,
            disconnected_at: None,
        };
        c.current = Some(&same);
        assert!(check_link(&c).is_ok());
        let elsewhere = LinkState {
            teams_user_id: "ms-other".into(),
            teams_login: "other@contoso.com".into(),
            ..same.clone()
        };
        c.current = Some(&elsewhere);
        c.holder_of_microsoft_account = None;
        assert_eq!(
            check_link(&c),
            Err(LinkRefusal::ConnectedElsewhere {
                teams_login: "other@contoso.com".into()
            })
        );
        // A disconnected old link does not stand in the way.
        let old = LinkState {
            disconnected_at: Some(now),
            ..elsewhere.clone()
        };
        c.current = Some(&old);
        assert!(check_link(&c).is_ok());
    }

    #[test]
    fn bots_and_blank_emails_never_link() {
        let mut mm = alice();
        mm.is_bot = true;
        let ms = microsoft(Some("alice@contoso.com"), "alice@contoso.com");
        assert_eq!(
            check_link(&candidate(&mm, &ms)),
            Err(LinkRefusal::BotAccount)
        );
        let mut mm = alice();
        mm.email = String::new();
        let blank = microsoft(None, "x@contoso.com");
        assert!(check_link(&candidate(&mm, &blank)).is_err());
    }
}
