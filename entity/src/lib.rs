//! SeaORM entities: one module per table. Ids are UUID strings (portable across SQLite
//! and PostgreSQL); the service layer wraps them in newtypes.

pub mod api_key;
pub mod app;
pub mod audit_record;
pub mod conversation;
pub mod delivery;
pub mod feed_export;
pub mod lease;
pub mod message;
pub mod stream;
pub mod tenant;
pub mod values;
pub mod webhook_target;

pub use values::{ConversationState, FeedExportState, RedactionOutput, Role, StartSelectorType};
