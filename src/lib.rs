//! keyctl: API keys in a local SQLite store.
//!
//! The library is the product: [`store::Store`] creates, lists, rotates, restricts and
//! revokes keys, and [`store::Store::verify`] answers whether a token is good. The `keyctl`
//! binary is a thin layer over it.

pub mod credential;
pub mod error;
pub mod key;
pub mod paths;
pub mod store;
pub mod time;
pub mod token;
pub mod verify;

#[doc(hidden)]
pub mod cli;
#[doc(hidden)]
pub mod cmd;
#[doc(hidden)]
pub mod generate;

pub use credential::{Credential, Presented, Source};
pub use error::{Error, Result};
pub use key::{Key, KeyRef, Status};
pub use store::Store;
pub use verify::{Reason, RequestCheck, Verdict};
