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
