//! `contrib/run-tests`, the suite's own entry point (issue 14 item 8):
//! CI runs everything, `--quick` skips only tests that exist.

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(p: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{p}")).unwrap()
}

#[test]
fn ci_runs_everything_and_quick_skips_only_real_slow_tests() {
    // CI calls the script with no argument: the full suite.
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "exec ./contrib/run-tests"),
        "{ci}"
    );
    let script = read("contrib/run-tests");
    let list = script
        .lines()
        .find_map(|l| l.strip_prefix("slow_tests=("))
        .and_then(|l| l.strip_suffix(')'))
        .expect("slow_tests=(...) in contrib/run-tests");
    let packaging = read("tests/packaging.rs");
    for name in list.split_whitespace() {
        assert!(
            packaging.contains(&format!("\nfn {name}()")),
            "--quick skips {name}, which tests/packaging.rs does not define"
        );
    }
    // The skips apply only with --quick.
    assert!(script.contains("if [ \"$quick\" = 1 ]; then"), "{script}");
    let o = Command::new("bash")
        .args([&format!("{ROOT}/contrib/run-tests"), "--bogus"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = Command::new("bash")
        .args([&format!("{ROOT}/contrib/run-tests"), "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("--quick"));
}
