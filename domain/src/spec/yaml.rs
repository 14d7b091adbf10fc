//! YAML text to a [`Node`] tree, with every budget checked while the events arrive.
//!
//! `saphyr-parser` gives a stream of events with positions; this module builds the tree from
//! them without recursion. Aliases share the anchored node (no deep copies) while their
//! *expanded* size is counted against [`Limits::max_nodes`] and the expanded text against
//! four times [`Limits::max_bytes`], and the expanded depth against [`Limits::max_depth`]: a
//! "billion laughs" stops at the first alias that would cross a budget, after reading at most
//! a few hundred bytes. Merge keys (`<<: *base`) are applied as SnakeYAML does.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::Limits;
use super::tree::{Entries, Kind, Node, Shape};
use crate::Diagnostic;

/// An anchored node and its expanded measures.
#[derive(Debug)]
struct Anchored {
    node: Rc<Node>,
    measure: Measure,
}

/// Expanded measures of a subtree: nodes, scalar bytes and height (0 for a scalar).
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    nodes: u64,
    bytes: u64,
    height: usize,
}

#[derive(Debug)]
enum Items {
    Seq(Vec<Rc<Node>>),
    Map {
        entries: Vec<(Rc<Node>, Rc<Node>)>,
        key: Option<Rc<Node>>,
    },
}

/// A collection being read: where it starts, its anchor (0 for none), its items so far and
/// their expanded measures.
#[derive(Debug)]
struct Frame {
    line: u32,
    column: u32,
    anchor: usize,
    items: Items,
    measure: Measure,
}

/// A finished node, ready for its parent: its expanded measures and its anchor (0 for none).
#[derive(Debug)]
struct Built {
    node: Rc<Node>,
    measure: Measure,
    anchor: usize,
}

fn position(span: &Span) -> (u32, u32) {
    (
        u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    )
}

/// Reads one YAML document. `Ok(None)` for an empty stream (only comments or nothing).
pub(super) fn read(source: &str, limits: &Limits) -> Result<Option<Rc<Node>>, Diagnostic> {
    let mut builder = Builder::new(limits);
    let mut parser = Parser::new_from_str(source);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|error| syntax_error(&error, limits))?;
        if let Some(built) = builder.event(event, &span)? {
            builder.attach(built);
        }
    }
    Ok(builder.root)
}

/// The diagnostic for an error of the parser; its recursion limit is our depth limit.
fn syntax_error(error: &ScanError, limits: &Limits) -> Diagnostic {
    let line = u32::try_from(error.marker().line()).unwrap_or(u32::MAX);
    let column = u32::try_from(error.marker().col() + 1).unwrap_or(u32::MAX);
    if error.info().contains("recursion limit") {
        Diagnostic::error(line, column, depth_message(limits))
    } else {
        Diagnostic::error(line, column, format!("YAML syntax error: {}", error.info()))
    }
}

/// The tree under construction: open collections, anchors, and the budgets spent so far.
#[derive(Debug)]
struct Builder<'l> {
    limits: &'l Limits,
    /// Expanded scalar bytes allowed: four times the source limit.
    byte_budget: u64,
    /// Expanded values allowed.
    node_budget: u64,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    root: Option<Rc<Node>>,
    documents: u32,
    total: Measure,
}

impl<'l> Builder<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            byte_budget: u64::try_from(limits.max_bytes)
                .unwrap_or(u64::MAX)
                .saturating_mul(4),
            node_budget: u64::try_from(limits.max_nodes).unwrap_or(u64::MAX),
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
            total: Measure::default(),
        }
    }

    /// Handles one event; a node when the event finishes one.
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<Option<Built>, Diagnostic> {
        let at = position(span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(None),
            Event::DocumentStart(_) => self.start_document(at).map(|()| None),
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_deref(), at.0, at.1)?;
                self.open(at, anchor, Items::Seq(Vec::new())).map(|()| None)
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), at.0, at.1)?;
                let items = Items::Map {
                    entries: Vec::new(),
                    key: None,
                };
                self.open(at, anchor, items).map(|()| None)
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(at).map(Some),
            Event::Alias(id) => self.alias(at, id).map(Some),
            Event::Scalar(text, style, anchor, tag) => {
                check_tag(tag.as_deref(), at.0, at.1)?;
                let is_str_tag = tag
                    .as_deref()
                    .is_some_and(|tag| tag.is_yaml_core_schema() && tag.suffix == "str");
                self.scalar(at, span, text, style, is_str_tag)
                    .map(|node| Some(Built { anchor, ..node }))
            }
        }
    }

    /// A spec is one document: the second one is refused.
    fn start_document(&mut self, (line, column): (u32, u32)) -> Result<(), Diagnostic> {
        self.documents += 1;
        if self.documents > 1 {
            return Err(Diagnostic::error(
                line,
                column,
                "a spec is one YAML document, but a second document starts here",
            ));
        }
        Ok(())
    }

    /// Opens a sequence or a map, within the depth and value budgets.
    fn open(
        &mut self,
        (line, column): (u32, u32),
        anchor: usize,
        items: Items,
    ) -> Result<(), Diagnostic> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(Diagnostic::error(line, column, depth_message(self.limits)));
        }
        self.set_nodes(self.total.nodes + 1, (line, column))?;
        self.stack.push(Frame {
            line,
            column,
            anchor,
            items,
            measure: Measure {
                nodes: 1,
                bytes: 0,
                height: 1,
            },
        });
        Ok(())
    }

    /// Closes the innermost collection, applying merge keys to a map.
    fn close(&mut self, (line, column): (u32, u32)) -> Result<Built, Diagnostic> {
        let Some(frame) = self.stack.pop() else {
            return Err(Diagnostic::error(
                line,
                column,
                "YAML syntax error: unbalanced collection",
            ));
        };
        let kind = match frame.items {
            Items::Seq(items) => Kind::Seq(items),
            Items::Map { entries, .. } => Kind::Map(merge(entries)?),
        };
        Ok(Built {
            node: Rc::new(Node::new(frame.line, frame.column, kind)),
            measure: frame.measure,
            anchor: frame.anchor,
        })
    }

    /// An alias: the anchored node itself, its expanded measures counted against every budget.
    fn alias(&mut self, (line, column): (u32, u32), id: usize) -> Result<Built, Diagnostic> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(Diagnostic::error(
                line,
                column,
                "YAML alias to an unknown anchor",
            ));
        };
        let (node, measure) = (Rc::clone(&anchored.node), anchored.measure);
        if self.stack.len() + measure.height > self.limits.max_depth {
            return Err(Diagnostic::error(line, column, depth_message(self.limits)));
        }
        let nodes = self.total.nodes.saturating_add(measure.nodes);
        self.total.bytes = self.total.bytes.saturating_add(measure.bytes);
        self.set_nodes(nodes, (line, column))?;
        if self.total.bytes > self.byte_budget {
            return Err(Diagnostic::error(
                line,
                column,
                format!(
                    "YAML aliases expand this spec beyond {} bytes of text; aliases are refused \
                     past that budget",
                    self.byte_budget
                ),
            ));
        }
        Ok(Built {
            node,
            measure,
            anchor: 0,
        })
    }

    /// A scalar: plain scalars stay [`Kind::Plain`] (resolved on use) unless tagged `!!str`.
    fn scalar(
        &mut self,
        (line, column): (u32, u32),
        span: &Span,
        text: Cow<'_, str>,
        style: ScalarStyle,
        is_str_tag: bool,
    ) -> Result<Built, Diagnostic> {
        let bytes = text.len() as u64;
        let nodes = self.total.nodes + 1;
        self.total.bytes = self.total.bytes.saturating_add(bytes);
        self.set_nodes(nodes, (line, column))?;
        let single_line = span.start.line() == span.end.line() || text.is_empty();
        let shape = scalar_shape(style, single_line, line, column);
        let text = text.into_owned();
        let kind = if style == ScalarStyle::Plain && !is_str_tag {
            Kind::Plain(text)
        } else {
            Kind::Str(text)
        };
        let node = Rc::new(Node {
            line,
            column,
            kind,
            shape,
        });
        Ok(Built {
            node,
            measure: Measure {
                nodes: 1,
                bytes,
                height: 0,
            },
            anchor: 0,
        })
    }

    /// Sets the number of values read so far (aliases expanded), refusing it past the budget.
    fn set_nodes(&mut self, nodes: u64, (line, column): (u32, u32)) -> Result<(), Diagnostic> {
        self.total.nodes = nodes;
        if nodes > self.node_budget {
            return Err(Diagnostic::error(line, column, nodes_message(self.limits)));
        }
        Ok(())
    }

    /// Records a finished node under its anchor, then hands it to the open collection (as an
    /// item, a map key or a map value) or makes it the root.
    fn attach(&mut self, built: Built) {
        let Built {
            node,
            measure,
            anchor,
        } = built;
        if anchor != 0 {
            self.anchors.insert(
                anchor,
                Anchored {
                    node: Rc::clone(&node),
                    measure,
                },
            );
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        parent.measure.nodes = parent.measure.nodes.saturating_add(measure.nodes);
        parent.measure.bytes = parent.measure.bytes.saturating_add(measure.bytes);
        parent.measure.height = parent.measure.height.max(measure.height + 1);
        match &mut parent.items {
            Items::Seq(items) => items.push(node),
            Items::Map { entries, key } => match key.take() {
                None => *key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

/// How the text of a scalar maps back onto the source: exactly for single-line plain and
/// quoted scalars (after the quote) and for literal blocks, approximately otherwise.
fn scalar_shape(style: ScalarStyle, single_line: bool, line: u32, column: u32) -> Shape {
    match style {
        ScalarStyle::Plain if single_line => Shape::Text {
            line,
            column,
            next_column: column,
        },
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if single_line => Shape::Text {
            line,
            column: column + 1,
            next_column: column + 1,
        },
        ScalarStyle::Literal => Shape::Text {
            line,
            column,
            next_column: column,
        },
        _ => Shape::Approx,
    }
}

pub(super) fn depth_message(limits: &Limits) -> String {
    format!(
        "the spec nests deeper than {} levels; deeper structures are refused",
        limits.max_depth
    )
}

fn nodes_message(limits: &Limits) -> String {
    format!(
        "the spec has more than {} values once its YAML aliases are expanded; \
         alias bombs and oversized specs are refused",
        limits.max_nodes
    )
}

/// Only the YAML core tags (`!!str`, `!!int`, ...) are understood; SnakeYAML's safe loader
/// refuses others too.
fn check_tag(tag: Option<&Tag>, line: u32, column: u32) -> Result<(), Diagnostic> {
    match tag {
        Some(tag) if !(tag.is_yaml_core_schema() || tag.handle == "!" && tag.suffix.is_empty()) => {
            Err(Diagnostic::error(
                line,
                column,
                format!(
                    "unsupported YAML tag `{tag}`; only the core tags such as `!!str` are understood"
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn is_merge_key(node: &Node) -> bool {
    matches!(&node.kind, Kind::Plain(text) if text == "<<")
}

/// Applies YAML merge keys: `<<: *base` (or a list of them) adds the entries of the merged
/// maps whose keys the map does not already have; earlier merged maps win over later ones.
fn merge(entries: Entries) -> Result<Entries, Diagnostic> {
    if !entries.iter().any(|(key, _)| is_merge_key(key)) {
        return Ok(entries);
    }
    let mut own = Vec::with_capacity(entries.len());
    let mut sources: Vec<Rc<Node>> = Vec::new();
    for (key, value) in entries {
        if !is_merge_key(&key) {
            own.push((key, value));
            continue;
        }
        match &value.kind {
            Kind::Map(_) => sources.push(value),
            Kind::Seq(items) if items.iter().all(|item| matches!(item.kind, Kind::Map(_))) => {
                sources.extend(items.iter().cloned());
            }
            _ => {
                return Err(Diagnostic::error(
                    value.line,
                    value.column,
                    "a merge key `<<` takes a map or a list of maps",
                ));
            }
        }
    }
    let mut names: HashSet<Option<String>> = own.iter().map(|(key, _)| key.key_name()).collect();
    for source in sources {
        let Kind::Map(merged) = &source.kind else {
            continue;
        };
        for (key, value) in merged {
            if names.insert(key.key_name()) {
                own.push((Rc::clone(key), Rc::clone(value)));
            }
        }
    }
    Ok(own)
}
