//! Exit codes, and the one failure type every command returns.
//!
//! The codes are part of the interface scripts rely on; `--help` and the README list them.

use std::fmt;
use std::process::ExitCode;

/// What the process exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: a usage or configuration error (a flag, `MOCLOJER_API`, `MOCLOJER_TOKEN`, a file).
    Usage,
    /// 2: a spec does not validate.
    Invalid,
    /// 3: no such mock or workspace.
    NotFound,
    /// 4: the token was refused, or may not do this.
    Auth,
    /// 5: the server failed, refused for another reason, or could not be reached.
    Server,
    /// 6: `--wait` timed out.
    Timeout,
}

impl Exit {
    /// The number the process exits with.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Usage => 1,
            Self::Invalid => 2,
            Self::NotFound => 3,
            Self::Auth => 4,
            Self::Server => 5,
            Self::Timeout => 6,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

/// Why a command stopped: the exit code and a line for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the process exits with.
    pub exit: Exit,
    /// Printed as `moclojer-ctl: <message>` on stderr.
    pub message: String,
}

impl Failure {
    /// A failure that exits with `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// Exit 1.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Exit 2.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Exit::Invalid, message)
    }

    /// Exit 3.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Exit::NotFound, message)
    }

    /// Exit 5.
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(Exit::Server, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// What a command returns.
pub(crate) type CtlResult<T> = Result<T, Failure>;
