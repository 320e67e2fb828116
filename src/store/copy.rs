//! `gwsync store migrate`: copies a store's history into another, empty one (SQLite to
//! PostgreSQL when an installation grows beyond one host, or back).
//!
//! What is copied is every table of the record: revisions (in the order they were recorded),
//! owner states and snapshots, applies with their ids, the pin, holds, conditions, team
//! records, operator events and the operator-action counter. Leases and the instance list are
//! not: they describe running processes, not history. The copy is one transaction on the
//! target: it lands whole or not at all.

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::Row;

/// How a column is read and written: text or integer, each possibly NULL.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
}

/// A table to copy: its name, its columns, the order its rows are read in, and whether its
/// identity column (`id`) must be moved past the copied ids on PostgreSQL.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order: &'static str,
    has_identity: bool,
}

use Kind::{Integer as I, Text as T};

/// In the order foreign keys need.
const TABLES: &[Table] = &[
    Table {
        name: "revisions",
        columns: &[
            ("\"commit\"", T),
            ("author", T),
            ("summary", T),
            ("committed_at", I),
            ("first_seen_at", I),
        ],
        order: "rowid",
        has_identity: false,
    },
    Table {
        name: "owner_states",
        columns: &[
            ("id", I),
            ("digest", T),
            ("verdict", T),
            ("diagnostics", T),
            ("files", T),
        ],
        order: "id",
        has_identity: true,
    },
    Table {
        name: "snapshots",
        columns: &[("\"commit\"", T), ("owner", T), ("state", I)],
        order: "\"commit\", owner",
        has_identity: false,
    },
    Table {
        name: "applies",
        columns: &[
            ("id", I),
            ("\"commit\"", T),
            ("kind", T),
            ("actor", T),
            ("started_at", I),
            ("finished_at", I),
            ("plan", T),
            ("report", T),
            ("outcome", T),
            ("epoch", I),
        ],
        order: "id",
        has_identity: true,
    },
    Table {
        name: "pins",
        columns: &[
            ("id", I),
            ("\"commit\"", T),
            ("team", T),
            ("pinned_at", I),
            ("actor", T),
            ("head", T),
        ],
        order: "id",
        has_identity: false,
    },
    Table {
        name: "conditions",
        columns: &[
            ("kind", T),
            ("\"commit\"", T),
            ("detail", T),
            ("since", I),
            ("updated", I),
        ],
        order: "kind",
        has_identity: false,
    },
    Table {
        name: "holds",
        columns: &[("team", T), ("reason", T), ("actor", T), ("since", I)],
        order: "team",
        has_identity: false,
    },
    Table {
        name: "team_states",
        columns: &[
            ("team", T),
            ("state", T),
            ("live_commit", T),
            ("live_at", I),
            ("wanted_commit", T),
            ("files_digest", T),
            ("reason", T),
            ("failures", I),
            ("since", I),
            ("updated", I),
        ],
        order: "team",
        has_identity: false,
    },
    Table {
        name: "operator_events",
        columns: &[
            ("id", I),
            ("at", I),
            ("action", T),
            ("team", T),
            ("actor", T),
            ("reason", T),
            ("\"commit\"", T),
        ],
        order: "id",
        has_identity: true,
    },
];

/// Rows copied, by table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copied {
    pub tables: Vec<(String, u64)>,
}

impl Store {
    /// Copies everything this store records into `target`, which must hold no revision and no
    /// apply yet (a fresh database: its schema is made when it is opened).
    pub async fn copy_into(&self, target: &Store) -> Result<Copied, StoreError> {
        for table in ["revisions", "applies"] {
            let rows: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&target.pool)
                    .await?;
            if rows > 0 {
                return Err(StoreError::Copy(format!(
                    "{} already holds {rows} rows of {table}: migrate into a new, empty database",
                    target.location
                )));
            }
        }
        let mut tx = target.pool.begin().await?;
        let mut copied = Vec::with_capacity(TABLES.len() + 1);
        for table in TABLES {
            let rows = copy_table(&self.pool, &mut tx, table).await?;
            if table.has_identity
                && let Some(sql) = target.engine().move_identity_past_copied(table.name)
            {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
            }
            copied.push((table.name.to_string(), rows));
        }
        let generation = self.operator_actions().await?;
        sqlx::query("UPDATE operator_actions SET generation = $1 WHERE id = 1")
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Copied { tables: copied })
    }
}

/// Rows written per INSERT: one round trip for many rows, and at most 1,000 parameters (the
/// widest table has 10 columns), far below either engine's limit.
const ROWS_PER_INSERT: usize = 100;

/// `INSERT INTO table (list) VALUES ($1, …), (…)` for `rows` rows.
fn insert_statement(table: &Table, list: &str, rows: usize) -> String {
    let width = table.columns.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=width)
                .map(|i| format!("${}", row * width + i))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({list}) VALUES {}",
        table.name,
        values.join(", ")
    )
}

async fn copy_table(
    source: &sqlx::AnyPool,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &Table,
) -> Result<u64, StoreError> {
    use futures_util::TryStreamExt;
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let list = names.join(", ");
    let select = format!("SELECT {list} FROM {} ORDER BY {}", table.name, table.order);
    // Streamed and written in batches: a long history (plans of thousands of applies) is
    // never held in memory whole.
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(source);
    let mut batch = Vec::with_capacity(ROWS_PER_INSERT);
    let mut copied = 0;
    while let Some(row) = rows.try_next().await? {
        batch.push(row);
        if batch.len() == ROWS_PER_INSERT {
            copied += insert_batch(tx, table, &list, &batch).await?;
            batch.clear();
        }
    }
    copied += insert_batch(tx, table, &list, &batch).await?;
    Ok(copied)
}

/// Writes `rows` (read with the table's columns, in order) in one INSERT.
async fn insert_batch(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &Table,
    list: &str,
    rows: &[sqlx::any::AnyRow],
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let insert = insert_statement(table, list, rows.len());
    let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
    for row in rows {
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            query = match kind {
                Kind::Text => query.bind(row.try_get::<Option<String>, _>(i)?),
                Kind::Integer => query.bind(row.try_get::<Option<i64>, _>(i)?),
            };
        }
    }
    query.execute(&mut **tx).await?;
    Ok(rows.len() as u64)
}
