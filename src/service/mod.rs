//! Business rules between the API and the store: what start and stop mean.

pub mod calls;
