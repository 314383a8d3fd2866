//! The classification of driver errors without a SQLSTATE, against the real Postgres (the
//! driver's errors cannot be built by hand): a closed connection is transient, a value that
//! cannot be converted is permanent, and a server error goes by its SQLSTATE.
#![cfg(feature = "postgres")]

use contracts::ErrorKind;
use service_kit::postgres::{is_connection_failure, pg_error_kind};
use tokio_postgres::NoTls;

const START_STACK: &str = "start the local stack with `make up`";

fn database_url() -> String {
    std::env::var("ORDERS_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/orders".into())
}

async fn connect() -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(&database_url(), NoTls)
        .await
        .unwrap_or_else(|e| panic!("Postgres unreachable ({e}): {START_STACK}"));
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, task)
}

#[tokio::test]
async fn a_null_read_into_a_non_option_is_permanent() {
    let (client, _task) = connect().await;
    let row = client
        .query_one("SELECT NULL::int4", &[])
        .await
        .expect("the query runs");
    let err = row.try_get::<_, i32>(0).expect_err("NULL is not an i32");
    assert!(!is_connection_failure(&err), "{err}");
    assert_eq!(pg_error_kind(&err), ErrorKind::Permanent, "{err}");
    // Positive control: the same column read as an Option succeeds.
    assert_eq!(row.try_get::<_, Option<i32>>(0).expect("Option"), None);
}

#[tokio::test]
async fn a_wrong_parameter_type_is_permanent() {
    let (client, _task) = connect().await;
    let err = client
        .query_one("SELECT $1::int4", &[&"not an int"])
        .await
        .expect_err("a &str is not an int4");
    assert!(err.as_db_error().is_none(), "a client-side error: {err}");
    assert_eq!(pg_error_kind(&err), ErrorKind::Permanent, "{err}");
}

#[tokio::test]
async fn a_closed_connection_is_transient() {
    let (client, task) = connect().await;
    client
        .simple_query("SELECT 1")
        .await
        .expect("positive control: the connection works");
    task.abort();
    let _ = task.await;
    let err = client
        .simple_query("SELECT 1")
        .await
        .expect_err("the connection is gone");
    assert!(is_connection_failure(&err), "{err}");
    assert_eq!(pg_error_kind(&err), ErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn server_errors_go_by_their_sqlstate() {
    let (client, _task) = connect().await;
    let err = client
        .simple_query("SELECT * FROM no_such_table_anywhere")
        .await
        .expect_err("undefined table");
    assert_eq!(pg_error_kind(&err), ErrorKind::Permanent, "{err}");
    let err = client
        .simple_query("SET statement_timeout = 1; SELECT pg_sleep(1)")
        .await
        .expect_err("statement timeout");
    assert_eq!(pg_error_kind(&err), ErrorKind::Transient, "57014: {err}");
}
