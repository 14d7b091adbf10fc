//! A user account.

use serde::{Deserialize, Serialize};

use crate::{Email, Handle, Timestamp, UserId};

/// A person who signs in. The handle is chosen after sign-up and then fixed, because every
/// host of the user's personal mocks is built from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The account's id.
    pub id: UserId,
    /// The sign-in address, normalised.
    pub email: Email,
    /// The personal workspace's handle, once chosen.
    pub handle: Option<Handle>,
    /// When the account was made.
    pub created_at: Timestamp,
}

/// Why a change to a user was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The user has a handle already; hosts depend on it, so it does not change.
    #[error("the handle is already chosen ({0}) and cannot change")]
    HandleAlreadyChosen(Handle),
}

impl User {
    /// A new account without a handle.
    pub fn new(id: UserId, email: Email, now: Timestamp) -> Self {
        Self {
            id,
            email,
            handle: None,
            created_at: now,
        }
    }

    /// Takes `handle` as this user's handle. Choosing the same handle again is a no-op.
    ///
    /// # Errors
    /// [`UserError::HandleAlreadyChosen`] when another handle was chosen before.
    pub fn choose_handle(&mut self, handle: Handle) -> Result<(), UserError> {
        match &self.handle {
            Some(current) if *current == handle => Ok(()),
            Some(current) => Err(UserError::HandleAlreadyChosen(current.clone())),
            None => {
                self.handle = Some(handle);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User::new(
            UserId::parse("00000000-0000-0000-0000-000000000001").unwrap(),
            Email::parse("alice@example.com").unwrap(),
            Timestamp::from_unix_millis(0),
        )
    }

    #[test]
    fn a_handle_is_chosen_once() {
        let mut u = user();
        assert_eq!(u.handle, None);
        u.choose_handle(Handle::parse("alice").unwrap()).unwrap();
        assert_eq!(u.handle.as_ref().map(Handle::as_str), Some("alice"));
        u.choose_handle(Handle::parse("alice").unwrap()).unwrap();
        assert_eq!(
            u.choose_handle(Handle::parse("bob").unwrap()),
            Err(UserError::HandleAlreadyChosen(
                Handle::parse("alice").unwrap()
            ))
        );
        assert_eq!(u.handle.as_ref().map(Handle::as_str), Some("alice"));
    }
}
