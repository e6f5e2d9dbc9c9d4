//! The shape of `src/` (issue 12, item 2): the top-level modules form a
//! graph without cycles, and only the daemon imports the task drivers.
//!
//! Read from the `crate::` paths of each module's files, test code left
//! out (a test may build a whole config): an edge `a -> b` means some
//! non-test file under `src/a` names `crate::b`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module -> module it names -> the files that name it.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The modules that run tasks: only `daemon.rs` may import them.
const DRIVERS: &[&str] = &["dhcp::driver", "dns::driver", "vrrp::driver", "ha::driver"];

/// Files that wire everything together and may import anything.
const ROOTS: &[&str] = &["daemon.rs", "main.rs", "lib.rs"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Files that only tests compile or call.
const TEST_ONLY: &[&str] = &["src/testkit.rs", "src/pair_sim.rs", "src/vrrp/sim.rs"];

/// The file's code without comments and without its test module.
fn code(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name == "tests.rs" || name.ends_with("_tests.rs") {
        return None;
    }
    // Test-only modules (declared under `#[cfg(test)]`, or the test kit
    // the tests share) may use any module: they are not in the binary.
    if TEST_ONLY.iter().any(|t| path.ends_with(t)) {
        return None;
    }
    let text = std::fs::read_to_string(path).expect("a source file is readable");
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let t = l.trim_start();
        if t == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(l.split(" // ").next().unwrap_or(l));
        out.push('\n');
    }
    Some(out)
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The items of a `{a, b::{c, d}}` group (`s` starts after its `{`).
fn group_items(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (j, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(s[start..j].trim());
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..j].trim());
                start = j + 1;
            }
            _ => {}
        }
    }
    out.retain(|i| !i.is_empty());
    out
}

/// The paths `s` (what follows `crate::`) names, as far as two segments
/// (`dhcp::driver`), with `{a, b::c}` groups expanded.
fn paths_of(s: &str) -> Vec<String> {
    if let Some(g) = s.strip_prefix('{') {
        return group_items(g).into_iter().flat_map(paths_of).collect();
    }
    let first = ident(s);
    if first.is_empty() {
        return Vec::new();
    }
    match s[first.len()..].strip_prefix("::") {
        Some(r) if r.starts_with('{') => group_items(&r[1..])
            .into_iter()
            .map(|i| format!("{first}::{}", ident(i)))
            .collect(),
        Some(r) if !ident(r).is_empty() => vec![format!("{first}::{}", ident(r))],
        _ => vec![first.to_string()],
    }
}

/// Every path the code names after `crate::`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `other_crate::`, not ours
        }
        out.extend(paths_of(&code[i + "crate::".len()..]));
    }
    out
}

fn top_modules(src: &Path) -> BTreeSet<String> {
    let mut mods = BTreeSet::new();
    for e in std::fs::read_dir(src).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        let name = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if p.is_dir() || p.extension().is_some_and(|x| x == "rs") {
            mods.insert(name.to_string());
        }
    }
    for r in ROOTS {
        mods.remove(r.trim_end_matches(".rs"));
    }
    mods
}

/// The graph, and the driver imports made outside the daemon.
fn read_src(src: &Path) -> (Graph, Vec<String>) {
    let mods = top_modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut graph = Graph::new();
    let mut driver_uses = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(src)
            .expect("under src/")
            .to_string_lossy()
            .into_owned();
        let top = rel
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs");
        let Some(code) = code(&f) else { continue };
        for p in crate_paths(&code) {
            let target = p.split("::").next().unwrap_or_default().to_string();
            if DRIVERS.contains(&p.as_str()) && target != top && !ROOTS.contains(&rel.as_str()) {
                driver_uses.push(format!("src/{rel} imports crate::{p}"));
            }
            if ROOTS.contains(&rel.as_str()) || target == top || !mods.contains(&target) {
                continue;
            }
            graph
                .entry(top.to_string())
                .or_default()
                .entry(target)
                .or_default()
                .insert(format!("src/{rel}"));
        }
    }
    (graph, driver_uses)
}

/// One cycle of the graph, as the modules on it, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        g: &Graph,
        v: &str,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(v.to_string(), Mark::Open);
        stack.push(v.to_string());
        for w in g.get(v).into_iter().flat_map(|m| m.keys()) {
            match marks.get(w) {
                Some(Mark::Open) => {
                    let from = stack.iter().position(|s| s == w).expect("on the stack");
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(w.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(g, w, marks, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(v.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for v in graph.keys() {
        if !marks.contains_key(v)
            && let Some(c) = visit(graph, v, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn describe(graph: &Graph, cycle: &[String]) -> String {
    cycle
        .windows(2)
        .map(|w| {
            let files: Vec<&str> = graph[&w[0]][&w[1]].iter().map(String::as_str).collect();
            format!("  {} -> {}  ({})", w[0], w[1], files.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let (graph, _) = read_src(&src());
    assert!(
        graph.contains_key("dhcp") && graph.contains_key("dns"),
        "the reader found the modules: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle between top-level modules of src/:\n{}",
            describe(&graph, &cycle)
        );
    }
}

#[test]
fn only_the_daemon_imports_the_task_drivers() {
    let (_, uses) = read_src(&src());
    assert!(uses.is_empty(), "{}", uses.join("\n"));
}

/// The reader itself: groups, nested groups, test modules and comments.
#[test]
fn the_reader_sees_grouped_paths_and_skips_tests_and_comments() {
    let paths = crate_paths(
        "use crate::{dhcp::{driver, Lease}, net::IfAddr, event};\nx(crate::dns::driver::f)",
    );
    assert_eq!(
        paths,
        [
            "dhcp::driver",
            "dhcp::Lease",
            "net::IfAddr",
            "event",
            "dns::driver"
        ]
    );
    let dir = std::env::temp_dir().join(format!("hamasq-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("a.rs");
    std::fs::write(
        &f,
        "// crate::b\nuse crate::c;\n#[cfg(test)]\nmod tests {\n    use crate::d;\n}\n",
    )
    .unwrap();
    let c = code(&f).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(crate_paths(&c), ["c"]);
    let mut g = Graph::new();
    let edge = |g: &mut Graph, a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("src/{a}.rs"));
    };
    edge(&mut g, "a", "b");
    edge(&mut g, "b", "c");
    assert_eq!(find_cycle(&g), None);
    edge(&mut g, "c", "a");
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
}
