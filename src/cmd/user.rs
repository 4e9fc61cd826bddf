//! `keyctl user`: list, add, set a password for, and remove users.

use std::process::ExitCode;

use super::{Ctx, output, prompt, secret};
use crate::cli::{UserAddArgs, UserCommand, UserPasswdArgs, UserRemoveArgs};
use crate::error::{Error, Result};
use crate::store::{Access, UserInfo};
use crate::users::Password;

pub fn run(command: UserCommand, ctx: &Ctx) -> Result<ExitCode> {
    match command {
        UserCommand::List(_) => list(ctx),
        UserCommand::Add(args) => add(args, ctx),
        UserCommand::Passwd(args) => passwd(args, ctx),
        UserCommand::Remove(args) => remove(args, ctx),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Ctx) -> Result<()> {
    let users = ctx.open(Access::Read)?.users()?;
    if ctx.json {
        return output::json(&users);
    }
    if users.is_empty() {
        output::note("no users");
        return Ok(());
    }
    let header = [
        "USER", "KIND", "PASSWORD", "ACTIVE", "EXPIRED", "DISABLED", "REVOKED", "CREATED",
        "REMOVED",
    ];
    let rows: Vec<Vec<String>> = users.iter().map(row).collect();
    output::columns(&header, &rows, ctx.decorate)
}

fn row(u: &UserInfo) -> Vec<String> {
    vec![
        u.user.to_string(),
        if u.service { "service" } else { "person" }.to_owned(),
        if u.password { "set" } else { "-" }.to_owned(),
        u.keys.active.to_string(),
        u.keys.expired.to_string(),
        u.keys.disabled.to_string(),
        u.keys.revoked.to_string(),
        u.created.to_string(),
        u.removed.map_or_else(|| "-".to_owned(), |t| t.to_string()),
    ]
}

fn add(args: UserAddArgs, ctx: &Ctx) -> Result<()> {
    let info = ctx
        .open(Access::Create)?
        .user_add(&args.user, args.service)?;
    if ctx.json {
        output::json(&info)?;
    }
    let kind = if args.service { "service user" } else { "user" };
    output::note(&format!("added {kind} {}", info.user));
    Ok(())
}

fn passwd(args: UserPasswdArgs, ctx: &Ctx) -> Result<()> {
    let password = if args.clear {
        None
    } else if args.password_stdin {
        let line = secret::line_as_typed("the password from stdin")?.ok_or_else(|| {
            Error::Invalid("the password on stdin is too long or not UTF-8".into())
        })?;
        Some(line.parse::<Password>()?)
    } else if ctx.stdin_tty {
        let first: Password = secret::prompt_as_typed("New password: ", "the password")?.parse()?;
        let again = secret::prompt_as_typed("Again: ", "the password")?;
        if again.parse::<Password>().ok().as_ref() != Some(&first) {
            return Err(Error::Invalid(
                "the two passwords differ; nothing was changed".into(),
            ));
        }
        Some(first)
    } else {
        return Err(Error::Invalid(
            "stdin is not a terminal, so keyctl cannot ask for the password: pass --password-stdin and pipe it, or --clear".into(),
        ));
    };
    let info = ctx
        .open(Access::Write)?
        .set_password(&args.user, password.as_ref())?;
    if ctx.json {
        output::json(&info)?;
    }
    let what = if password.is_some() {
        "set; the user's keys are unchanged"
    } else {
        "cleared"
    };
    output::note(&format!("password of {} {what}", info.user));
    Ok(())
}

fn remove(args: UserRemoveArgs, ctx: &Ctx) -> Result<()> {
    let mut store = ctx.open(Access::Write)?;
    let info = store
        .users()?
        .into_iter()
        .find(|u| u.user == args.user)
        .ok_or_else(|| Error::NotFound(format!("no user {}", args.user)))?;
    if !args.yes {
        let live = info.keys.active + info.keys.expired + info.keys.disabled;
        let question = if args.purge {
            format!(
                "Remove user {} and all {} of its keys entirely?",
                info.user,
                live + info.keys.revoked
            )
        } else {
            format!(
                "Revoke all {live} live key(s) of user {} and remove the user?",
                info.user
            )
        };
        prompt::confirm(&question, ctx)?;
    }
    let removed = store.user_remove(&args.user, args.purge)?;
    if ctx.json {
        output::json(&serde_json::json!({
            "user": args.user,
            "purged": removed.purged,
            "keys": removed.keys,
        }))?;
    }
    let done = if removed.purged { "removed" } else { "revoked" };
    output::note(&format!(
        "user {} removed; {} key(s) {done}",
        args.user,
        removed.keys.len()
    ));
    Ok(())
}
