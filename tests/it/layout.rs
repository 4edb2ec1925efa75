//! The repository's layout rules: no tracked file refers to a path outside the repository
//! (a clone must be self-contained), and the dependency arrows between our crates point down
//! (`cargo metadata` against one table of allowed edges).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::support::workspace_root;

// ---------------------------------------------------------------------------------------
// Paths outside the repository
// ---------------------------------------------------------------------------------------

/// Top directories of absolute paths that can only be somebody's checkout or home
/// directory (`/NAME/...`; written without slashes so this file does not trip its own check).
const CHECKOUT_TOPS: &[&str] = &["work", "home", "root", "Users"];

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

/// Resolves the relative path `token` from the directory `base` (relative to the root, ""
/// for the root): `Some(path relative to the root)`, or `None` when it climbs above the
/// root. `token` may start with `/` when it continues an expression
/// (`concat!(env!("CARGO_MANIFEST_DIR"), "/../x")`, `"$(dirname "$0")/.."`).
fn resolve(token: &str, base: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for seg in token.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// What in `line` of the tracked file `file` (relative to the root) points outside the
/// repository.
///
/// A relative path with `..` segments is read from the file's own directory
/// (`include_bytes!`, Markdown links, shell scripts) and from its package's directory
/// (`CARGO_MANIFEST_DIR`, `package_dir`). When one of these readings names a path that
/// exists in the repository (`exists`), the path is fine; otherwise it is reported when a
/// reading climbs above the root. Absolute paths into a checkout or a home directory are
/// always reported.
fn outside_refs(
    file: &str,
    package_dir: Option<&str>,
    line: &str,
    exists: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut found = Vec::new();
    let file_dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    let mut bases = vec![file_dir];
    bases.extend(package_dir);
    // Relative paths: maximal runs of path characters with a `/` and a `..` segment.
    for token in line.split(|c: char| !is_path_char(c)) {
        if !token.contains('/') || !token.split('/').any(|s| s == "..") {
            continue;
        }
        let first = token.split('/').find(|s| !s.is_empty()).unwrap_or("");
        if token.starts_with('/') && first != ".." && first != "." {
            continue; // an absolute path such as /usr/../x: judged below, if at all
        }
        // A sentence's full stop is not part of the path.
        let path = match token.rsplit_once('/') {
            Some((_, last)) if last != ".." && last != "." => token.trim_end_matches('.'),
            _ => token,
        };
        let readings: Vec<Option<String>> = bases.iter().map(|b| resolve(path, b)).collect();
        let names_a_file = readings.iter().flatten().any(|r| exists(r));
        if !names_a_file && readings.iter().any(Option::is_none) {
            found.push(format!("{token:?} climbs above the repository root"));
        }
    }
    // Absolute paths into a checkout or a home directory.
    let prefixes = CHECKOUT_TOPS
        .iter()
        .map(|top| format!("/{top}/"))
        .chain(["C:\\Users\\".to_string()]);
    for prefix in prefixes {
        for (at, _) in line.match_indices(&prefix) {
            let before = line[..at].chars().next_back();
            if before.is_some_and(is_path_char) {
                continue;
            }
            let rest: String = line[at..]
                .chars()
                .take_while(|&c| is_path_char(c) || c == '\\')
                .collect();
            found.push(format!(
                "{rest:?} is an absolute path outside the repository"
            ));
        }
    }
    found
}

/// The repository's tracked files, relative to the root.
fn tracked_files(root: &Path) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("running git ls-files (the layout test needs git and a clone)");
    assert!(
        out.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// The directory of the package a file belongs to (the nearest directory above it with a
/// `Cargo.toml`, the root's virtual manifest excepted).
fn package_dir<'a>(file: &str, packages: &'a BTreeSet<String>) -> Option<&'a str> {
    packages
        .iter()
        .filter(|p| file.starts_with(&format!("{p}/")))
        .max_by_key(|p| p.len())
        .map(String::as_str)
}

#[test]
fn no_tracked_file_refers_to_a_path_outside_the_repository() {
    let root = workspace_root();
    let files = tracked_files(&root);
    assert!(
        files.iter().any(|f| f == "README.md"),
        "git ls-files listed no README.md under {}",
        root.display()
    );
    let packages: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.strip_suffix("/Cargo.toml").map(str::to_string))
        .collect();
    let tracked: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    // A tracked file, or a directory holding one.
    let exists = |p: &str| {
        p.is_empty()
            || tracked.contains(p)
            || tracked
                .range(format!("{p}/").as_str()..)
                .next()
                .is_some_and(|f| f.starts_with(&format!("{p}/")))
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Ok(bytes) = std::fs::read(root.join(file)) else {
            continue; // deleted in the working tree, not yet committed
        };
        if bytes.contains(&0) {
            continue; // binary (DER, PNG, ...)
        }
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        checked += 1;
        let pkg = package_dir(file, &packages);
        for (n, line) in text.lines().enumerate() {
            for what in outside_refs(file, pkg, line, &exists) {
                problems.push(format!("{file}:{}: {what}", n + 1));
            }
        }
    }
    println!("checked {checked} tracked text files of {}", files.len());
    assert!(checked > 50, "only {checked} text files checked");
    assert!(
        problems.is_empty(),
        "tracked files refer to paths outside the repository (copy what is needed into \
         the repository and refer to it there):\n  {}",
        problems.join("\n  ")
    );
}

/// The relative link targets of the Markdown `text` (`[text](target)`), without anchors;
/// web, mail and in-page links left out.
fn markdown_links(text: &str) -> Vec<&str> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split([')', ' ']).next())
        .filter(|t| !t.is_empty() && !t.starts_with('#') && !t.contains("://"))
        .filter(|t| !t.starts_with("mailto:"))
        .map(|t| t.split('#').next().unwrap_or(t))
        .collect()
}

#[test]
fn markdown_links_name_files_in_the_repository() {
    let root = workspace_root();
    let files = tracked_files(&root);
    let mut broken = Vec::new();
    let mut seen = 0;
    for file in files.iter().filter(|f| f.ends_with(".md")) {
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        for target in markdown_links(&text) {
            seen += 1;
            let ok = resolve(target, dir).is_some_and(|p| root.join(p).exists());
            if !ok {
                broken.push(format!("{file}: ({target})"));
            }
        }
    }
    assert!(seen > 0, "no Markdown links found at all");
    assert!(
        broken.is_empty(),
        "links to files that are not in the repository:\n  {}",
        broken.join("\n  ")
    );
    assert_eq!(
        markdown_links("[a](docs/A.md) [b](https://x.y/z) [c](#top) [d](../x.md#s)"),
        ["docs/A.md", "../x.md"]
    );
}

#[test]
fn the_outside_path_detector_catches_what_it_must_and_nothing_else() {
    // Built at run time so this file does not trip its own check.
    let up = |s: &str| s.replace("UP", "..");
    let repo = [
        "README.md",
        "keys/alice-sign.key.pem",
        "web/static/console.css",
        "crates/pki/tests/vectors/PKITS/certs/GoodCACert.crt",
    ];
    let exists = |p: &str| {
        p.is_empty()
            || repo
                .iter()
                .any(|f| *f == p || f.starts_with(&format!("{p}/")))
    };
    let must_catch = [
        // The vectors path the pki tests used to read, relative to CARGO_MANIFEST_DIR, on
        // one line and continued from the line before.
        (
            "crates/pki/tests/it/verify.rs",
            up(
                r#"const P: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/UP/UP/UP/shared/vectors");"#,
            ),
        ),
        (
            "crates/pki/tests/it/certificates.rs",
            up(r#"        .join("UP/UP/UP/shared/vectors/PKITS/certs");"#),
        ),
        // The README's old link to the design.
        (
            "README.md",
            up("`UP/shared/design.md` (in the steering repository) is the design"),
        ),
        (
            "docs/ARCHITECTURE.md",
            up("see [the design](UP/UP/shared/design.md)"),
        ),
        (
            "web/tests/x.mjs",
            up("import x from 'UP/UP/UP/elsewhere/x.mjs';"),
        ),
        (".ci/run", up(r#"cd "$(dirname "$0")/UP/UP""#)),
        (
            "crates/kmsctl/src/main.rs",
            format!("let p = \"/{}/alice/kms/keys\";", "home"),
        ),
        ("README.md", format!("cp /{}/shared/vectors/x .", "work")),
        ("README.md", format!("(/{}/.cargo/bin)", "root")),
    ];
    for (file, line) in &must_catch {
        let pkg = file
            .strip_prefix("crates/")
            .and_then(|r| r.split_once('/'))
            .map(|(c, _)| format!("crates/{c}"));
        let found = outside_refs(file, pkg.as_deref(), line, &exists);
        assert_eq!(found.len(), 1, "{file}: {line}: {found:?}");
    }
    let must_pass = [
        (
            "crates/server/tests/it/main.rs",
            Some("crates/server"),
            up(r#"Path::new(env!("CARGO_MANIFEST_DIR")).join("UP/UP/keys")"#),
        ),
        // Relative to the file itself (include_bytes!), climbing from the package's directory.
        (
            "crates/pki/src/keys.rs",
            Some("crates/pki"),
            up(r#"include_bytes!("UP/UP/UP/keys/alice-sign.key.pem")"#),
        ),
        (
            "crates/server/src/console/mod.rs",
            Some("crates/server"),
            up(r#"include_str!("UP/UP/UP/UP/web/static/console.css")"#),
        ),
        (
            "crates/server/tests/it/main.rs",
            Some("crates/server"),
            up(r#"let escape = format!("{}/UP/escrow.db", dir.display());"#),
        ),
        (".ci/run", None, up(r#"cd "$(dirname "$0")/UP""#)),
        (
            "crates/pki/src/x.rs",
            Some("crates/pki"),
            "let a = &v[..]; for i in 0..10 {} Config { ..Default::default() }".to_string(),
        ),
        (
            "tests/it/console_browser.rs",
            Some("tests"),
            "const CHROMIUM: &str = \"/usr/bin/chromium\"; // network/work/home".to_string(),
        ),
        (
            "docs/ARCHITECTURE.md",
            None,
            up("[the README](UP/README.md)."),
        ),
    ];
    for (file, pkg, line) in &must_pass {
        let found = outside_refs(file, *pkg, line, &exists);
        assert!(found.is_empty(), "{file}: {line}: {found:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Dependency arrows
// ---------------------------------------------------------------------------------------

/// Our crates (by directory: `crates/NAME`, and `tests` for this package) and the crates of
/// ours each may depend on. Arrows point down: pki and escrow at the bottom, authority above
/// them, the server on top; the wire types (`api`) are shared by the server, kmsctl and the
/// client, and kmsctl speaks HTTP only. Normal and build dependencies are checked, and the
/// dev-dependencies of every crate but the tests package, whose dev-dependencies may be
/// anything (it depends on nothing at run time).
const ALLOWED: &[(&str, &[&str])] = &[
    ("pki", &[]),
    // db: the storage layer over SQLite and PostgreSQL; depends on none of our crates.
    ("db", &[]),
    ("escrow", &["db"]),
    ("authority", &["escrow", "pki", "db"]),
    // hsm: the CA key on a PKCS#11 token, a pki::SigningKey.
    ("hsm", &["pki"]),
    ("api", &["pki"]),
    // server -> hsm: kmsd opens the CA key on the token ([ca_key]) and hands it to the
    // authority as a pki::SigningKey (the authority itself needs no PKCS#11).
    // server -> db: kmsd reads where the database is (kmsd.toml's database, --database) and
    // hands the configuration down.
    (
        "server",
        &["authority", "escrow", "pki", "api", "hsm", "db"],
    ),
    ("kmsctl", &["api"]),
    ("client", &["pki", "api"]),
    // fuzz/targets: the fuzz targets' bodies, over every parser that takes outside input.
    ("targets", &["pki", "escrow", "client"]),
    ("tests", &[]),
];

/// The package exempt from the table for its dev-dependencies.
const TESTS_PACKAGE_DIR: &str = "tests";

/// Edges of `cargo metadata --no-deps` output that the table does not allow, and packages
/// it does not know, described for the failure message.
fn bad_edges(metadata: &Value) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    // Package name -> directory name (the key of the table).
    let dir_of: BTreeMap<String, String> = packages
        .iter()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            let manifest = Path::new(p["manifest_path"].as_str()?);
            let dir = manifest.parent()?.file_name()?.to_str()?;
            Some((name.to_string(), dir.to_string()))
        })
        .collect();
    let mut bad = Vec::new();
    for p in &packages {
        let name = p["name"].as_str().unwrap_or("?");
        let from = dir_of.get(name).map_or("?", String::as_str);
        let Some(ok) = allowed.get(from) else {
            bad.push(format!(
                "package {name} ({from}/) is not in the table of allowed edges (tests/it/layout.rs)"
            ));
            continue;
        };
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or("?");
            let Some(to) = dir_of.get(dep) else {
                continue; // not ours
            };
            let kind = d["kind"].as_str().unwrap_or("normal");
            if from == TESTS_PACKAGE_DIR && kind == "dev" {
                continue;
            }
            // A crate's dev-dependency on itself (to switch on its own `testing` feature in
            // its integration tests, as `db` and `hsm` do) is not an arrow between crates.
            if to == from && kind == "dev" {
                continue;
            }
            if !ok.contains(&to.as_str()) {
                bad.push(format!(
                    "{name} ({from}) -> {dep} ({to}), a {kind} dependency: {from} may depend on {}",
                    if ok.is_empty() {
                        "none of our crates".to_string()
                    } else {
                        ok.join(", ")
                    }
                ));
            }
        }
    }
    bad
}

fn cargo_metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
}

#[test]
fn dependency_arrows_between_our_crates_point_down() {
    let metadata = cargo_metadata();
    let names: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for expected in [
        "pki",
        "escrow",
        "authority",
        "kmsd",
        "kmsctl",
        "client",
        "kms-tests",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let bad = bad_edges(&metadata);
    assert!(
        bad.is_empty(),
        "dependencies that point the wrong way:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn the_edge_check_names_an_upward_edge_and_an_unknown_package() {
    let package = |name: &str, dir: &str, deps: &[(&str, Option<&str>)]| {
        serde_json::json!({
            "name": name,
            "manifest_path": format!("/repo/{dir}/Cargo.toml"),
            "dependencies": deps
                .iter()
                .map(|(n, kind)| serde_json::json!({"name": n, "kind": kind}))
                .collect::<Vec<_>>(),
        })
    };
    let good = serde_json::json!({"packages": [
        package("pki", "crates/pki", &[("der", None)]),
        package("authority", "crates/authority", &[("pki", None), ("escrow", None)]),
        // A dev-dependency on itself, for a feature of its own tests.
        package("escrow", "crates/escrow", &[("escrow", Some("dev"))]),
        package("kms-tests", "tests", &[("authority", Some("dev"))]),
    ]});
    assert_eq!(bad_edges(&good), Vec::<String>::new());
    let bad = serde_json::json!({"packages": [
        package("pki", "crates/pki", &[("authority", Some("build"))]),
        package("authority", "crates/authority", &[("pki", None)]),
        package("escrow", "crates/escrow", &[("authority", Some("dev"))]),
        package("kms-tests", "tests", &[("pki", None)]),
        package("newcomer", "crates/newcomer", &[]),
    ]});
    let found = bad_edges(&bad);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(
        found[0].starts_with("pki (pki) -> authority (authority), a build"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("escrow (escrow) -> authority (authority), a dev"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("kms-tests (tests) -> pki (pki), a normal"),
        "{found:?}"
    );
    assert!(found[3].contains("newcomer"), "{found:?}");
}
