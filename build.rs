//! Build-time facts for `gwsync --version`, and rebuilding when a migration changes
//! (`sqlx::migrate!` embeds `migrations/` at compile time).
//!
//! - `GWSYNC_GIT_COMMIT`: the commit being built (`git rev-parse --short=12 HEAD`), `unknown`
//!   outside a Git checkout (a source tarball);
//! - `GWSYNC_BUILD_DATE`: the UTC date, from `SOURCE_DATE_EPOCH` when set (reproducible
//!   builds), else today.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=GWSYNC_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => output("date", &["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d"]),
        Err(_) => output("date", &["-u", "+%Y-%m-%d"]),
    };
    println!(
        "cargo:rustc-env=GWSYNC_BUILD_DATE={}",
        date.as_deref().unwrap_or("unknown")
    );
}

/// The trimmed standard output of a command that succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
