//! `optml fix`: the mechanical repairs rules name (`repair = "..."`), planned from the findings
//! of a check (`plan`) and applied by streaming the archive into a new one (`rewrite`).

pub mod plan;
pub mod rewrite;
