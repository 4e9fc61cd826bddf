//! `keyctl serve`: bind, say where, serve until a signal.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::ServeArgs;
use crate::error::Result;
use crate::serve::{Config, Server};

pub fn run(args: ServeArgs, ctx: &Ctx) -> Result<ExitCode> {
    let server = Server::bind(Config {
        db: ctx.db.clone(),
        listen: args.listen,
        challenge: args.challenge,
        require_tls: args.require_tls,
        access_log: args.access_log,
        lock_timeout: ctx.lock_timeout,
        max_connections: args.max_connections,
        self_service: args.self_service,
        max_expire: args.max_expire,
    })?;
    for address in server.addresses() {
        output::note(&format!("serving {address}"));
    }
    server.run()?;
    Ok(ExitCode::SUCCESS)
}
