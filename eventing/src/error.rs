//! The codec's errors and the workspace's one error classification, defined in the pure
//! `contracts` crate and re-exported here so `eventing` code and its users name one type.

pub use contracts::error::{CodecError, ErrorKind};
