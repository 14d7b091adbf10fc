//! Brings a PostgreSQL database's schema up to date: `migrate <url>` (or
//! `MOCLOJER_DATABASE_URL`). Run by `cargo xtask db migrate`; safe to run while apps start
//! (migrations run under an advisory lock) and safe to run twice.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

use moclojer_postgres::{PostgresConfig, PostgresDatabase};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    #[allow(
        clippy::disallowed_methods,
        reason = "the command's edge reads the environment"
    )]
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MOCLOJER_DATABASE_URL").ok());
    let Some(url) = url else {
        eprintln!("usage: migrate <postgres url>   (or set MOCLOJER_DATABASE_URL)");
        return std::process::ExitCode::from(2);
    };
    let config = PostgresConfig {
        migrate: false,
        ..PostgresConfig::new(url)
    };
    let result = async {
        let database = PostgresDatabase::connect(&config).await?;
        database.migrate().await?;
        database.close().await;
        Ok::<_, moclojer_ports::PortError>(())
    }
    .await;
    match result {
        Ok(()) => {
            println!("the schema is up to date");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("migrate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
