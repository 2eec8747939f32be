//! Token refresh: connected users' Microsoft tokens are renewed before they expire. One replica
//! does it at a time (a job lease); a refresh that Microsoft answers with invalid_grant ends the
//! link and tells the user how to reconnect.

use bridge_core::linking::ports::PortError;
use secrecy::ExposeSecret as _;
use store::{AccountLink, link_token_context};
use teams_graph::{OAuthError, TokenSet};

use super::Linking;

/// Links handled per round.
const BATCH: u32 = 200;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RefreshReport {
    pub refreshed: usize,
    /// Links ended because Microsoft no longer accepts their refresh token.
    pub revoked: usize,
    /// Left for the next round (Microsoft or the network failed).
    pub failed: usize,
    /// Links that changed while their refresh was on its way (left as they are now).
    pub superseded: usize,
    /// Another replica holds the job.
    pub skipped: bool,
    /// Unused sign-in states deleted after their expiry.
    pub expired_states: usize,
}

impl RefreshReport {
    pub fn is_empty(&self) -> bool {
        self.refreshed == 0 && self.revoked == 0 && self.failed == 0 && self.expired_states == 0
    }
}

enum Outcome {
    Refreshed,
    /// The user disconnected or reconnected meanwhile; their new state stands.
    Superseded,
    Revoked,
    Failed,
    /// The identity platform asked us to slow down: the round stops.
    Throttled,
}

impl Linking {
    /// One round of the refresh job: every connected link whose token expires within the margin.
    pub async fn refresh_due_tokens(&self) -> Result<RefreshReport, PortError> {
        let now = self.clock.now();
        // Long enough for a slow round (it is released at its end); a crashed holder's lease
        // lapses after it.
        let lease_for = (chrono::TimeDelta::from_std(self.timing.refresh_interval)
            .unwrap_or(chrono::TimeDelta::minutes(1))
            * 5)
        .max(chrono::TimeDelta::minutes(10));
        let Some(lease) = self
            .store
            .try_acquire_job(self.refresh_job, &self.instance, now + lease_for, now)
            .await
            .map_err(|e| PortError::new("taking the refresh job", e))?
        else {
            return Ok(RefreshReport {
                skipped: true,
                ..RefreshReport::default()
            });
        };
        let report = self.refresh_round(now).await;
        if let Err(err) = self.store.release_job(&lease, self.clock.now()).await {
            tracing::debug!(error = %err, "could not release the refresh job lease");
        }
        report
    }

    async fn refresh_round(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<RefreshReport, PortError> {
        let due = self
            .store
            .links_expiring_before(now + self.timing.refresh_margin, BATCH)
            .await
            .map_err(|e| PortError::new("listing tokens to refresh", e))?;
        let mut report = RefreshReport::default();
        // Sign-in links nobody followed. Kept a day past expiry, so a late click still hears
        // "expired" rather than "not valid".
        match self
            .store
            .purge_expired_oauth_states(now - chrono::TimeDelta::days(1))
            .await
        {
            Ok(n) => report.expired_states = usize::try_from(n).unwrap_or(usize::MAX),
            Err(err) => tracing::debug!(error = %err, "could not purge expired sign-in states"),
        }
        let mut links = due.iter();
        for link in links.by_ref() {
            match self.refresh_link(link).await {
                Outcome::Refreshed => report.refreshed += 1,
                Outcome::Superseded => report.superseded += 1,
                Outcome::Revoked => report.revoked += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Throttled => {
                    // Asking again at once only prolongs it; the rest wait for the next round.
                    report.failed += 1;
                    break;
                }
            }
        }
        report.failed += links.count();
        Ok(report)
    }

    async fn refresh_link(&self, link: &AccountLink) -> Outcome {
        let mm_user_id = link.mm_user_id.as_str();
        let Some(sealed) = &link.token else {
            return Outcome::Failed;
        };
        let context = link_token_context(mm_user_id);
        let tokens = match self
            .sealer
            .open_secret(sealed, &context)
            .map_err(|e| e.to_string())
            .and_then(|json| TokenSet::from_json(&json).map_err(|e| e.to_string()))
        {
            Ok(tokens) => tokens,
            Err(err) => {
                tracing::error!(mm_user_id, error = %err, "a stored token cannot be opened; is store.encryption_key the key it was sealed with?");
                return Outcome::Failed;
            }
        };
        let Some(refresh_token) = &tokens.refresh_token else {
            tracing::warn!(
                mm_user_id,
                "token has no refresh token; the user must connect again"
            );
            return self.revoke(mm_user_id, sealed).await;
        };
        match self
            .oauth
            .refresh(refresh_token, self.scopes, self.clock.now())
            .await
        {
            Ok(fresh) => {
                let sealed_fresh = match fresh.to_json().map_err(|e| e.to_string()).and_then(
                    |json| {
                        self.sealer
                            .seal(json.expose_secret().as_bytes(), &context)
                            .map_err(|e| e.to_string())
                    },
                ) {
                    Ok(sealed) => sealed,
                    Err(err) => {
                        tracing::error!(mm_user_id, error = %err, "could not seal a refreshed token");
                        return Outcome::Failed;
                    }
                };
                match self
                    .store
                    .refresh_link_token(mm_user_id, sealed, &sealed_fresh, Some(fresh.expires_at))
                    .await
                {
                    Ok(true) => Outcome::Refreshed,
                    Ok(false) => {
                        tracing::debug!(
                            mm_user_id,
                            "link changed during the refresh; kept as it is"
                        );
                        Outcome::Superseded
                    }
                    Err(err) => {
                        tracing::error!(mm_user_id, error = %err, "could not store a refreshed token");
                        Outcome::Failed
                    }
                }
            }
            Err(OAuthError::InvalidGrant { description }) => {
                tracing::info!(mm_user_id, reason = %description, "Microsoft refused the refresh token; disconnecting");
                self.revoke(mm_user_id, sealed).await
            }
            Err(err @ OAuthError::Throttled { .. }) => {
                tracing::warn!(mm_user_id, error = %err, "token refresh throttled; the round stops here");
                Outcome::Throttled
            }
            Err(err) => {
                tracing::warn!(mm_user_id, error = %err, "token refresh failed; will retry");
                Outcome::Failed
            }
        }
    }

    /// Ends a link whose refresh Microsoft refused, unless it changed meanwhile (the user
    /// disconnected, or reconnected and holds a new token).
    async fn revoke(&self, mm_user_id: &str, refused: &store::Sealed) -> Outcome {
        match self
            .store
            .disconnect_account_if_token(mm_user_id, refused, self.clock.now())
            .await
        {
            Ok(true) => {
                self.linker.tell_credentials_revoked(mm_user_id).await;
                Outcome::Revoked
            }
            Ok(false) => {
                tracing::debug!(mm_user_id, "link changed during the refresh; kept as it is");
                Outcome::Superseded
            }
            Err(err) => {
                tracing::error!(mm_user_id, error = %err, "could not end a revoked link");
                Outcome::Failed
            }
        }
    }
}
