//! `moclojer-testkit`'s repository, outbox, token and lease suites, each on a fresh database
//! file, and its checks of SQL adapters behind the ports.

use std::sync::Arc;

use moclojer_sqlite::SqliteDatabase;
use moclojer_testkit::contracts::sql;
use moclojer_testkit::{Fixture, ManualClock, Repos, contracts};

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

/// The identity suite: `LocalTokens` over the database's token store, its users made
/// through the same database.
async fn identity_on(db: SqliteDatabase) {
    contracts::identity_contract(
        Arc::new(db.clone()),
        Arc::new(db),
        ManualClock::new(Fixture::new().now),
    )
    .await;
}

#[tokio::test]
async fn identity() {
    let file = TempDb::new();
    identity_on(file.connect().await).await;
}

/// On a file with several connections, acquirers racing on several threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases() {
    let file = TempDb::new();
    contracts::lease_contract(Arc::new(file.connect().await), None).await;
}

#[tokio::test]
async fn every_suite_in_memory() {
    for run in 0..4 {
        let db = SqliteDatabase::in_memory().await.unwrap();
        let repos = Repos::from_database(db);
        match run {
            0 => contracts::account_repository_contract(repos).await,
            1 => contracts::mock_repository_contract(repos).await,
            2 => contracts::publication_repository_contract(repos).await,
            _ => contracts::outbox_contract(repos).await,
        }
    }
    identity_on(SqliteDatabase::in_memory().await.unwrap()).await;
    contracts::lease_contract(Arc::new(SqliteDatabase::in_memory().await.unwrap()), None).await;
}

#[tokio::test]
async fn a_mock_whose_host_is_taken_leaves_no_trace() {
    sql::a_refused_create_leaves_no_trace(&TempDb::new()).await;
}

#[tokio::test]
async fn a_stale_update_changes_neither_the_mock_nor_the_outbox() {
    sql::a_stale_update_leaves_no_trace(&TempDb::new()).await;
}

#[tokio::test]
async fn a_failure_after_the_first_statement_rolls_everything_back() {
    sql::a_failure_after_the_first_statement_rolls_everything_back(&TempDb::new()).await;
}

/// Closing the pool and opening the file again.
#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    sql::data_survives_reconnecting(&TempDb::new()).await;
}

#[tokio::test]
async fn a_history_page_reads_no_content() {
    sql::a_history_page_reads_no_content(&TempDb::new()).await;
}

#[tokio::test]
async fn a_history_cut_is_part_of_its_update() {
    sql::a_history_cut_is_part_of_its_update(&TempDb::new()).await;
}

#[tokio::test]
async fn tokens_go_with_their_user() {
    sql::tokens_go_with_their_user(&TempDb::new()).await;
}
