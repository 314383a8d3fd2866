//! [`KeyParking`] on Postgres (deadpool-postgres): every statement in its own `.sql` file under
//! `eventing/sql/`, prepared once per connection (`prepare_cached`) and parameterized. The
//! tables are created by [`PARKED_KEYS_TABLES_DDL`] (`eventing/sql/parked_keys_tables.sql`),
//! which services include in their migrations.

use super::handler::RecordPosition;
use super::parking::{KeyParking, ParkedKey, ParkingError, decode_headers, encode_headers};
use crate::error::ErrorKind;
use crate::kafka::ConsumedRecord;
use async_trait::async_trait;
use deadpool_postgres::Pool;

/// DDL of `parked_keys` and `parked_records`.
pub const PARKED_KEYS_TABLES_DDL: &str = include_str!("../../../sql/parked_keys_tables.sql");
const LOAD_KEYS: &str = include_str!("../../../sql/parking_load_keys.sql");
const PARK_KEY: &str = include_str!("../../../sql/parking_park_key.sql");
const PARK_RECORD: &str = include_str!("../../../sql/parking_park_record.sql");
const NEXT_RECORD: &str = include_str!("../../../sql/parking_next_record.sql");
const UNPARK_RECORD: &str = include_str!("../../../sql/parking_unpark_record.sql");
const TRANSFER_KEY: &str = include_str!("../../../sql/parking_transfer_key.sql");
const RELEASE_KEY: &str = include_str!("../../../sql/parking_release_key.sql");
const LOCK_KEY: &str = include_str!("../../../sql/parking_lock_key.sql");
const KEY_OWNER: &str = include_str!("../../../sql/parking_key_owner.sql");

/// Parking tables in the service's own database.
#[derive(Clone)]
pub struct PgKeyParking {
    pool: Pool,
}

impl std::fmt::Debug for PgKeyParking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgKeyParking").finish_non_exhaustive()
    }
}

impl PgKeyParking {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, ParkingError> {
        self.pool.get().await.map_err(|e| ParkingError {
            kind: ErrorKind::Transient,
            message: format!("no database connection: {e}"),
        })
    }
}

fn db_error(e: tokio_postgres::Error) -> ParkingError {
    ParkingError {
        kind: ErrorKind::Transient,
        message: e.to_string(),
    }
}

fn position(topic: String, partition: i32, offset: i64) -> RecordPosition {
    RecordPosition {
        topic,
        partition,
        offset,
    }
}

#[async_trait]
impl KeyParking for PgKeyParking {
    #[tracing::instrument(skip(self), err)]
    async fn parked_keys(
        &self,
        consumer_group: &str,
        partitions: &[i32],
    ) -> Result<Vec<ParkedKey>, ParkingError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(LOAD_KEYS).await.map_err(db_error)?;
        let rows = client
            .query(&statement, &[&consumer_group, &partitions])
            .await
            .map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|row| ParkedKey {
                key: row.get(0),
                partition: row.get(1),
                owner: position(row.get(2), row.get(3), row.get(4)),
            })
            .collect())
    }

    #[tracing::instrument(skip(self, key), err)]
    async fn park_key(
        &self,
        consumer_group: &str,
        key: &[u8],
        partition: i32,
        owner: &RecordPosition,
    ) -> Result<RecordPosition, ParkingError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(PARK_KEY).await.map_err(db_error)?;
        let row = client
            .query_one(
                &statement,
                &[
                    &consumer_group,
                    &key,
                    &partition,
                    &owner.topic,
                    &owner.partition,
                    &owner.offset,
                ],
            )
            .await
            .map_err(db_error)?;
        Ok(position(row.get(0), row.get(1), row.get(2)))
    }

    #[tracing::instrument(skip(self, record), fields(topic = %record.topic, partition = record.partition, offset = record.offset), err)]
    async fn park_record(
        &self,
        consumer_group: &str,
        record: &ConsumedRecord,
    ) -> Result<bool, ParkingError> {
        let key = record.key.as_deref().ok_or_else(|| ParkingError {
            kind: ErrorKind::Permanent,
            message: "a record without a key cannot be parked".into(),
        })?;
        let client = self.client().await?;
        let statement = client.prepare_cached(PARK_RECORD).await.map_err(db_error)?;
        let row = client
            .query_one(
                &statement,
                &[
                    &consumer_group,
                    &key,
                    &record.topic,
                    &record.partition,
                    &record.offset,
                    &record.payload,
                    &encode_headers(&record.headers),
                    &record.timestamp_ms,
                ],
            )
            .await
            .map_err(db_error)?;
        Ok(row.get(0))
    }

    #[tracing::instrument(skip(self, key), err)]
    async fn next_parked(
        &self,
        consumer_group: &str,
        key: &[u8],
    ) -> Result<Option<ConsumedRecord>, ParkingError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(NEXT_RECORD).await.map_err(db_error)?;
        let Some(row) = client
            .query_opt(&statement, &[&consumer_group, &key])
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let header_bytes: Vec<u8> = row.get(4);
        let headers = decode_headers(&header_bytes).ok_or_else(|| ParkingError {
            kind: ErrorKind::Permanent,
            message: "parked headers are not in the encode_headers format".into(),
        })?;
        Ok(Some(ConsumedRecord {
            topic: row.get(0),
            partition: row.get(1),
            offset: row.get(2),
            key: Some(key.to_vec()),
            payload: row.get(3),
            headers,
            timestamp_ms: row.get(5),
        }))
    }

    #[tracing::instrument(skip(self), err)]
    async fn unpark_record(
        &self,
        consumer_group: &str,
        position: &RecordPosition,
    ) -> Result<(), ParkingError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(UNPARK_RECORD)
            .await
            .map_err(db_error)?;
        client
            .execute(
                &statement,
                &[
                    &consumer_group,
                    &position.topic,
                    &position.partition,
                    &position.offset,
                ],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    #[tracing::instrument(skip(self, key), err)]
    async fn parked_key(
        &self,
        consumer_group: &str,
        key: &[u8],
    ) -> Result<Option<ParkedKey>, ParkingError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(KEY_OWNER).await.map_err(db_error)?;
        let row = client
            .query_opt(&statement, &[&consumer_group, &key])
            .await
            .map_err(db_error)?;
        Ok(row.map(|row| ParkedKey {
            key: key.to_vec(),
            partition: row.get(0),
            owner: position(row.get(1), row.get(2), row.get(3)),
        }))
    }

    #[tracing::instrument(skip(self, key), err)]
    async fn transfer_key(
        &self,
        consumer_group: &str,
        key: &[u8],
        owner: &RecordPosition,
        new_owner: &RecordPosition,
    ) -> Result<bool, ParkingError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let transfer = tx.prepare_cached(TRANSFER_KEY).await.map_err(db_error)?;
        let moved = tx
            .execute(
                &transfer,
                &[
                    &consumer_group,
                    &key,
                    &owner.topic,
                    &owner.partition,
                    &owner.offset,
                    &new_owner.topic,
                    &new_owner.partition,
                    &new_owner.offset,
                ],
            )
            .await
            .map_err(db_error)?;
        if moved != 1 {
            // `owner` no longer owns the key: leave the new owner's row to whoever does
            // (dropping the transaction rolls it back).
            return Ok(false);
        }
        let unpark = tx.prepare_cached(UNPARK_RECORD).await.map_err(db_error)?;
        tx.execute(
            &unpark,
            &[
                &consumer_group,
                &new_owner.topic,
                &new_owner.partition,
                &new_owner.offset,
            ],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    #[tracing::instrument(skip(self, key), err)]
    async fn release_key(
        &self,
        consumer_group: &str,
        key: &[u8],
        owner: &RecordPosition,
    ) -> Result<bool, ParkingError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // Lock first, check in a second statement: see parking_lock_key.sql. A single DELETE
        // would check for parked records in the snapshot it took before waiting for the lock
        // of a concurrent park_record, and delete the key with that record behind it.
        let lock = tx.prepare_cached(LOCK_KEY).await.map_err(db_error)?;
        tx.execute(&lock, &[&consumer_group, &key])
            .await
            .map_err(db_error)?;
        let statement = tx.prepare_cached(RELEASE_KEY).await.map_err(db_error)?;
        let deleted = tx
            .execute(
                &statement,
                &[
                    &consumer_group,
                    &key,
                    &owner.topic,
                    &owner.partition,
                    &owner.offset,
                ],
            )
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(deleted == 1)
    }
}
