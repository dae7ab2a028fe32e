//! A small Markdown report builder: headings, paragraphs, tables, code blocks and images linked by
//! paths relative to the report file.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// Column alignment of a [`Table`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Align {
    #[default]
    Left,
    Right,
    Center,
}

/// A Markdown table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    /// Per column; missing entries are left-aligned.
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            ..Table::default()
        }
    }
    pub fn with_align(mut self, align: Vec<Align>) -> Self {
        self.align = align;
        self
    }
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }

    /// The table as Markdown (a trailing newline included). Pipes and newlines in cells are escaped.
    pub fn to_markdown(&self) -> String {
        let cols = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0);
        let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for i in 0..cols {
                let _ = write!(s, " {} |", cell(cells.get(i).map_or("", String::as_str)));
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.headers);
        out.push('|');
        for i in 0..cols {
            out.push_str(match self.align.get(i).copied().unwrap_or_default() {
                Align::Left => "---|",
                Align::Right => "--:|",
                Align::Center => ":-:|",
            });
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// One piece of a [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Heading {
        level: usize,
        text: String,
    },
    Paragraph(String),
    /// An image; `path` is relative to the report's folder, with `/` separators.
    Image {
        alt: String,
        path: String,
    },
    Table(Table),
    Code {
        lang: String,
        text: String,
    },
    /// Markdown passed through unchanged.
    Raw(String),
}

/// A Markdown document, built block by block.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub blocks: Vec<Block>,
}

impl Report {
    /// A report starting with a level-1 heading.
    pub fn new(title: impl Into<String>) -> Self {
        let mut r = Report::default();
        r.heading(1, title);
        r
    }
    pub fn heading(&mut self, level: usize, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Heading {
            level: level.clamp(1, 6),
            text: text.into(),
        });
        self
    }
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }
    /// An image at `path`, relative to the report's folder.
    pub fn image(&mut self, alt: impl Into<String>, path: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Image {
            alt: alt.into(),
            path: path.into(),
        });
        self
    }
    pub fn table(&mut self, table: Table) -> &mut Self {
        self.blocks.push(Block::Table(table));
        self
    }
    pub fn code(&mut self, lang: impl Into<String>, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Code {
            lang: lang.into(),
            text: text.into(),
        });
        self
    }
    pub fn raw(&mut self, markdown: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Raw(markdown.into()));
        self
    }

    /// The document: blocks separated by blank lines, ending in one newline.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            if !out.is_empty() {
                out.push('\n');
            }
            match b {
                Block::Heading { level, text } => {
                    let _ = writeln!(out, "{} {}", "#".repeat(*level), text.trim());
                }
                Block::Paragraph(t) | Block::Raw(t) => {
                    out.push_str(t.trim_end());
                    out.push('\n');
                }
                Block::Image { alt, path } => {
                    let alt = alt.replace(['[', ']'], "");
                    let path = path.replace(' ', "%20").replace(['(', ')'], "");
                    let _ = writeln!(out, "![{alt}]({path})");
                }
                Block::Table(t) => out.push_str(&t.to_markdown()),
                Block::Code { lang, text } => {
                    let fence = if text.contains("```") { "````" } else { "```" };
                    let _ = writeln!(out, "{fence}{lang}\n{}\n{fence}", text.trim_end());
                }
            }
        }
        out
    }

    /// Write the document to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_markdown())
    }
}

/// `target` relative to the folder `base`, with `/` separators (for links in a report written in
/// `base`). Both are taken as given (not resolved against the file system); when they share no
/// prefix, `target` is returned as is.
pub fn relative_path(base: &Path, target: &Path) -> String {
    let b: Vec<Component> = base
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let t: Vec<Component> = target
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 && (base.is_absolute() || target.is_absolute()) {
        return slashes(target);
    }
    let mut p = PathBuf::new();
    for _ in common..b.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c.as_os_str());
    }
    slashes(&p)
}

fn slashes(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
