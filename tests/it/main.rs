//! One integration-test binary: every module drives the real `optml` binary.

mod common;

mod check;
mod corpus;
mod fix;
mod pack;
mod readme;
mod rules;
mod run;
mod serving;
mod serving_cases;
mod snapshot;
