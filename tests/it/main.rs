//! One integration-test binary: every module drives the real `optml` binary.

mod common;

mod check;
mod config;
mod corpus;
mod fix;
mod formats;
mod pack;
mod readme;
mod rules;
mod run;
mod serving;
mod snapshot;
