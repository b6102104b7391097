//! Source files and byte spans. Everything that points into a policy file uses a [`Span`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SourceId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub source: SourceId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Span {
            source,
            start: start as u32,
            end: end as u32,
        }
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    /// A sub-span at byte offsets relative to this span's start.
    pub fn sub(&self, start: usize, end: usize) -> Span {
        let s = (self.start as usize + start).min(self.end as usize);
        let e = (self.start as usize + end).clamp(s, self.end as usize);
        Span::new(self.source, s, e)
    }
}

/// One file of policy source.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Why the file could not be read, if it could not.
    pub unreadable: Option<String>,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The files of one policy set. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<Arc<SourceFile>>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> SourceId {
        let id = SourceId(self.files.len() as u32);
        self.files.push(Arc::new(SourceFile {
            path: path.into(),
            text: text.into(),
            unreadable: None,
        }));
        id
    }
    /// Records a file that could not be read, so the build can report it.
    pub fn add_unreadable(&mut self, path: impl Into<PathBuf>, why: &str) -> SourceId {
        let id = SourceId(self.files.len() as u32);
        self.files.push(Arc::new(SourceFile {
            path: path.into(),
            text: String::new(),
            unreadable: Some(why.to_string()),
        }));
        id
    }
    pub fn get(&self, id: SourceId) -> Option<&Arc<SourceFile>> {
        self.files.get(id.0 as usize)
    }
    pub fn files(&self) -> impl Iterator<Item = (SourceId, &Arc<SourceFile>)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (SourceId(i as u32), f))
    }
    pub fn path(&self, id: SourceId) -> &Path {
        self.get(id)
            .map_or(Path::new("<unknown>"), |f| f.path.as_path())
    }
    pub fn text(&self, span: Span) -> &str {
        self.get(span.source)
            .and_then(|f| f.text.get(span.start as usize..span.end as usize))
            .unwrap_or("")
    }
}
