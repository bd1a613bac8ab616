//! hookgate's integration tests: hookgate on real sockets, against real
//! `redis-server`s started on free ports and programmable fake downstreams. One
//! binary, sharing the harness in `support/`.
// Helpers fail their test on any error, as the tests themselves do.
#![allow(clippy::unwrap_used)]

mod support;

mod admin_api;
mod admin_dead_letters;
mod admin_deliveries;
mod admin_events;
mod admin_pause;
mod admin_subscriptions;
mod auth;
mod cli;

mod bad_input;
mod chaos;
mod cluster_failover;
mod config;
mod connections;
mod deploy;
mod dlq;
mod durability;
mod example_betterez;
mod example_klavi;
mod example_obp;
mod example_toqio;
mod example_tradevest;
mod exhaustion;
mod fan_out;
mod ingress;
mod ingress_tls;
mod logs;
mod metrics;
mod otlp;
mod providers;
mod queue;
mod reload;
mod rules;
mod rules_sharing;
mod schema;
mod secrets;
mod shutdown;
mod sign;
mod store_cluster;
mod store_embedded;
mod store_redis;
mod throughput;
mod tls;
mod walkthrough;
