//! A database file per test, with a raw view of its tables behind the adapter's back.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use moclojer_sqlite::{SqliteConfig, SqliteDatabase};
use moclojer_testkit::contracts::sql::SqlHarness;
use sqlx::SqlitePool;
use tempfile::TempDir;

/// A database file in a fresh temporary folder; the folder goes when the value drops.
#[derive(Debug)]
pub(crate) struct TempDb {
    dir: TempDir,
}

impl TempDb {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("moclojer.sqlite")
    }

    pub(crate) fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path().display())
    }

    pub(crate) async fn connect(&self) -> SqliteDatabase {
        SqliteDatabase::connect(&SqliteConfig::new(self.url()))
            .await
            .unwrap()
    }
}

/// A raw connection to the file, for looking behind the ports.
pub(crate) async fn raw(path: &Path) -> SqlitePool {
    SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// Makes the outbox refuse `mock.deleted` events.
const REFUSE_DELETED: &str = "CREATE TRIGGER refuse_deleted BEFORE INSERT ON outbox
     WHEN NEW.payload LIKE '%\"mock.deleted\"%'
     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END";

/// The shared checks behind the ports, each over a raw pool of its own on the file.
#[async_trait]
impl SqlHarness for TempDb {
    type Database = SqliteDatabase;

    async fn refuse_mock_deleted_events(&self) {
        let pool = raw(&self.path()).await;
        sqlx::raw_sql(REFUSE_DELETED).execute(&pool).await.unwrap();
    }

    async fn accept_all_events(&self) {
        let pool = raw(&self.path()).await;
        sqlx::raw_sql("DROP TRIGGER refuse_deleted")
            .execute(&pool)
            .await
            .unwrap();
    }

    async fn count(&self, sql: &'static str) -> i64 {
        let pool = raw(&self.path()).await;
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }

    async fn execute(&self, sql: &'static str, arg: &str) {
        let pool = raw(&self.path()).await;
        sqlx::query(sql).bind(arg).execute(&pool).await.unwrap();
    }

    async fn script(&self, sql: &'static str) {
        let pool = raw(&self.path()).await;
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }

    async fn connect(&self) -> SqliteDatabase {
        TempDb::connect(self).await
    }

    async fn close(&self, database: &SqliteDatabase) {
        database.close().await;
    }
}
