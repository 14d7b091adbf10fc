//! The `moclojer-ctl` binary: the command line in, an exit code out (see `--help`).

fn main() -> std::process::ExitCode {
    moclojer_ctl::main_with(std::env::args_os())
}
