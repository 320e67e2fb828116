//! Exit codes: the one definition every command (and every JSON `status` that mirrors one)
//! uses. One scheme for all of them, as in the README's table: 0 nothing to act on, 1 a
//! result that wants attention, 2 the command did not do its job (nothing was written).

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `validate`, `plan --offline`: every team admitted, no error. `plan`: no changes.
    /// `apply`, `sync`, `rollback`: converged (or held by a pin). Other commands: done.
    Clean,
    /// `validate`, `plan --offline`: some team or rule refused, or an unresolved reference.
    /// `plan`: changes to apply. `apply`, `sync`, `rollback`: some AWS change failed.
    Attention,
    /// The revision is invalid as a whole, the invocation or configuration is wrong, an
    /// error stopped the command, a refusal (deletion guard, stale plan), or the operator
    /// declined: nothing was applied.
    NothingDone,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Clean => 0,
            Exit::Attention => 1,
            Exit::NothingDone => 2,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}
