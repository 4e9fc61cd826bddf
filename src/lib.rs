//! keyctl: API keys in a local store.
//!
//! The library is the product: a [`Store`] creates, lists, rotates, restricts and revokes
//! keys, and a [`Verifier`] built from it answers whether a token, or what an HTTP request
//! presented, is good. Every value the store takes is a checked type ([`names`],
//! [`paths`], [`time`]), so nothing invalid reaches it. Keys move between stores with
//! their digests ([`Store::export`], [`Store::import`], in the format of [`export`]), and
//! tokens another system issued verify as keys of their own once adopted
//! ([`Store::adopt_key`]). The `keyctl` binary (the default
//! `cli` feature) is a thin layer over this; a service that links the library without
//! default features compiles none of the command line's crates.

pub mod audit;
pub mod credential;
pub mod error;
pub mod export;
pub mod key;
pub mod names;
pub mod paths;
pub mod store;
pub mod time;
pub mod token;
pub mod users;
pub mod verify;

#[cfg(feature = "serve")]
pub mod serve;

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cmd;

/// The README's Rust example, compiled as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use credential::{Credential, Presented, Source};
pub use error::{Error, Result};
pub use key::{Key, KeyRef, Status};
pub use store::Store;
pub use verify::{Check, Reason, Verdict, Verifier, Warning};
