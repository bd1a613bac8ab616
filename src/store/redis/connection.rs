//! One connection type for a single Redis and for a Redis Cluster, so every store
//! call is written once. A single Redis is reached through a [`ConnectionManager`]
//! (one multiplexed connection that reconnects by itself); a cluster through the
//! crate's cluster client, which keeps a connection per node, routes each command
//! or pipeline to the master of its slot, and follows MOVED and ASK redirections
//! and failovers on its own. Every pipeline the store sends stays within one
//! partition (one slot), so the cluster client can route it whole.

use ::redis::aio::{ConnectionLike, ConnectionManager};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisFuture, Value};

/// A connection to a single Redis or to a cluster; cheap to clone, all clones share
/// their connections.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
