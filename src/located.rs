//! A problem at a place in a text file: one diagnostic type for rule files, config files and
//! manifests, so each points at the offending bytes the same way (cargo-deny style).

use std::fmt;
use std::ops::Range;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

/// Which kind of file is wrong: sets the diagnostic's code and where its format is documented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A rule file (`rules/*.toml`, `--rules FILE`).
    RuleFile,
    /// A config file (`optml.toml`, `[tool.optml]` in pyproject.toml).
    Config,
    /// A manifest or snapshot config.
    Manifest,
}

impl FileKind {
    fn code(self) -> &'static str {
        match self {
            FileKind::RuleFile => "optml::rule_file",
            FileKind::Config => "optml::config",
            FileKind::Manifest => "optml::manifest",
        }
    }

    fn url(self) -> Option<&'static str> {
        match self {
            FileKind::RuleFile => None,
            FileKind::Config => Some("docs/configuration.md"),
            FileKind::Manifest => Some("docs/snapshots.md"),
        }
    }
}

/// One thing wrong at `span` of `file`, rendered `FILE:LINE: MESSAGE` with the span labelled.
#[derive(Debug)]
pub struct Located {
    pub file: String,
    /// 1-based line of the span's start.
    pub line: usize,
    pub message: String,
    kind: FileKind,
    src: NamedSource<String>,
    span: Range<usize>,
    label: String,
    help: Option<String>,
}

impl Located {
    pub fn new(kind: FileKind, file: &str, text: &str, span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Located {
        let start = span.start.min(text.len());
        Located {
            file: file.to_string(),
            line: text[..start].matches('\n').count() + 1,
            message: message.into(),
            kind,
            src: NamedSource::new(file, text.to_string()),
            span,
            label: label.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: Option<String>) -> Located {
        self.help = help;
        self
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for Located {}

impl Diagnostic for Located {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.kind.url().map(|url| Box::new(url) as Box<dyn fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some(self.label.clone()), self.span.clone()))))
    }
}
