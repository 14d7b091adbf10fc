//! `moclojer-testkit`'s repository, outbox, token and lease suites, each on a fresh
//! database, and its checks of SQL adapters behind the ports.

use std::sync::Arc;

use moclojer_testkit::contracts::sql;
use moclojer_testkit::{Fixture, ManualClock, Repos, contracts};

use crate::helpers::TestDb;

/// A fresh database; keep the `TestDb` alive while the suite runs. `None`: skipped.
async fn fresh() -> Option<(TestDb, Repos)> {
    let pg = TestDb::create().await?;
    let db = pg.connect().await;
    Some((pg, Repos::from_database(db)))
}

#[tokio::test]
async fn accounts() {
    let Some((_pg, repos)) = fresh().await else {
        return;
    };
    contracts::account_repository_contract(repos).await;
}

#[tokio::test]
async fn mocks() {
    let Some((_pg, repos)) = fresh().await else {
        return;
    };
    contracts::mock_repository_contract(repos).await;
}

#[tokio::test]
async fn publications() {
    let Some((_pg, repos)) = fresh().await else {
        return;
    };
    contracts::publication_repository_contract(repos).await;
}

#[tokio::test]
async fn outbox() {
    let Some((_pg, repos)) = fresh().await else {
        return;
    };
    contracts::outbox_contract(repos).await;
}

#[tokio::test]
async fn identity() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let db = pg.connect().await;
    contracts::identity_contract(
        Arc::new(db.clone()),
        Arc::new(db),
        ManualClock::new(Fixture::new().now),
    )
    .await;
}

/// Acquirers racing on several threads and connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    contracts::lease_contract(Arc::new(pg.connect().await), None).await;
}

#[tokio::test]
async fn a_mock_whose_host_is_taken_leaves_no_trace() {
    if let Some(pg) = TestDb::create().await {
        sql::a_refused_create_leaves_no_trace(&pg).await;
    }
}

#[tokio::test]
async fn a_stale_update_changes_neither_the_mock_nor_the_outbox() {
    if let Some(pg) = TestDb::create().await {
        sql::a_stale_update_leaves_no_trace(&pg).await;
    }
}

#[tokio::test]
async fn a_failure_after_the_first_statement_rolls_everything_back() {
    if let Some(pg) = TestDb::create().await {
        sql::a_failure_after_the_first_statement_rolls_everything_back(&pg).await;
    }
}

/// Closing the pool and connecting again.
#[tokio::test]
async fn data_survives_closing_and_reconnecting() {
    if let Some(pg) = TestDb::create().await {
        sql::data_survives_reconnecting(&pg).await;
    }
}

#[tokio::test]
async fn a_history_page_reads_no_content() {
    if let Some(pg) = TestDb::create().await {
        sql::a_history_page_reads_no_content(&pg).await;
    }
}

#[tokio::test]
async fn a_history_cut_is_part_of_its_update() {
    if let Some(pg) = TestDb::create().await {
        sql::a_history_cut_is_part_of_its_update(&pg).await;
    }
}

#[tokio::test]
async fn tokens_go_with_their_user() {
    if let Some(pg) = TestDb::create().await {
        sql::tokens_go_with_their_user(&pg).await;
    }
}
