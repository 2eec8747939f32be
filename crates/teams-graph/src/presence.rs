//! Presence in bulk: a notification goes to chat members who are not at Teams right now, so the
//! recipients' presence is read for every message, in as few calls as Graph allows.

use graph_rs_sdk::http::Method;
use serde::Deserialize;
use serde_json::json;

use crate::de::null_as_empty;
use crate::graph::{GraphClient, GraphError};

/// Most user ids Graph takes in one `getPresencesByUserId` call (it answers 400 above).
pub const MAX_PRESENCE_IDS: usize = 650;

/// A user's presence, as Graph writes it. The values are kept as strings: Graph documents them
/// as enums that grow, and mapping them is the domain's business.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// The user's object id.
    pub id: String,
    /// `Available`, `AvailableIdle`, `Away`, `BeRightBack`, `Busy`, `BusyIdle`, `DoNotDisturb`,
    /// `Offline`, `PresenceUnknown`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub availability: String,
    /// `Available`, `Away`, `InACall`, `InAMeeting`, `Presenting`, `OffWork`, `OutOfOffice`, ...
    #[serde(default, deserialize_with = "null_as_empty")]
    pub activity: String,
}

#[derive(Deserialize)]
struct Presences {
    #[serde(default)]
    value: Vec<Presence>,
}

impl GraphClient {
    /// The presence of each user (`POST /communications/getPresencesByUserId`), in calls of at
    /// most [`MAX_PRESENCE_IDS`] ids. Users Graph does not know are left out of the answer. One
    /// failed call fails the whole: the caller retries the lot. No ids, no call.
    pub async fn presences_by_user_ids(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<Presence>, GraphError> {
        let mut presences = Vec::with_capacity(user_ids.len());
        for ids in user_ids.chunks(MAX_PRESENCE_IDS) {
            let url = self.url(&["communications", "getPresencesByUserId"], &[]);
            let body = json!({ "ids": ids });
            let page: Presences = self
                .send("presences_by_user_ids", Method::POST, url, Some(&body), &[])
                .await?
                .json()?;
            presences.extend(page.value);
        }
        Ok(presences)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_answer_is_read() {
        let answer: Presences = serde_json::from_str(
            r#"{
                "value": [
                    {"id": "fa8bf3dc-eca7-46b7-bad1-db199b62afc3", "availability": "Busy", "activity": "InAMeeting"},
                    {"id": "66825e03-7ef5-42da-9069-724602c31f6b", "availability": "Away", "activity": "Away"},
                    {"id": "x", "availability": null}
                ]
            }"#,
        )
        .expect("presences");
        assert_eq!(
            answer.value[0],
            Presence {
                id: "fa8bf3dc-eca7-46b7-bad1-db199b62afc3".into(),
                availability: "Busy".into(),
                activity: "InAMeeting".into()
            }
        );
        assert_eq!(answer.value[1].activity, "Away");
        assert_eq!(answer.value[2].availability, "");
        assert_eq!(answer.value[2].activity, "");
    }
}
