//! Newtypes for the ids that cross module boundaries, so a stream id is never passed
//! where a conversation id belongs.

use std::fmt;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                $name(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

uuid_id!(
    /// A tenant (customer organisation).
    TenantId
);
uuid_id!(
    /// An app inside a tenant.
    AppId
);
uuid_id!(
    /// callscribe's own id for a conversation (the API speaks of its `guid`).
    ConversationId
);
uuid_id!(
    /// One participant's stream within one start..stop.
    StreamId
);
uuid_id!(
    /// One stored utterance.
    MessageId
);

/// The public part of an API key (`cs_<keyId>_<secret>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which side of the call a stream carries (a column type, so it lives with the entities).
pub use entity::Role;

/// One value per side of the call, so code that treats both participants alike says so
/// once (`pair.of(role)`, `PerRole::from_fn(|role| ...)`) instead of matching each role by
/// hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerRole<T> {
    pub customer: T,
    pub agent: T,
}

impl<T> PerRole<T> {
    pub fn from_fn(mut value: impl FnMut(Role) -> T) -> PerRole<T> {
        PerRole {
            customer: value(Role::Customer),
            agent: value(Role::Agent),
        }
    }

    pub fn of(&self, role: Role) -> &T {
        match role {
            Role::Customer => &self.customer,
            Role::Agent => &self.agent,
        }
    }

    pub fn of_mut(&mut self, role: Role) -> &mut T {
        match role {
            Role::Customer => &mut self.customer,
            Role::Agent => &mut self.agent,
        }
    }

    /// Each value seen through `f`, with its role.
    pub fn map_ref<U>(&self, mut f: impl FnMut(Role, &T) -> U) -> PerRole<U> {
        PerRole {
            customer: f(Role::Customer, &self.customer),
            agent: f(Role::Agent, &self.agent),
        }
    }

    /// Both values with their role, customer first.
    pub fn iter(&self) -> impl Iterator<Item = (Role, &T)> {
        [(Role::Customer, &self.customer), (Role::Agent, &self.agent)].into_iter()
    }
}
