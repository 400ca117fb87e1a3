//! `optml check` end to end, per rule, failing and passing side.

use crate::common::*;

#[test]
fn clean_tree_passes() {
    let dir = TestDir::new();
    let root = dir.opt_ml("opt/ml");
    let (code, doc) = check_json(&[root.as_os_str()]);
    assert_eq!(codes(&doc), Vec::<String>::new());
    assert_eq!(code, 0);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["summary"]["errors"], 0);
}
