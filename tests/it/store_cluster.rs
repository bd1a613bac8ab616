//! The Redis store on a real Redis Cluster (3 masters, 3 replicas): the store
//! contract, and the partitions spread over every master.

use std::sync::Arc;
use std::time::Duration;

use crate::support::cluster::RedisCluster;
use async_trait::async_trait;
use hookgate::model::now_ms;
use hookgate::store::contract::{admission, delivery, Harness};
use hookgate::store::redis::{connect, RedisOptions, RedisStore};
use hookgate::store::Store;

const LEASE_TIMEOUT: Duration = Duration::from_millis(300);

/// A cluster (the run's, or one of the test's own) and a key prefix; every `open`
/// connects a new store (a new consumer) to the same data.
struct ClusterHarness {
    cluster: RedisCluster,
    prefix: String,
}

impl ClusterHarness {
    fn start() -> Self {
        Self {
            cluster: RedisCluster::shared(),
            prefix: unique_prefix(),
        }
    }
}

#[async_trait]
impl Harness for ClusterHarness {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(open(&self.cluster, &self.prefix, &unique_prefix()).await)
    }

    fn lease_timeout(&self) -> Duration {
        LEASE_TIMEOUT
    }
}

hookgate::store_contract!(ClusterHarness::start());

fn unique_prefix() -> String {
    format!("hg-{}", uuid::Uuid::new_v4().simple())
}

async fn open(cluster: &RedisCluster, prefix: &str, consumer: &str) -> RedisStore {
    connect(RedisOptions {
        cluster: cluster.seeds(),
        key_prefix: prefix.to_owned(),
        lease_timeout: LEASE_TIMEOUT,
        consumer: consumer.to_owned(),
        ..RedisOptions::default()
    })
    .await
    .expect("connect to the test cluster")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partitions_spread_over_every_master() {
    // A cluster of the test's own: it counts every key on each master.
    let cluster = RedisCluster::start();
    let store = open(&cluster, "spread", "c").await;
    for n in 0..200 {
        let key = format!("evt_{n}");
        store
            .admit(admission("r", Some(&key), vec![delivery("r", "t", now_ms())]))
            .await
            .unwrap();
    }
    let per_master = cluster.keys_per_master();
    assert_eq!(per_master.len(), 3, "{per_master:?}");
    assert!(
        per_master.iter().all(|(_, keys)| *keys > 0),
        "every master holds some keys: {per_master:?}"
    );
    // Every delivery is claimed once, from whichever master holds it.
    let mut claimed = 0;
    loop {
        let leases = store.claim("t", 64).await.unwrap();
        if leases.is_empty() {
            break;
        }
        claimed += leases.len();
        for lease in leases {
            store
                .complete(lease, hookgate::store::contract::delivered())
                .await
                .unwrap();
        }
    }
    assert_eq!(claimed, 200);
    assert_eq!(store.pending("t").await.unwrap(), 0);
}
