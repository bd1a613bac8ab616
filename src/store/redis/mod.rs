//! The Redis store. Being written.
