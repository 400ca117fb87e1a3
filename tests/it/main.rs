//! One integration-test binary: every module drives the real `optml` binary.

mod common;

mod audit;
mod bombs;
mod check;
mod config;
mod corpus;
mod fix;
mod formats;
mod hostile;
mod images;
mod pack;
mod races;
mod reader;
mod readme;
mod rules;
mod run;
mod s3;
mod s3_audit;
mod serving;
mod serving_cases;
mod snapshot;
mod writes;
