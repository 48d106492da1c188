//! The helpers of the original request, each in its own file.

pub(crate) mod batch;
pub(crate) mod embed_all;
pub(crate) mod fine_tune_cap;
pub(crate) mod suggest;
