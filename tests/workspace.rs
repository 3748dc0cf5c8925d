//! The workspace's shape, checked: what an embedder of the engine compiles, how large a source file may
//! grow, and that no two source files import each other round a circle. These hold the layout the README's
//! "Architecture" section describes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The packages `cargo tree` lists for the engine (normal dependencies, all of them), with
/// `extra` arguments such as `--no-default-features`.
fn engine_dependencies(extra: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(ROOT)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "psd2-fallback-engine",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .args(extra)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The features `cargo tree` shows enabled on `package` in the engine's tree.
fn engine_features_of(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(ROOT)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "psd2-fallback-engine",
            "-e",
            "normal,features",
            "--prefix",
            "none",
            "-i",
            package,
        ])
        .output()
        .expect("cargo runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{package} feature \"")))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_embedder_of_the_engine_compiles_no_server_stack_no_prometheus_and_no_sandbox() {
    let packages = engine_dependencies(&[]);
    assert!(
        packages.contains("reqwest"),
        "the tree was read: {packages:?}"
    );
    for unwanted in [
        "axum",
        "prometheus-client",
        "psd2-fallback-xs2a",
        "psd2-fallback-sandbox",
        "psd2-fallback-service",
    ] {
        assert!(
            !packages.contains(unwanted),
            "the engine depends on {unwanted}"
        );
    }
    let hyper = engine_features_of("hyper");
    assert!(
        hyper.contains("client"),
        "hyper's features were read: {hyper:?}"
    );
    assert!(
        !hyper.contains("server"),
        "the engine's hyper has a server: {hyper:?}"
    );
    assert!(
        packages.contains("libxml"),
        "schema validation is a default"
    );
    assert!(
        !packages.contains("tokio-postgres"),
        "an embedder with the SQLite journal compiles no PostgreSQL driver"
    );
    let with_postgres = engine_dependencies(&["--features", "postgres"]);
    for driver in ["tokio-postgres", "deadpool-postgres"] {
        assert!(
            with_postgres.contains(driver),
            "the feature `postgres` brings {driver}"
        );
    }
    let lean = engine_dependencies(&["--no-default-features"]);
    assert!(
        !lean.contains("libxml"),
        "without default features the engine needs no libxml2 (nor libclang)"
    );
}

/// Every Rust source file of the crates and the binary (not tests, benches or build output).
fn source_files() -> Vec<PathBuf> {
    let mut roots = vec![Path::new(ROOT).join("src")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("crates")).expect("crates/") {
        roots.push(entry.expect("an entry").path().join("src"));
    }
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                roots.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A file's text without its unit tests (`#[cfg(test)] mod tests { … }` at the end).
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    }
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let files = source_files();
    assert!(files.len() > 40, "the sources were found: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).expect("readable");
            let lines = without_tests(&text).lines().count();
            (lines > 1000).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "over 1,000 lines: {long:?}");
}

/// The module path of a source file inside its crate (`["screen", "driver"]` for
/// `src/screen/driver.rs`, `["screen"]` for `src/screen/mod.rs`, `[]` for `lib.rs`/`main.rs`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("inside src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Edges between a crate's files: file A → file B when A names an item through `crate::…` or
/// `super::…` that lives in B. A module naming its own ancestors (a child using its parent's types)
/// is the normal direction and is not an edge; everything else is.
fn import_edges(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files: Vec<PathBuf> = source_files()
        .into_iter()
        .filter(|f| f.starts_with(src))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let from = module_of(src, file);
        // Comments (doc links among them) name modules without importing them.
        let text: String = std::fs::read_to_string(file)
            .expect("readable")
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (at, _) in without_tests(&text).match_indices("crate::").chain(
            without_tests(&text)
                .match_indices("super::")
                .filter(|(at, _)| !text[..*at].ends_with("crate::")),
        ) {
            for path in paths_at(&text[at..]) {
                let target = resolve(&from, &path, &modules);
                if !from.starts_with(&target) && target != from {
                    edges.entry(from.clone()).or_default().insert(target);
                }
            }
        }
    }
    edges
}

/// The paths a `crate::…` or `super::…` reference at the start of `rest` names: one, or one per item
/// of a `{…}` group (`crate::{model::Iban, bank::Bank}`).
fn paths_at(rest: &str) -> Vec<Vec<String>> {
    let head: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let head: Vec<String> = head
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let after = &rest[rest
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == ':'))
        .map_or(rest.len(), |(i, _)| i)..];
    let Some(group) = after.strip_prefix('{') else {
        return vec![head];
    };
    let mut depth = 0;
    let mut items = vec![String::new()];
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(String::new()),
            _ => {}
        }
        if let Some(item) = items.last_mut() {
            item.push(c);
        }
    }
    items
        .iter()
        .map(|item| {
            let mut path = head.clone();
            path.extend(
                item.trim_start_matches(',')
                    .trim()
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
            path
        })
        .collect()
}

/// The deepest module file a path (`crate::a::b::Item`, `super::c::Item`) seen from `from` reaches.
fn resolve(from: &[String], path: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    let mut target: Vec<String> = if path.first().map(String::as_str) == Some("crate") {
        Vec::new()
    } else {
        // `super` in `a/b.rs` and in `a/b/mod.rs` (both the module `a::b`) is `a`.
        let mut base = from.to_vec();
        base.pop();
        base
    };
    for segment in path.iter().skip(1) {
        if segment == "super" {
            target.pop();
            continue;
        }
        let mut deeper = target.clone();
        deeper.push(segment.clone());
        if modules.contains(&deeper) {
            target = deeper;
        } else {
            break;
        }
    }
    target
}

/// A circle in the graph, if there is one, as the modules round it.
fn find_circle(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle: Vec<String> = path[start..].iter().map(|m| m.join("::")).collect();
            circle.push(node.join("::"));
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_source_files_import_each_other_round_a_circle() {
    let mut srcs = vec![Path::new(ROOT).join("src")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("crates")).expect("crates/") {
        srcs.push(entry.expect("an entry").path().join("src"));
    }
    let mut edges_seen = 0;
    for src in srcs {
        let edges = import_edges(&src);
        edges_seen += edges.values().map(BTreeSet::len).sum::<usize>();
        if let Some(circle) = find_circle(&edges) {
            panic!("{}: import circle {}", src.display(), circle.join(" -> "));
        }
    }
    assert!(edges_seen > 20, "imports were read: {edges_seen}");
}

#[test]
fn the_circle_check_finds_a_circle_between_siblings() {
    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    let mut edges = BTreeMap::new();
    edges.insert(a.clone(), BTreeSet::from([b.clone()]));
    assert_eq!(find_circle(&edges), None);
    edges.insert(b, BTreeSet::from([a]));
    assert_eq!(
        find_circle(&edges),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
}
