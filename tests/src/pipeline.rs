//! The whole pipeline as real processes on the real stack, for the closed-loop tests and for
//! `make demo`: order-producer → orders relay → payment-processor (retry tiers, dead letters) →
//! dlq-handler → payments relay → order-producer, plus the payment gateway simulator.
//!
//! Isolation: every [`Pipeline`] gets a fresh orders database, its own payments schema, its own
//! topics (`<prefix>.<id>.*`), slots and consumer groups, so runs never see each other's records.
//! Dropping it kills every process, then removes the slots, the database, the schema and the
//! topics (unless [`World::keep`] is set).
//!
//! Failures panic with the tail of the service's log and how to start the stack: this is test
//! and demo support, and a panic there is the clear, early error a reader wants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{START_STACK, StackEnv, connect_postgres};
use eventing::kafka::create_topic;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// How long a service may take to become ready, and the default wait for a state.
pub const WAIT: Duration = Duration::from_secs(120);

/// The topics of one pipeline, by short name (`<prefix>.<id>.<name>`).
const TOPICS: [&str; 7] = [
    "order",
    "payment",
    "retry1",
    "retry2",
    "dlq",
    "unhandled",
    "op-dlq",
];

/// `target/debug` of this workspace (or `$CARGO_TARGET_DIR/debug`): what `make test` builds.
pub fn debug_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("debug")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Where the service binaries are.
    pub bin_dir: PathBuf,
    /// Names: database `<prefix>_<id>`, topics `<prefix>.<id>.*`.
    pub prefix: String,
    /// Where the services' logs go (one file per service).
    pub log_dir: PathBuf,
    /// payment-processor `--payment-deadline`.
    pub payment_deadline: String,
    /// payment-processor `--retry-delays` (one per retry topic; two topics).
    pub retry_delays: String,
    /// payment-processor `--retry-attempts` (per tier).
    pub retry_attempts: String,
    /// Extra flags for the payment gateway simulator (declines, transient failures, latency).
    pub gateway_args: Vec<String>,
    /// Environment for every service (e.g. `LOG_FORMAT=json`, `LOG_LEVEL`).
    pub service_env: Vec<(String, String)>,
    /// Run every service over TLS (Postgres and Kafka) instead of plaintext.
    pub security: Option<Security>,
    /// Run on the stack's 3-broker cluster (`make up KAFKA_NODES=3`) instead of the single
    /// broker, with replicated topics. Plaintext only (not combined with `security`).
    pub kafka_cluster: Option<KafkaCluster>,
}

/// The stack's 3-broker Kafka cluster and how the pipeline's topics are replicated on it.
#[derive(Debug, Clone)]
pub struct KafkaCluster {
    pub bootstrap_servers: String,
    pub replication_factor: i32,
    pub min_insync_replicas: u32,
}

impl KafkaCluster {
    /// `KAFKA_CLUSTER_BOOTSTRAP_SERVERS` from the env lines `make up KAFKA_NODES=3` prints;
    /// topics with replication factor 3 and `min.insync.replicas=2`, as in production.
    pub fn from_stack_env() -> Self {
        let bootstrap_servers =
            std::env::var("KAFKA_CLUSTER_BOOTSTRAP_SERVERS").unwrap_or_else(|_| {
                panic!(
                    "KAFKA_CLUSTER_BOOTSTRAP_SERVERS is not set: start the 3-broker cluster with \
                 `make up KAFKA_NODES=3` and `source .stack/env` (make test does both)"
                )
            });
        Self {
            bootstrap_servers,
            replication_factor: 3,
            min_insync_replicas: 2,
        }
    }

    pub fn kafka(&self) -> eventing::kafka::KafkaArgs {
        eventing::kafka::KafkaArgs::local(&self.bootstrap_servers)
    }
}

/// Create `name` with `partitions` partitions, `replication` replicas and `min.insync.replicas`
/// (an existing topic is left as it is).
pub async fn create_replicated_topic(
    kafka: &eventing::kafka::KafkaArgs,
    name: &str,
    partitions: i32,
    replication: i32,
    min_insync_replicas: u32,
) -> Result<(), String> {
    use rdkafka::admin::{NewTopic, TopicReplication};
    use rdkafka::types::RDKafkaErrorCode;
    let admin: AdminClient<DefaultClientContext> = kafka
        .client_config(&[])
        .create()
        .map_err(|e| e.to_string())?;
    let min_isr = min_insync_replicas.to_string();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication))
        .set("min.insync.replicas", &min_isr);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin
        .create_topics([&topic], &opts)
        .await
        .map_err(|e| e.to_string())?
    {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("creating topic {topic}: {code}")),
        }
    }
    Ok(())
}

/// How the services reach the stack over TLS: Postgres as a role that may only log in over TLS,
/// with `verify-full` against the stack's CA; Kafka on the SASL_SSL listener with SCRAM-SHA-512.
#[derive(Clone)]
pub struct Security {
    pub db_user: String,
    pub db_password: String,
    /// libpq TLS parameters added to every service's database URL.
    pub db_tls_params: String,
    pub kafka_bootstrap_servers: String,
    /// librdkafka options, `key=value`.
    pub kafka_options: Vec<String>,
    pub kafka_password: String,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("db_user", &self.db_user)
            .field("db_tls_params", &self.db_tls_params)
            .field("kafka_bootstrap_servers", &self.kafka_bootstrap_servers)
            .finish_non_exhaustive()
    }
}

impl Security {
    /// The stack's TLS role (`pipeline_tls`, random password) and SCRAM user, from the env lines
    /// `make up` prints.
    pub fn from_stack_env() -> Self {
        let var = |key: &str| {
            std::env::var(key).unwrap_or_else(|_| {
                panic!("{key} is not set: {START_STACK} and `source .stack/env` (make test does)")
            })
        };
        let ca = var("TLS_CA_FILE");
        let kafka_password = var("KAFKA_SCRAM_PASSWORD");
        Security {
            db_user: "pipeline_tls".into(),
            db_password: var("POSTGRES_TLS_PASSWORD"),
            db_tls_params: format!("sslmode=verify-full&sslrootcert={ca}"),
            kafka_bootstrap_servers: var("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS"),
            kafka_options: vec![
                "security.protocol=SASL_SSL".into(),
                "sasl.mechanism=SCRAM-SHA-512".into(),
                format!("sasl.username={}", var("KAFKA_SCRAM_USER")),
                format!("sasl.password={kafka_password}"),
                format!("ssl.ca.location={ca}"),
            ],
            kafka_password,
        }
    }

    /// `plain` with this role's credentials and the TLS parameters.
    pub fn db_url(&self, plain: &str) -> String {
        let (scheme, rest) = plain.split_once("://").expect("a postgres:// URL");
        let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let separator = if host_and_db.contains('?') { '&' } else { '?' };
        format!(
            "{scheme}://{}:{}@{host_and_db}{separator}{}",
            self.db_user, self.db_password, self.db_tls_params
        )
    }
}

impl PipelineConfig {
    /// The closed-loop tests' settings: debug binaries, short retry delays.
    pub fn for_tests(payment_deadline: &str) -> Self {
        Self {
            bin_dir: debug_bin_dir(),
            prefix: "loop".into(),
            log_dir: std::env::temp_dir(),
            payment_deadline: payment_deadline.into(),
            retry_delays: "1s,1s".into(),
            retry_attempts: "2".into(),
            gateway_args: Vec::new(),
            service_env: Vec::new(),
            security: None,
            kafka_cluster: None,
        }
    }
}

/// A service process with its log; killed when dropped; restartable with the same flags.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    pub ready: String,
}

impl Service {
    /// The value of an unlabelled metric on the service's `/metrics` (next to its `/readyz`).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let url = self.ready.replace("/readyz", "/metrics");
        let text = reqwest::get(url).await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
    }

    /// Spawn without waiting for readiness.
    fn spawn(
        config: &PipelineConfig,
        run_id: &str,
        name: &'static str,
        label: &str,
        args: &[String],
        ready: &str,
    ) -> Service {
        let binary = config.bin_dir.join(name);
        assert!(
            binary.is_file(),
            "{} is not built: run `cargo build --workspace --bins` (make test does; make demo \
             builds --release)",
            binary.display()
        );
        let log = config
            .log_dir
            .join(format!("{}-{run_id}-{label}.log", config.prefix));
        let env = config.service_env.clone();
        Service {
            name,
            child: Self::launch(&binary, args, &env, &log),
            log,
            binary,
            args: args.to_vec(),
            env,
            ready: ready.to_string(),
        }
    }

    fn launch(binary: &Path, args: &[String], env: &[(String, String)], log: &Path) -> Child {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        Command::new(binary)
            .args(args)
            // `LOG_LEVEL` (set through `service_env`) decides; a caller's RUST_LOG would
            // override it and hide the lines the tests read.
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = reqwest::get(&self.ready).await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.tail());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready ({START_STACK}?):\n{}",
                self.name,
                self.tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, then start again with the same flags (same log file) and wait until ready.
    pub async fn kill_and_restart(&mut self) {
        self.child.kill().await.unwrap();
        self.start_again().await;
    }

    /// SIGTERM and wait for a clean exit (exit status 0).
    pub async fn stop(&mut self) {
        let pid = self.child.id().expect("running").to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not stop within {WAIT:?}", self.name))
            .unwrap();
        assert!(status.success(), "{status}\n{}", self.tail());
    }

    /// Start a stopped service again with the same flags and wait until ready.
    pub async fn start_again(&mut self) {
        self.child = Self::launch(&self.binary, &self.args, &self.env, &self.log);
        self.wait_ready().await;
    }

    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ({}) ---\n{}",
            self.name,
            self.log.display(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }
}

/// The isolated resources of one pipeline; removed on drop unless `keep`.
#[derive(Debug)]
pub struct World {
    pub env: StackEnv,
    pub id: String,
    pub prefix: String,
    pub orders_db: String,
    pub schema: String,
    /// The Kafka the topics live on (the single broker or the 3-broker cluster).
    pub kafka: eventing::kafka::KafkaArgs,
    /// Leave the database, schema and topics in place (to inspect them afterwards); the
    /// replication slots are dropped all the same.
    pub keep: bool,
}

impl World {
    pub fn orders_url(&self) -> String {
        let base = self
            .env
            .orders_database_url
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap();
        format!("{base}/{}", self.orders_db)
    }

    pub fn topic(&self, name: &str) -> String {
        format!("{}.{}.{name}", self.prefix, self.id)
    }

    fn slot(&self, which: &str) -> String {
        format!("{}_{}_{which}", self.prefix, self.id)
    }

    pub fn gateway_database_url() -> String {
        std::env::var("GATEWAY_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://pipeline:pipeline@127.0.0.1:54329/gateway".into())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let keep = self.keep;
        let (admin, payments, db, schema, slots) = (
            self.env.admin_database_url.clone(),
            self.env.payments_database_url.clone(),
            self.orders_db.clone(),
            self.schema.clone(),
            format!("{}_{}_%", self.prefix, self.id),
        );
        let topics: Vec<String> = TOPICS.iter().map(|t| self.topic(t)).collect();
        let kafka = self.kafka.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin = connect_postgres(&admin).await;
                // Slots first (they pin their databases), then the database and the schema.
                for _ in 0..100 {
                    let _ = admin
                        .execute(
                            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                             WHERE slot_name LIKE $1 AND NOT active",
                            &[&slots],
                        )
                        .await;
                    let left: i64 = admin
                        .query_one(
                            "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE $1",
                            &[&slots],
                        )
                        .await
                        .map(|r| r.get(0))
                        .unwrap_or(0);
                    if left == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                if keep {
                    // The data stays for inspection; the slots would only hold WAL back (their
                    // relays are gone).
                    return;
                }
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .await;
                let payments = connect_postgres(&payments).await;
                let _ = payments
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await;
                if let Ok(client) = kafka
                    .client_config(&[])
                    .create::<AdminClient<DefaultClientContext>>()
                {
                    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                    let _ = client
                        .delete_topics(
                            &names,
                            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                        )
                        .await;
                }
            });
        })
        .join();
    }
}

/// The whole pipeline, every service a real process.
#[derive(Debug)]
pub struct Pipeline {
    pub relays: Vec<Service>,
    pub gateway: Service,
    pub gateway_url: String,
    pub order_producer: Service,
    pub api: String,
    pub processor: Service,
    pub processor_running: bool,
    pub dlq_handler: Service,
    /// Declared last: dropped (database, schema, slots, topics removed) after every process.
    pub world: World,
}

impl Pipeline {
    /// Create the isolated resources and start every service; relays first (they wait for
    /// their outbox tables, as on Kubernetes where start order is not guaranteed).
    pub async fn start(config: &PipelineConfig) -> Pipeline {
        let env = StackEnv::from_env();
        assert!(
            config.security.is_none() || config.kafka_cluster.is_none(),
            "the 3-broker cluster has plaintext listeners only"
        );
        let kafka = config
            .kafka_cluster
            .as_ref()
            .map_or_else(|| env.kafka(), KafkaCluster::kafka);
        let id = Uuid::new_v4().simple().to_string()[..10].to_string();
        let world = World {
            orders_db: format!("{}_{id}", config.prefix),
            schema: format!("{}_{id}", config.prefix),
            kafka: kafka.clone(),
            prefix: config.prefix.clone(),
            id: id.clone(),
            env: env.clone(),
            keep: false,
        };
        let admin = connect_postgres(&env.admin_database_url).await;
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} OWNER pipeline",
                world.orders_db
            ))
            .await
            .unwrap();
        for name in TOPICS {
            match &config.kafka_cluster {
                None => create_topic(&kafka, &world.topic(name), 3).await,
                Some(cluster) => {
                    create_replicated_topic(
                        &kafka,
                        &world.topic(name),
                        3,
                        cluster.replication_factor,
                        cluster.min_insync_replicas,
                    )
                    .await
                }
            }
            .unwrap_or_else(|e| panic!("topic ({e}): {START_STACK}"));
        }
        let security = config.security.as_ref();
        let db = |plain: &str| security.map_or_else(|| plain.to_owned(), |s| s.db_url(plain));
        let common = |args: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            v.extend([
                "--kafka-bootstrap-servers".into(),
                match (security, &config.kafka_cluster) {
                    (Some(s), _) => s.kafka_bootstrap_servers.clone(),
                    (None, Some(cluster)) => cluster.bootstrap_servers.clone(),
                    (None, None) => env.kafka_bootstrap_servers.clone(),
                },
            ]);
            for option in security.iter().flat_map(|s| &s.kafka_options) {
                v.extend(["--kafka-option".into(), option.clone()]);
            }
            v
        };
        let template = format!("{}.{id}.{{aggregatetype}}", config.prefix);
        let spawn = |name: &'static str, label: &str, args: &[String], ready: &str| {
            Service::spawn(config, &id, name, label, args, ready)
        };

        let mut relays = Vec::new();
        for (label, url, table, slot) in [
            (
                "cdc-relay-orders",
                db(&world.orders_url()),
                "public.outbox".to_string(),
                world.slot("o"),
            ),
            (
                "cdc-relay-payments",
                db(&env.payments_database_url),
                format!("{}.outbox", world.schema),
                world.slot("p"),
            ),
        ] {
            let port = free_port();
            relays.push(spawn(
                "cdc-relay",
                label,
                &common(&[
                    "--database-url",
                    &url,
                    "--outbox-table",
                    &table,
                    "--slot-name",
                    &slot,
                    "--publication",
                    &format!("{slot}_pub"),
                    "--topic-template",
                    &template,
                    "--header-column",
                    "traceparent",
                    "--ops-addr",
                    &format!("127.0.0.1:{port}"),
                ]),
                &format!("http://127.0.0.1:{port}/readyz"),
            ));
        }

        let gateway_port = free_port();
        let gateway_url = format!("http://127.0.0.1:{gateway_port}");
        let mut gateway_args = vec![
            "--listen-addr".to_string(),
            format!("127.0.0.1:{gateway_port}"),
            "--database-url".into(),
            db(&World::gateway_database_url()),
        ];
        gateway_args.extend(config.gateway_args.iter().cloned());
        let gateway = spawn(
            "payment-gateway-sim",
            "payment-gateway-sim",
            &gateway_args,
            &format!("{gateway_url}/readyz"),
        );

        let api_port = free_port();
        let api = format!("http://127.0.0.1:{api_port}");
        let order_producer = spawn(
            "order-producer",
            "order-producer",
            &common(&[
                "--listen-addr",
                &format!("127.0.0.1:{api_port}"),
                "--database-url",
                &db(&world.orders_url()),
                "--payment-topic",
                &world.topic("payment"),
                "--dead-letter-topic",
                &world.topic("op-dlq"),
                "--consumer-group",
                &format!("{}-{id}-orders", config.prefix),
                "--schema-registry-url",
                &env.schema_registry_url,
            ]),
            &format!("{api}/readyz"),
        );
        let processor_port = free_port();
        let processor = spawn(
            "payment-processor",
            "payment-processor",
            &common(&[
                "--ops-addr",
                &format!("127.0.0.1:{processor_port}"),
                "--database-url",
                &db(&env.payments_database_url),
                "--database-schema",
                &world.schema,
                "--gateway-url",
                &gateway_url,
                "--source-topic",
                &world.topic("order"),
                "--retry-topics",
                &format!("{},{}", world.topic("retry1"), world.topic("retry2")),
                "--retry-delays",
                &config.retry_delays,
                "--retry-attempts",
                &config.retry_attempts,
                "--dlq-topic",
                &world.topic("dlq"),
                "--group-id",
                &format!("{}-{id}-payments", config.prefix),
                "--schema-registry-url",
                &env.schema_registry_url,
                "--payment-deadline",
                &config.payment_deadline,
            ]),
            &format!("http://127.0.0.1:{processor_port}/readyz"),
        );
        // dlq-handler reads the payments table payment-processor's migrations create.
        let mut processor = processor;
        processor.wait_ready().await;
        let dlq_port = free_port();
        let dlq_handler = spawn(
            "dlq-handler",
            "dlq-handler",
            &common(&[
                "--ops-addr",
                &format!("127.0.0.1:{dlq_port}"),
                "--database-url",
                &db(&env.payments_database_url),
                "--database-schema",
                &world.schema,
                "--gateway-url",
                &gateway_url,
                "--dlq-topic",
                &world.topic("dlq"),
                "--unhandled-topic",
                &world.topic("unhandled"),
                "--group-id",
                &format!("{}-{id}-dlq", config.prefix),
                "--schema-registry-url",
                &env.schema_registry_url,
            ]),
            &format!("http://127.0.0.1:{dlq_port}/readyz"),
        );
        let mut pipeline = Pipeline {
            world,
            relays,
            gateway,
            gateway_url,
            order_producer,
            api,
            processor,
            processor_running: true,
            dlq_handler,
        };
        for service in pipeline.services_mut() {
            service.wait_ready().await;
        }
        pipeline
    }

    fn services_mut(&mut self) -> Vec<&mut Service> {
        let mut all: Vec<&mut Service> = self.relays.iter_mut().collect();
        all.extend([
            &mut self.gateway,
            &mut self.order_producer,
            &mut self.processor,
            &mut self.dlq_handler,
        ]);
        all
    }

    /// The last lines of every service's log.
    pub fn logs(&self) -> String {
        let mut all: Vec<String> = self.relays.iter().map(Service::tail).collect();
        all.extend([
            self.gateway.tail(),
            self.order_producer.tail(),
            self.processor.tail(),
            self.dlq_handler.tail(),
        ]);
        all.join("\n")
    }

    /// Switch the gateway simulator's outage mode (every charge answered 503).
    pub async fn gateway_outage(&self, outage: bool) {
        let r = reqwest::Client::new()
            .patch(format!("{}/admin/behaviour", self.gateway_url))
            .json(&json!({"outage": outage}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// SIGTERM the payment processor and wait for its clean exit.
    pub async fn stop_processor(&mut self) {
        assert!(self.processor_running);
        self.processor.stop().await;
        self.processor_running = false;
    }

    pub async fn start_processor(&mut self) {
        assert!(!self.processor_running);
        self.processor.start_again().await;
        self.processor_running = true;
    }

    /// The gateway ledger's charges for one order.
    pub async fn charges(&self, order_id: &str) -> Vec<Value> {
        let ledger: Value = reqwest::get(format!(
            "{}/v1/ledger?order_id={order_id}",
            self.gateway_url
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        ledger["charges"].as_array().unwrap().clone()
    }

    /// `GET /orders/{id}`.
    pub async fn order(&self, id: &str) -> Value {
        reqwest::get(format!("{}/orders/{id}", self.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Poll `GET /orders/{id}` until it shows `status`.
    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let order = self.order(id).await;
            if order["status"] == status {
                return order;
            }
            if Instant::now() > deadline {
                panic!(
                    "order {id} not {status} within {WAIT:?}: {order:#}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
