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

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

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

#[derive(Debug)]
struct Frame {
    line: u32,
    column: u32,
    anchor: usize,
    items: Items,
    measure: Measure,
}

fn position(span: &Span) -> (u32, u32) {
    (
        u32::try_from(span.start.line()).unwrap_or(u32::MAX),
        u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
    )
}

/// Reads one YAML document. `Ok(None)` for an empty stream (only comments or nothing).
pub(super) fn read(source: &str, limits: &Limits) -> Result<Option<Rc<Node>>, Diagnostic> {
    let byte_budget = u64::try_from(limits.max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_mul(4);
    let node_budget = u64::try_from(limits.max_nodes).unwrap_or(u64::MAX);
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Anchored> = HashMap::new();
    let mut root: Option<Rc<Node>> = None;
    let mut documents = 0_u32;
    let mut total = Measure::default();

    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|error| {
            let line = u32::try_from(error.marker().line()).unwrap_or(u32::MAX);
            let column = u32::try_from(error.marker().col() + 1).unwrap_or(u32::MAX);
            if error.info().contains("recursion limit") {
                Diagnostic::error(line, column, depth_message(limits))
            } else {
                Diagnostic::error(line, column, format!("YAML syntax error: {}", error.info()))
            }
        })?;
        let (line, column) = position(&span);
        let is_seq = matches!(event, Event::SequenceStart(..));
        let (node, measure, anchor) = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::error(
                        line,
                        column,
                        "a spec is one YAML document, but a second document starts here",
                    ));
                }
                continue;
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), line, column)?;
                if stack.len() >= limits.max_depth {
                    return Err(Diagnostic::error(line, column, depth_message(limits)));
                }
                total.nodes += 1;
                if total.nodes > node_budget {
                    return Err(Diagnostic::error(line, column, nodes_message(limits)));
                }
                let items = if is_seq {
                    Items::Seq(Vec::new())
                } else {
                    Items::Map {
                        entries: Vec::new(),
                        key: None,
                    }
                };
                stack.push(Frame {
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
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = stack.pop() else {
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
                let node = Rc::new(Node::new(frame.line, frame.column, kind));
                (node, frame.measure, frame.anchor)
            }
            Event::Alias(id) => {
                let Some(anchored) = anchors.get(&id) else {
                    return Err(Diagnostic::error(
                        line,
                        column,
                        "YAML alias to an unknown anchor",
                    ));
                };
                let measure = anchored.measure;
                if stack.len() + measure.height > limits.max_depth {
                    return Err(Diagnostic::error(line, column, depth_message(limits)));
                }
                total.nodes = total.nodes.saturating_add(measure.nodes);
                total.bytes = total.bytes.saturating_add(measure.bytes);
                if total.nodes > node_budget {
                    return Err(Diagnostic::error(line, column, nodes_message(limits)));
                }
                if total.bytes > byte_budget {
                    return Err(Diagnostic::error(
                        line,
                        column,
                        format!(
                            "YAML aliases expand this spec beyond {byte_budget} bytes of text; \
                             aliases are refused past that budget"
                        ),
                    ));
                }
                (Rc::clone(&anchored.node), measure, 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                check_tag(tag.as_deref(), line, column)?;
                let is_str_tag = tag
                    .as_deref()
                    .is_some_and(|tag| tag.is_yaml_core_schema() && tag.suffix == "str");
                let bytes = text.len() as u64;
                total.nodes += 1;
                total.bytes = total.bytes.saturating_add(bytes);
                if total.nodes > node_budget {
                    return Err(Diagnostic::error(line, column, nodes_message(limits)));
                }
                let single_line = span.start.line() == span.end.line() || text.is_empty();
                let shape = match style {
                    ScalarStyle::Plain if single_line => Shape::Text {
                        line,
                        column,
                        next_column: column,
                    },
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if single_line => {
                        Shape::Text {
                            line,
                            column: column + 1,
                            next_column: column + 1,
                        }
                    }
                    ScalarStyle::Literal => Shape::Text {
                        line,
                        column,
                        next_column: column,
                    },
                    _ => Shape::Approx,
                };
                let text = match text {
                    Cow::Borrowed(text) => text.to_owned(),
                    Cow::Owned(text) => text,
                };
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
                (
                    node,
                    Measure {
                        nodes: 1,
                        bytes,
                        height: 0,
                    },
                    anchor,
                )
            }
        };
        if anchor != 0 {
            anchors.insert(
                anchor,
                Anchored {
                    node: Rc::clone(&node),
                    measure,
                },
            );
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(parent) => {
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
    }
    Ok(root)
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
