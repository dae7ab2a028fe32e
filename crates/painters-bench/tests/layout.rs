//! The workspace's layout (docs/architecture.md): no crate under `crates/` has a module import
//! cycle, the harness's modules depend on each other one way, bottom to top, no command of the
//! CLI uses another, no source file is over 800 lines, and no CLI function over 150.
//!
//! `cargo modules dependencies --acyclic` would say the same but takes long to build; this reads
//! the sources itself (std only). Every `use` and every path expression that starts with `crate::`,
//! `super::`, `self::` or a child module's name is an edge from the module it is written in to the
//! module it names. A name that a module imports (`use a::X`, `pub use a::X`) is followed to the
//! module it comes from, so a facade's re-exports are no edges of their own to whoever reads
//! through them. Declaring a child (`mod x;`) is ownership, not an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside one crate: `[]` is the crate root, `["sweep", "glue"]` is `sweep::glue`.
type ModPath = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Identifiers and punctuation of Rust source, comments, strings and character literals removed.
fn tokens(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 1;
            i += 2;
            while i < c.len() && depth > 0 {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
        } else if (ch == 'r' || ch == 'b') && raw_string_start(&c, i).is_some() {
            let (hashes, open) = raw_string_start(&c, i).unwrap_or((0, i));
            i = open + 1;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    i += hashes + 1;
                    break;
                }
                i += 1;
            }
        } else if ch == 'b' && next == Some('"') {
            i = skip_string(&c, i + 2);
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Sep);
            i += 2;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // `r#ident`
            match word.as_str() {
                "r" if c.get(i) == Some(&'#') => i += 1,
                _ => out.push(Tok::Ident(word)),
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                if c[i] == '.' && !c.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                    break;
                }
                i += 1;
            }
        } else {
            if !ch.is_whitespace() {
                out.push(Tok::Punct(ch));
            }
            i += 1;
        }
    }
    out
}

/// The index after the closing quote of a string whose body starts at `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// At `r"`, `r#"`, `br"`, `br#"`…: the number of hashes and the index of the opening quote.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    // Not the tail of an identifier (`bar"` cannot occur, but `for r in` can be followed by `"`? no).
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, j))
}

/// What one module's source says.
#[derive(Default, Debug)]
struct ModuleInfo {
    /// Children declared with `mod x;` (files) or `mod x { … }` (inline).
    children: BTreeSet<String>,
    /// Names brought in by `use` (`X` of `use a::X`, or its `as` name) → the path they name.
    imports: BTreeMap<String, Vec<String>>,
    /// Every path this module writes (`use` trees expanded), with its first segment.
    paths: Vec<Vec<String>>,
}

/// Expand one `use` tree starting at `toks[i]` into full paths; returns the index after it.
fn use_tree(
    toks: &[Tok],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>)>,
) -> usize {
    let mut path = prefix.to_vec();
    if toks.get(i) == Some(&Tok::Sep) {
        i += 1;
    }
    loop {
        match toks.get(i) {
            Some(Tok::Ident(w)) => {
                path.push(w.clone());
                i += 1;
                match toks.get(i) {
                    Some(Tok::Sep) => i += 1,
                    Some(Tok::Ident(a)) if a == "as" => {
                        let alias = match toks.get(i + 1) {
                            Some(Tok::Ident(n)) => Some(n.clone()),
                            _ => None,
                        };
                        out.push((path, alias));
                        return i + 2;
                    }
                    _ => {
                        out.push((path, None));
                        return i;
                    }
                }
            }
            Some(Tok::Punct('*')) => {
                path.push("*".into());
                out.push((path, None));
                return i + 1;
            }
            Some(Tok::Punct('{')) => {
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Punct('}')) => return i + 1,
                        Some(Tok::Punct(',')) => i += 1,
                        None => return i,
                        _ => i = use_tree(toks, i, &path, out),
                    }
                }
            }
            _ => return i,
        }
    }
}

/// One source file's modules: the file's own (`base`) and its inline ones, with what each writes.
fn scan_file(src: &str, base: &ModPath, mods: &mut BTreeMap<ModPath, ModuleInfo>) -> Vec<String> {
    let toks = tokens(src);
    let mut file_children = Vec::new();
    // Inline modules open at a brace depth: (module path, depth at which its body closes).
    let mut stack: Vec<(ModPath, usize)> = vec![(base.clone(), 0)];
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let here = stack.last().map_or(base.clone(), |s| s.0.clone());
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if stack.len() > 1 && stack.last().is_some_and(|s| s.1 == depth) {
                    stack.pop();
                }
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => match (toks.get(i + 1), toks.get(i + 2)) {
                (Some(Tok::Ident(name)), Some(Tok::Punct(';'))) => {
                    mods.entry(here.clone())
                        .or_default()
                        .children
                        .insert(name.clone());
                    if here == *base {
                        file_children.push(name.clone());
                    }
                    i += 3;
                }
                (Some(Tok::Ident(name)), Some(Tok::Punct('{'))) => {
                    mods.entry(here.clone())
                        .or_default()
                        .children
                        .insert(name.clone());
                    let mut child = here.clone();
                    child.push(name.clone());
                    mods.entry(child.clone()).or_default();
                    stack.push((child, depth));
                    depth += 1;
                    i += 3;
                }
                _ => i += 1,
            },
            Tok::Ident(w) if w == "use" && toks.get(i + 1) != Some(&Tok::Punct('<')) => {
                let mut trees = Vec::new();
                i = use_tree(&toks, i + 1, &[], &mut trees);
                let info = mods.entry(here).or_default();
                for (path, alias) in trees {
                    let Some(last) = path.last() else { continue };
                    if last != "*" {
                        let name = match (alias, last.as_str()) {
                            (Some(a), _) => a,
                            (None, "self") => path
                                .get(path.len().saturating_sub(2))
                                .cloned()
                                .unwrap_or_default(),
                            (None, _) => last.clone(),
                        };
                        let target: Vec<String> = path
                            .iter()
                            .filter(|s| *s != "self" || path.len() == 1)
                            .cloned()
                            .collect();
                        info.imports.insert(name, target);
                    }
                    info.paths.push(path);
                }
            }
            Tok::Ident(w)
                if toks.get(i + 1) == Some(&Tok::Sep) && (i == 0 || toks[i - 1] != Tok::Sep) =>
            {
                // A path expression `w::a::b`.
                let mut path = vec![w.clone()];
                let mut j = i + 1;
                while toks.get(j) == Some(&Tok::Sep) {
                    match toks.get(j + 1) {
                        Some(Tok::Ident(s)) => {
                            path.push(s.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                mods.entry(here).or_default().paths.push(path);
                i = j;
            }
            _ => i += 1,
        }
    }
    file_children
}

/// Every module of the crate whose root file is `root`.
fn crate_modules(root: &Path) -> BTreeMap<ModPath, ModuleInfo> {
    let mut mods = BTreeMap::new();
    let mut todo: Vec<(PathBuf, ModPath)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((file, path)) = todo.pop() {
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        mods.entry(path.clone()).or_default();
        let children = scan_file(&src, &path, &mut mods);
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let dir = match (path.is_empty(), stem) {
            (true, _) | (false, "mod") => file.parent().map(Path::to_path_buf),
            _ => file.parent().map(|p| p.join(stem)),
        }
        .unwrap_or_default();
        for child in children {
            let flat = dir.join(format!("{child}.rs"));
            let nested = dir.join(&child).join("mod.rs");
            let f = if flat.is_file() { flat } else { nested };
            assert!(
                f.is_file(),
                "{}: `mod {child};` has no file",
                file.display()
            );
            let mut p = path.clone();
            p.push(child);
            todo.push((f, p));
        }
    }
    mods
}

/// The module `path` (written in module `from`) names, following imported names to where they
/// come from; `None` for another crate's path or a local item.
fn resolve(
    mods: &BTreeMap<ModPath, ModuleInfo>,
    from: &ModPath,
    path: &[String],
    hops: usize,
) -> Option<ModPath> {
    let first = path.first()?;
    let (mut at, rest): (ModPath, &[String]) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (from.clone(), &path[1..]),
        "super" => {
            let mut at = from.clone();
            let mut k = 0;
            while path.get(k).is_some_and(|s| s == "super") {
                at.pop();
                k += 1;
            }
            (at, &path[k..])
        }
        child if mods.get(from).is_some_and(|m| m.children.contains(child)) => {
            let mut at = from.clone();
            at.push(child.to_string());
            (at, &path[1..])
        }
        _ => return None,
    };
    let mut k = 0;
    while let Some(seg) = rest.get(k) {
        match mods.get(&at) {
            Some(m) if m.children.contains(seg) => {
                at.push(seg.clone());
                k += 1;
            }
            Some(m) if hops < 8 => {
                if let Some(target) = m.imports.get(seg) {
                    // `use a::X` brought X into `at`: the path goes on from where X comes from.
                    let mut next = target.clone();
                    next.extend(rest[k + 1..].iter().cloned());
                    if let Some(r) = resolve(mods, &at, &next, hops + 1) {
                        return Some(r);
                    }
                }
                return Some(at);
            }
            _ => return Some(at),
        }
    }
    Some(at)
}

/// Module → the modules it uses (self-edges and edges into its own inline test modules left out).
fn edges(mods: &BTreeMap<ModPath, ModuleInfo>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let mut g: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (m, info) in mods {
        let set = g.entry(m.clone()).or_default();
        for p in &info.paths {
            if let Some(t) = resolve(mods, m, p, 0)
                && t != *m
            {
                set.insert(t);
            }
        }
    }
    g
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(g: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct St<'a> {
        g: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        on: BTreeSet<&'a ModPath>,
        stack: Vec<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut St<'a>, v: &'a ModPath) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let Some((w, _)) = g.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = St {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on: BTreeSet::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every crate root under `crates/*/src` (`lib.rs`, `main.rs`), by crate folder.
fn crate_roots() -> Vec<(String, PathBuf)> {
    let mut roots = Vec::new();
    let dir = workspace().join("crates");
    let mut crates: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    for c in crates {
        let krate = c
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for root in ["lib.rs", "main.rs"] {
            let f = c.join("src").join(root);
            if f.is_file() {
                roots.push((format!("{krate} ({root})"), f));
            }
        }
    }
    roots
}

/// Cycles known when this test was written, in crates being rewritten elsewhere: (crate, the
/// modules of the cycle, sorted). A cycle found and not listed fails the test, and so does a listed
/// one that is gone (delete its line).
const KNOWN_CYCLES: &[(&str, &[&str])] = &[
    ("painters-llama (lib.rs)", &["gguf", "gguf::llama"]),
    ("painters-llama (lib.rs)", &["model", "model::batched"]),
];

#[test]
fn no_crate_has_a_module_import_cycle() {
    let roots = crate_roots();
    assert!(roots.len() >= 5, "found only {roots:?}");
    let mut found = Vec::new();
    let mut known_seen = BTreeSet::new();
    for (krate, root) in &roots {
        let mods = crate_modules(root);
        let g = edges(&mods);
        for comp in cycles(&g) {
            let names: Vec<String> = comp.iter().map(name).collect();
            if let Some(k) = KNOWN_CYCLES.iter().position(|(c, m)| {
                c == krate && m.iter().copied().eq(names.iter().map(String::as_str))
            }) {
                known_seen.insert(k);
                continue;
            }
            let detail: Vec<String> = comp
                .iter()
                .flat_map(|a| {
                    g[a].iter()
                        .filter(|b| comp.contains(b))
                        .map(move |b| format!("{} -> {}", name(a), name(b)))
                })
                .collect();
            found.push(format!("{krate}: {}", detail.join(", ")));
        }
    }
    assert!(
        found.is_empty(),
        "module import cycles:\n{}",
        found.join("\n")
    );
    let gone: Vec<String> = (0..KNOWN_CYCLES.len())
        .filter(|k| !known_seen.contains(k))
        .map(|k| format!("{:?}", KNOWN_CYCLES[k]))
        .collect();
    assert!(
        gone.is_empty(),
        "these known cycles are gone; delete them from KNOWN_CYCLES: {}",
        gone.join(", ")
    );
}

/// The harness's layers, bottom to top (docs/architecture.md). A module may use its own layer and
/// the layers below it, never one above.
const HARNESS_LAYERS: &[&[&str]] = &[
    // Foundations: files written whole, the journal, devices, model files and hub downloads,
    // schedules as users name them.
    &["io", "device", "hub", "models", "schedules"],
    // Language-model adapters and how lm-eval's requests run on them.
    &["lm", "requests", "batching"],
    // Tasks and metrics: lm-eval tasks, GLUE data, metrics and fine-tuning.
    &["score", "tasks", "glue"],
    // Evaluation runs: one task or a whole resumable run, layer analysis, conformance, timings.
    &["eval", "analysis", "conformance", "perf"],
    // Sweeps: many schedules, stored results, shards.
    &["sweep"],
    // Reports and plots.
    &["report"],
    // Entry points that chain layers for one command.
    &["jobs"],
];

#[test]
fn harness_layers_depend_one_way() {
    let root = workspace().join("crates/painters-bench/src/lib.rs");
    let mods = crate_modules(&root);
    let layer_of = |m: &str| HARNESS_LAYERS.iter().position(|l| l.contains(&m));
    let top: BTreeSet<&String> = mods.keys().filter_map(|m| m.first()).collect();
    let unplaced: Vec<&&String> = top.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer of HARNESS_LAYERS (add them where they belong): {unplaced:?}"
    );
    let mut upward = Vec::new();
    for (from, to) in edges(&mods)
        .iter()
        .flat_map(|(a, bs)| bs.iter().map(move |b| (a, b)))
    {
        let (Some(a), Some(b)) = (from.first(), to.first()) else {
            continue;
        };
        if let (Some(la), Some(lb)) = (layer_of(a), layer_of(b))
            && lb > la
        {
            upward.push(format!("{} -> {}", name(from), name(to)));
        }
    }
    assert!(
        upward.is_empty(),
        "uses of a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn commands_use_no_other_command() {
    let root = workspace().join("crates/painters-cli/src/main.rs");
    let mods = crate_modules(&root);
    let mut crossing = Vec::new();
    for (from, tos) in edges(&mods) {
        for to in tos {
            if from.first().is_some_and(|m| m == "commands")
                && to.first().is_some_and(|m| m == "commands")
                && from.get(1).is_some()
                && to.get(1).is_some()
                && from.get(1) != to.get(1)
            {
                crossing.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(
        crossing.is_empty(),
        "a command uses another (share through args, error or output instead): {crossing:?}"
    );
}

#[test]
fn the_reader_sees_uses_paths_and_imports() {
    let src = r#"
        //! crate::doc::comment is no path
        mod a;
        pub mod b { pub use super::a::X; }
        use crate::{c::{self, D}, e as f};
        fn g() { let s = "crate::string::literal"; let _ = 'x'; c::h(); }
        #[cfg(test)]
        mod tests { use super::*; }
    "#;
    let mut mods = BTreeMap::new();
    let children = scan_file(src, &Vec::new(), &mut mods);
    assert_eq!(children, vec!["a".to_string()]);
    let root = &mods[&Vec::<String>::new()];
    assert!(root.children.contains("b") && root.children.contains("tests"));
    assert_eq!(root.imports["D"], vec!["crate", "c", "D"]);
    assert_eq!(root.imports["f"], vec!["crate", "e"]);
    assert_eq!(root.imports["c"], vec!["crate", "c"]);
    assert!(
        root.paths
            .iter()
            .all(|p| p.first().is_none_or(|s| s != "doc" && s != "string"))
    );
    assert!(root.paths.contains(&vec!["c".to_string(), "h".to_string()]));
    let b = &mods[&vec!["b".to_string()]];
    assert_eq!(b.imports["X"], vec!["super", "a", "X"]);
    let tests = &mods[&vec!["tests".to_string()]];
    assert_eq!(
        tests.paths,
        vec![vec!["super".to_string(), "*".to_string()]]
    );
}

#[test]
fn a_cycle_through_a_re_export_is_found() {
    // `a` uses `b::Y`; `b` uses `X`, which the root re-exports from `a`.
    let mut mods = BTreeMap::new();
    scan_file("mod a; mod b; pub use a::X;", &Vec::new(), &mut mods);
    scan_file("use crate::b::Y;", &vec!["a".to_string()], &mut mods);
    scan_file("use crate::X;", &vec!["b".to_string()], &mut mods);
    let found = cycles(&edges(&mods));
    assert_eq!(
        found,
        vec![vec![vec!["a".to_string()], vec!["b".to_string()]]]
    );
    // Without the back edge there is none.
    let mut mods = BTreeMap::new();
    scan_file("mod a; mod b; pub use a::X;", &Vec::new(), &mut mods);
    scan_file("use crate::b::Y;", &vec!["a".to_string()], &mut mods);
    scan_file("", &vec!["b".to_string()], &mut mods);
    assert!(cycles(&edges(&mods)).is_empty());
}

/// Every `.rs` file under `crates/*/src`, relative to the workspace.
fn source_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for (_, root) in crate_roots() {
        if let Some(src) = root.parent()
            && !files.iter().any(|f: &PathBuf| f.starts_with(src))
        {
            walk(src, &mut files);
        }
    }
    files.sort();
    files
}

/// Files over the limit when this test was written, in a crate being rewritten elsewhere. A file
/// listed here that is back under the limit fails the test (delete its line).
const KNOWN_LONG_FILES: &[&str] = &["crates/painters-llama/src/gguf.rs"];

#[test]
fn no_source_file_is_over_800_lines() {
    let ws = workspace();
    let mut long = Vec::new();
    let mut known_ok = Vec::new();
    for f in source_files() {
        let lines = std::fs::read_to_string(&f).map_or(0, |s| s.lines().count());
        let rel = f
            .strip_prefix(&ws)
            .map_or_else(|_| f.display().to_string(), |r| r.display().to_string());
        let known = KNOWN_LONG_FILES.contains(&rel.as_str());
        match (lines > 800, known) {
            (true, false) => long.push(format!("{rel}: {lines} lines")),
            (false, true) => known_ok.push(rel),
            _ => {}
        }
    }
    assert!(
        long.is_empty(),
        "split these (one concern per file): {long:?}"
    );
    assert!(
        known_ok.is_empty(),
        "these are 800 lines or fewer now; delete them from KNOWN_LONG_FILES: {known_ok:?}"
    );
}

/// The longest function of rustfmt-formatted `src`: (name, lines from `fn` to its closing brace).
fn longest_fn(src: &str) -> Option<(String, usize)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut best: Option<(String, usize)> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let sig = t
            .strip_prefix("pub ")
            .or_else(|| t.strip_prefix("pub(crate) "))
            .unwrap_or(t);
        let Some(rest) = sig.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(end) = lines[i..].iter().position(|l| *l == close) {
            if best.as_ref().is_none_or(|(_, n)| end + 1 > *n) {
                best = Some((name, end + 1));
            }
        }
    }
    best
}

#[test]
fn no_cli_function_is_over_150_lines() {
    let cli = workspace().join("crates/painters-cli/src");
    let mut long = Vec::new();
    for f in source_files().into_iter().filter(|f| f.starts_with(&cli)) {
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        if let Some((name, n)) = longest_fn(&src)
            && n > 150
        {
            long.push(format!("{}: fn {name}: {n} lines", f.display()));
        }
    }
    assert!(
        long.is_empty(),
        "commands parse, call the library and map errors; move the work into painters-bench: {long:?}"
    );
    let (name, n) = longest_fn("fn a() {\n    x;\n}\n\npub fn b() {\n    y;\n    z;\n}\n").unwrap();
    assert_eq!((name.as_str(), n), ("b", 4));
}
