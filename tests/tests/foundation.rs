//! Foundation checks against the real stack: Postgres with logical WAL, a keyed record with
//! headers through the real broker, every contract through the real registry, and bad bytes.

use chrono::{TimeZone, Utc};
use contracts::{FailureReason, LineItem, OrderCreated, PaymentCompleted, PaymentFailed};
use e2e_tests::{START_STACK, StackEnv, connect_postgres, eventually, unique};
use eventing::{CodecError, ErrorKind};
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

#[tokio::test]
async fn postgres_runs_with_logical_replication() {
    let env = StackEnv::from_env();
    let client = connect_postgres(&env.orders_database_url).await;
    let row = client
        .query_one("SHOW wal_level", &[])
        .await
        .expect("SHOW wal_level");
    assert_eq!(row.get::<_, String>(0), "logical");
    let row = client
        .query_one("SHOW max_replication_slots", &[])
        .await
        .expect("SHOW");
    assert!(row.get::<_, String>(0).parse::<u32>().expect("a number") >= 10);
    let payments = connect_postgres(&env.payments_database_url).await;
    let row = payments
        .query_one("SELECT current_database()", &[])
        .await
        .expect("query");
    assert_eq!(row.get::<_, String>(0), "payments");
}

#[tokio::test]
async fn keyed_record_with_headers_round_trips_through_the_broker() {
    let env = StackEnv::from_env();
    let kafka = env.kafka();
    let topic = unique("foundation");
    eventing::kafka::create_topic(&kafka, &topic, 1)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Kafka at {} is unreachable ({e}); {START_STACK}",
                env.kafka_bootstrap_servers
            )
        });

    let producer: FutureProducer = kafka.safe_producer_config().create().expect("producer");
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "id",
            value: Some("evt-1"),
        })
        .insert(Header {
            key: "type",
            value: Some("OrderCreated"),
        });
    producer
        .send(
            FutureRecord::to(&topic)
                .key("order-42")
                .payload("hello")
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .expect("broker acknowledged the record");

    let consumer: StreamConsumer = kafka
        .client_config(&[
            ("group.id", &unique("foundation-group")),
            ("auto.offset.reset", "earliest"),
        ])
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a record within 30 s")
        .expect("consume");
    assert_eq!(message.key(), Some(&b"order-42"[..]));
    assert_eq!(message.payload(), Some(&b"hello"[..]));
    let headers = message.headers().expect("headers");
    let got: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("id".into(), b"evt-1".to_vec()),
            ("type".into(), b"OrderCreated".to_vec())
        ]
    );
}

fn at() -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(1_764_000_000_123)
        .single()
        .expect("valid timestamp")
}

fn order_created() -> OrderCreated {
    OrderCreated {
        event_id: Uuid::new_v4(),
        occurred_at: at(),
        order_id: Uuid::new_v4(),
        customer_id: "customer-7".into(),
        total_amount: Decimal::from_str("1234.5678").expect("decimal"),
        currency: "EUR".into(),
        items: vec![
            LineItem {
                sku: "SKU-1".into(),
                quantity: 2,
                unit_price: Decimal::from_str("600.0039").expect("d"),
            },
            LineItem {
                sku: "SKU-2".into(),
                quantity: 1,
                unit_price: Decimal::from_str("34.56").expect("d"),
            },
        ],
    }
}

#[tokio::test]
async fn every_contract_round_trips_through_the_registry_codec() {
    let env = StackEnv::from_env();
    let codec = env.codec();

    let created = order_created();
    let bytes = codec
        .encode(&created)
        .await
        .unwrap_or_else(|e| panic!("{e}; {START_STACK}"));
    assert_eq!(bytes[0], 0, "Confluent magic byte");
    assert_eq!(
        codec.record_name(&bytes).await.expect("name"),
        "orderpipeline.events.OrderCreated"
    );
    assert_eq!(
        codec.decode::<OrderCreated>(&bytes).await.expect("decode"),
        created
    );

    let completed = PaymentCompleted {
        event_id: Uuid::new_v4(),
        occurred_at: at(),
        payment_id: Uuid::new_v4(),
        order_id: created.order_id,
        customer_id: "customer-7".into(),
        amount: created.total_amount,
        currency: "EUR".into(),
        gateway_reference: "gw-123".into(),
    };
    let bytes = codec.encode(&completed).await.expect("encode");
    assert_eq!(
        codec
            .decode::<PaymentCompleted>(&bytes)
            .await
            .expect("decode"),
        completed
    );

    for payment_id in [None, Some(Uuid::new_v4())] {
        let failed = PaymentFailed {
            event_id: Uuid::new_v4(),
            occurred_at: at(),
            payment_id,
            order_id: created.order_id,
            customer_id: "customer-7".into(),
            amount: Decimal::from_str("-0.0001").expect("d"),
            currency: "EUR".into(),
            reason: FailureReason::RetriesExhausted,
            detail: "gateway timed out 5 times".into(),
        };
        let bytes = codec.encode(&failed).await.expect("encode");
        assert_eq!(
            codec.decode::<PaymentFailed>(&bytes).await.expect("decode"),
            failed
        );
    }

    // A fresh codec (empty cache) reads what the first wrote: ids come from the registry.
    let fresh = env.codec();
    let bytes = codec.encode(&created).await.expect("encode");
    assert_eq!(
        fresh.decode::<OrderCreated>(&bytes).await.expect("decode"),
        created
    );
    // Reading as the wrong type is a typed error, not garbage.
    assert!(matches!(
        fresh.decode::<PaymentCompleted>(&bytes).await,
        Err(CodecError::UnexpectedRecordType { .. })
    ));
}

#[tokio::test]
async fn bad_bytes_give_typed_permanent_errors() {
    let env = StackEnv::from_env();
    let codec = env.codec();
    let good = codec
        .encode(&order_created())
        .await
        .unwrap_or_else(|e| panic!("{e}; {START_STACK}"));
    let header = &good[..5];

    let mut wrong_magic = good.clone();
    wrong_magic[0] = 7;
    let mut unknown_id = good.clone();
    unknown_id[1..5].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    let truncated = good[..good.len() / 2].to_vec();
    let mut garbage = header.to_vec();
    garbage.extend_from_slice(&[0xff; 40]);
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"extra");

    type Expected = fn(&CodecError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("empty value", vec![], |e| {
            matches!(e, CodecError::EmptyPayload)
        }),
        ("wrong magic byte", wrong_magic, |e| {
            matches!(e, CodecError::WrongMagicByte { found: 7 })
        }),
        ("header cut short", vec![0, 0, 1], |e| {
            matches!(e, CodecError::TruncatedHeader { .. })
        }),
        ("unknown schema id", unknown_id, |e| {
            matches!(e, CodecError::UnknownSchemaId { id: 0x7fff_fff0 })
        }),
        ("truncated payload", truncated, |e| {
            matches!(e, CodecError::InvalidPayload(_))
        }),
        ("garbage payload", garbage, |e| {
            matches!(
                e,
                CodecError::InvalidPayload(_) | CodecError::InvalidField { .. }
            )
        }),
        ("trailing bytes", trailing, |e| {
            matches!(e, CodecError::InvalidPayload(_))
        }),
    ];
    for (what, bytes, expected) in cases {
        let err = codec.decode::<OrderCreated>(&bytes).await.expect_err(what);
        assert!(expected(&err), "{what}: unexpected error {err:?}");
        assert_eq!(
            err.kind(),
            ErrorKind::Permanent,
            "{what} must be dead-lettered, not retried"
        );
    }
}

#[tokio::test]
async fn registry_down_is_a_transient_error() {
    // Nothing listens on port 9 (discard) on 127.0.0.1 in our stack.
    let codec = eventing::AvroCodec::new("http://127.0.0.1:9/apis/ccompat/v7").expect("url");
    let err = codec
        .encode(&order_created())
        .await
        .expect_err("no registry there");
    assert_eq!(err.kind(), ErrorKind::Transient, "{err:?}");
}

#[tokio::test]
async fn eventually_polls_until_the_value_appears() {
    let mut calls = 0;
    let value = eventually("third call", Duration::from_secs(5), || {
        calls += 1;
        let ready = calls >= 3;
        async move { ready.then_some(calls) }
    })
    .await;
    assert_eq!(value, 3);
}

#[tokio::test]
async fn registry_rejects_a_version_that_breaks_consumers() {
    let env = StackEnv::from_env();
    let http = reqwest::Client::new();
    let config: serde_json::Value = http
        .get(format!("{}/config", env.schema_registry_url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("registry unreachable ({e}); {START_STACK}"))
        .json()
        .await
        .expect("JSON");
    assert_eq!(config["compatibilityLevel"], "FULL_TRANSITIVE", "{config}");

    let subject = format!("test.compat.T{}", Uuid::new_v4().simple());
    let register = |field_type: &str| {
        let schema = serde_json::json!({"type": "record", "name": "T", "namespace": "test.compat",
            "fields": [{"name": "a", "type": field_type}]});
        http.post(format!(
            "{}/subjects/{subject}/versions",
            env.schema_registry_url
        ))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .json(&serde_json::json!({"schema": schema.to_string()}))
        .send()
    };
    assert!(
        register("int")
            .await
            .expect("first version")
            .status()
            .is_success()
    );
    let breaking = register("string").await.expect("answer");
    assert_eq!(breaking.status(), 409, "int -> string must be refused");
}

/// A TCP relay to the real registry that counts the schema-by-id requests passing through it
/// (client → registry bytes), so a test can see how many look-ups a codec really sent.
struct CountingRelay {
    url: String,
    lookups: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl CountingRelay {
    async fn start(registry_url: &str) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = registry_url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("registry host:port")
            .to_string();
        let path = registry_url
            .trim_start_matches("http://")
            .split_once('/')
            .map_or(String::new(), |(_, p)| format!("/{p}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let lookups = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = lookups.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let to_server = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        // Keep the last bytes of the previous chunk: a request line split
                        // across two reads is still counted once.
                        let mut tail: Vec<u8> = Vec::new();
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let mut window = std::mem::take(&mut tail);
                            window.extend_from_slice(&buf[..n]);
                            let hits = window
                                .windows(4)
                                .enumerate()
                                .filter(|(i, w)| {
                                    *w == b"GET "
                                        && window[*i..]
                                            .windows(12)
                                            .take(200)
                                            .any(|w| w == b"/schemas/ids")
                                })
                                .count();
                            counter.fetch_add(hits, Ordering::SeqCst);
                            tail = window[window.len().saturating_sub(3)..].to_vec();
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let to_client = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(to_server, to_client);
                });
            }
        });
        Self {
            url: format!("http://{addr}{path}"),
            lookups,
        }
    }

    fn lookups(&self) -> usize {
        self.lookups.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn concurrent_first_lookups_of_a_schema_id_send_one_registry_request() {
    let env = StackEnv::from_env();
    let bytes = env
        .codec()
        .encode(&order_created())
        .await
        .unwrap_or_else(|e| panic!("registry unreachable ({e}): {START_STACK}"));
    let relay = CountingRelay::start(&env.schema_registry_url).await;
    // Positive control: a look-up through the relay is counted.
    let control = eventing::AvroCodec::new(&relay.url).expect("relay URL");
    control
        .decode::<OrderCreated>(&bytes)
        .await
        .expect("decode through the relay");
    assert_eq!(
        relay.lookups(),
        1,
        "the relay counts a schema-by-id look-up"
    );

    // 200 records of a schema id the codec has not seen, decoded at once (a consumer's first
    // poll after start-up): one registry request, every decode succeeds.
    let codec = eventing::AvroCodec::new(&relay.url).expect("relay URL");
    let decodes = (0..200).map(|_| {
        let codec = codec.clone();
        let bytes = bytes.clone();
        tokio::spawn(async move { codec.decode::<OrderCreated>(&bytes).await })
    });
    for decoded in futures::future::join_all(decodes).await {
        decoded.expect("task").expect("decode");
    }
    assert_eq!(
        relay.lookups(),
        2,
        "200 concurrent first look-ups sent {} registry requests instead of 1",
        relay.lookups() - 1
    );
}
