//! pagemill-logs: under construction; see the workspace README.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
