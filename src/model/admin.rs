//! Who may use the admin API, and for what: bearer tokens from the config, each kept
//! only as a SHA-256 hash, with roles.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything but event and delivery bodies.
    Viewer,
    /// A viewer that also sees bodies, retries, replays, discards and pauses.
    Operator,
    /// Manages subscriptions (of its token's `routes`, when they are given).
    Subscriptions,
    /// Everything, reloads included.
    Admin,
}

impl Role {
    /// Its name in the config and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Subscriptions => "subscriptions",
            Role::Admin => "admin",
        }
    }

    /// Whether holding `self` allows what `needed` allows.
    pub fn grants(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Admin, _) | (Role::Operator, Role::Viewer) => true,
            (held, needed) => held == needed,
        }
    }
}

/// One configured token.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Who holds it, named in the log line of every change it makes.
    pub name: String,
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// Its roles.
    pub roles: Vec<Role>,
    /// For the `subscriptions` role: the routes it may manage (empty: all).
    pub routes: Vec<String>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl AdminToken {
    /// A token named `name` for the secret `token`.
    pub fn new(name: impl Into<String>, token: &[u8], roles: Vec<Role>, routes: Vec<String>) -> Self {
        Self {
            name: name.into(),
            hash: Sha256::digest(token).into(),
            roles,
            routes,
        }
    }

    /// Whether it allows what `role` allows.
    pub fn allows(&self, role: Role) -> bool {
        self.roles.iter().any(|held| held.grants(role))
    }

    /// The token among `tokens` whose secret is `presented`. Every token is
    /// compared, in constant time, whichever matches.
    pub fn find<'a>(tokens: &'a [AdminToken], presented: &[u8]) -> Option<&'a AdminToken> {
        let hash: [u8; 32] = Sha256::digest(presented).into();
        let mut found = None;
        for token in tokens {
            if bool::from(token.hash.ct_eq(&hash)) {
                found = Some(token);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_of_each_says() {
        assert!(Role::Admin.grants(Role::Subscriptions));
        assert!(Role::Operator.grants(Role::Viewer));
        assert!(!Role::Viewer.grants(Role::Operator));
        assert!(!Role::Subscriptions.grants(Role::Viewer));
        assert!(!Role::Operator.grants(Role::Admin));
    }

    #[test]
    fn a_token_is_found_by_its_secret_only() {
        let tokens = [
            AdminToken::new("ci", b"first-token", vec![Role::Viewer], Vec::new()),
            AdminToken::new("ops", b"second-token", vec![Role::Operator], Vec::new()),
        ];
        assert_eq!(
            AdminToken::find(&tokens, b"second-token").map(|t| t.name.as_str()),
            Some("ops")
        );
        assert!(AdminToken::find(&tokens, b"second-toke").is_none());
        assert!(AdminToken::find(&tokens, b"").is_none());
        assert!(format!("{:?}", tokens[0]).contains("ci"));
        assert!(!format!("{:?}", tokens[0]).contains("hash"));
    }
}
