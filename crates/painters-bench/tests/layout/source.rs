//! A reader of Rust sources just deep enough for module graphs: identifiers and paths (comments,
//! strings and character literals skipped), `mod` declarations (files and inline), `use` trees,
//! and path expressions; a module's names are followed through its imports to where they come
//! from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside one crate: `[]` is the crate root, `["sweep", "glue"]` is `sweep::glue`.
pub type ModPath = Vec<String>;

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
pub struct ModuleInfo {
    /// Children declared with `mod x;` (files) or `mod x { … }` (inline).
    pub children: BTreeSet<String>,
    /// Names brought in by `use` (`X` of `use a::X`, or its `as` name) → the path they name.
    pub imports: BTreeMap<String, Vec<String>>,
    /// Every path this module writes (`use` trees expanded), with its first segment.
    pub paths: Vec<Vec<String>>,
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
pub fn scan_file(
    src: &str,
    base: &ModPath,
    mods: &mut BTreeMap<ModPath, ModuleInfo>,
) -> Vec<String> {
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
pub fn crate_modules(root: &Path) -> BTreeMap<ModPath, ModuleInfo> {
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
pub fn edges(mods: &BTreeMap<ModPath, ModuleInfo>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
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
pub fn cycles(g: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
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
