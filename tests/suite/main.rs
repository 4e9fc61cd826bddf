//! keyctl's black-box tests, in one binary so that they run side by side: most of them
//! wait on processes, sockets or locks, and a test binary runs its tests in parallel.

mod common;

mod audit;
mod cli_adopt;
mod cli_delivery;
mod cli_export;
mod cli_keys;
mod cli_requests;
mod cli_rotation;
mod cli_usage;
mod cli_verify;
mod corrupt_store;
mod generated;
mod library;
mod postgres;
mod postgres_url;
mod properties;
mod proxies;
mod readme;
mod reliability;
mod security_doc;
mod self_service;
mod serve;
mod store_file;
