//! `moclojer-testkit`'s repository and outbox suites, each on a fresh database file.

use moclojer_testkit::{Repos, contracts};

use crate::helpers::TempDb;

/// A fresh database in its own file; keep the `TempDb` alive while the suite runs.
async fn fresh() -> (TempDb, Repos) {
    let file = TempDb::new();
    let db = file.connect().await;
    (file, Repos::from_database(db))
}

#[tokio::test]
async fn accounts() {
    let (_file, repos) = fresh().await;
    contracts::account_repository_contract(repos).await;
}

#[tokio::test]
async fn mocks() {
    let (_file, repos) = fresh().await;
    contracts::mock_repository_contract(repos).await;
}

#[tokio::test]
async fn publications() {
    let (_file, repos) = fresh().await;
    contracts::publication_repository_contract(repos).await;
}

#[tokio::test]
async fn outbox() {
    let (_file, repos) = fresh().await;
    contracts::outbox_contract(repos).await;
}

#[tokio::test]
async fn every_suite_in_memory() {
    for run in 0..4 {
        let db = moclojer_sqlite::SqliteDatabase::in_memory().await.unwrap();
        let repos = Repos::from_database(db);
        match run {
            0 => contracts::account_repository_contract(repos).await,
            1 => contracts::mock_repository_contract(repos).await,
            2 => contracts::publication_repository_contract(repos).await,
            _ => contracts::outbox_contract(repos).await,
        }
    }
}
