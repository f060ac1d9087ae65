//! A small YAML tree that remembers where each node stands in the file, so that every
//! message about a component can name its line and column.

use std::collections::HashMap;
use std::rc::Rc;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar; `plain` is true when unquoted (then `123`, `true`, `null` have their YAML meaning).
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's value.
    pub value: Value,
    /// Where the node starts.
    pub pos: Pos,
}

impl Node {
    /// The value under `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node under `key` when this node is a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The text of a scalar node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// True for an explicit or implicit YAML null (`~`, `null`, or nothing).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short name of the node's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "scalar",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }
}

/// A YAML syntax error, or a limit of the file exceeded, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What the parser said (a syntax error), or which limit the file exceeds.
    pub message: String,
    /// For a limit exceeded: how to fix the file (then `message` is complete as it is).
    /// `None` for a syntax error.
    pub fix: Option<String>,
}

/// The most bytes of one component file that bindery reads (1 MiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// The deepest nesting of lists and mappings in a file, aliases expanded.
pub const MAX_DEPTH: usize = 64;
/// The most nodes that aliases may copy in one file: each alias copies its anchor's whole
/// value, so nested anchors and aliases (a "billion laughs") multiply.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// The most bytes of scalar text that aliases may copy in one file (16 MiB).
pub const MAX_ALIAS_BYTES: usize = 16 << 20;

/// A node while the tree is built: values are shared (an alias is one more reference to its
/// anchor's node, not a copy), and each knows its weight with aliases expanded.
struct Shared {
    value: SharedValue,
    pos: Pos,
    /// Nodes in it, itself included.
    nodes: usize,
    /// Bytes of scalar text in it.
    bytes: usize,
    /// Levels of lists and mappings in it (0 for a scalar).
    height: usize,
}

enum SharedValue {
    Scalar { text: String, plain: bool },
    Seq(Vec<Rc<Shared>>),
    Map(Vec<(Rc<Shared>, Rc<Shared>)>),
}

impl Shared {
    fn scalar(text: String, plain: bool, pos: Pos) -> Shared {
        Shared {
            nodes: 1,
            bytes: text.len(),
            height: 0,
            value: SharedValue::Scalar { text, plain },
            pos,
        }
    }

    /// A list or mapping, weighed from its children.
    fn container(value: SharedValue, pos: Pos) -> Shared {
        let children: Vec<&Shared> = match &value {
            SharedValue::Seq(items) => items.iter().map(|n| &**n).collect(),
            SharedValue::Map(entries) => entries.iter().flat_map(|(k, v)| [&**k, &**v]).collect(),
            SharedValue::Scalar { .. } => unreachable!("a scalar is made by Shared::scalar"),
        };
        Shared {
            nodes: 1 + children.iter().map(|c| c.nodes).sum::<usize>(),
            bytes: children.iter().map(|c| c.bytes).sum(),
            height: 1 + children.iter().map(|c| c.height).max().unwrap_or(0),
            value,
            pos,
        }
    }

    /// The finished tree: moved where this node is its only user, copied where aliases share it.
    fn into_node(self: Rc<Self>) -> Node {
        match Rc::try_unwrap(self) {
            Ok(owned) => Node {
                pos: owned.pos,
                value: match owned.value {
                    SharedValue::Scalar { text, plain } => Value::Scalar { text, plain },
                    SharedValue::Seq(items) => {
                        Value::Seq(items.into_iter().map(Shared::into_node).collect())
                    }
                    SharedValue::Map(entries) => Value::Map(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.into_node(), v.into_node()))
                            .collect(),
                    ),
                },
            },
            Err(shared) => shared.to_node(),
        }
    }

    fn to_node(&self) -> Node {
        Node {
            pos: self.pos,
            value: match &self.value {
                SharedValue::Scalar { text, plain } => Value::Scalar {
                    text: text.clone(),
                    plain: *plain,
                },
                SharedValue::Seq(items) => Value::Seq(items.iter().map(|n| n.to_node()).collect()),
                SharedValue::Map(entries) => Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| (k.to_node(), v.to_node()))
                        .collect(),
                ),
            },
        }
    }
}

enum Frame {
    Seq(Vec<Rc<Shared>>, Pos, usize),
    Map(
        Vec<(Rc<Shared>, Rc<Shared>)>,
        Option<Rc<Shared>>,
        Pos,
        usize,
    ),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Rc<Shared>>,
    stack: Vec<Frame>,
    /// The current document's anchors.
    anchors: HashMap<usize, Rc<Shared>>,
    doc_start: Option<Pos>,
    doc_has_root: bool,
    /// What the aliases of the file have copied so far.
    alias_nodes: usize,
    alias_bytes: usize,
}

fn pos_of(mark: &Marker) -> Pos {
    Pos {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

fn limit(pos: Pos, message: String, fix: &str) -> SyntaxError {
    SyntaxError {
        pos,
        message,
        fix: Some(fix.to_string()),
    }
}

fn too_deep(pos: Pos) -> SyntaxError {
    limit(
        pos,
        format!("YAML nesting here is deeper than {MAX_DEPTH} levels of lists and mappings (aliases expanded), bindery's limit for a component file"),
        "a component nests a few levels; look for runaway indentation, brackets or \"- - -\", or aliases nested inside their anchors",
    )
}

impl Builder {
    fn push_node(&mut self, node: Rc<Shared>) {
        match self.stack.last_mut() {
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, key, _, _)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => {
                self.docs.push(node);
                self.doc_has_root = true;
            }
        }
    }

    fn event(&mut self, ev: Event, mark: Marker) -> Result<(), SyntaxError> {
        let pos = pos_of(&mark);
        match ev {
            Event::DocumentStart => {
                self.doc_start = Some(pos);
                self.doc_has_root = false;
                self.anchors.clear();
            }
            Event::DocumentEnd => {
                if !self.doc_has_root {
                    // An empty document: keep a null so that document numbering stays true.
                    let p = self.doc_start.unwrap_or(pos);
                    self.docs
                        .push(Rc::new(Shared::scalar(String::new(), true, p)));
                }
                self.doc_has_root = false;
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Rc::new(Shared::scalar(text, style == TScalarStyle::Plain, pos));
                if anchor > 0 {
                    self.anchors.insert(anchor, Rc::clone(&node));
                }
                self.push_node(node);
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id).cloned() else {
                    return Err(limit(
                        pos,
                        "this alias names an anchor whose value contains the alias itself (or one from another document)".into(),
                        "define the anchor (&name) on a value before the alias (*name) and outside the value that uses it",
                    ));
                };
                self.alias_nodes += node.nodes;
                self.alias_bytes += node.bytes;
                if self.alias_nodes > MAX_ALIAS_NODES || self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(limit(
                        pos,
                        format!(
                            "YAML aliases up to here copy more than {MAX_ALIAS_NODES} nodes or {} MiB of text, bindery's limit for a component file (each alias copies its anchor's whole value, so nested aliases multiply)",
                            MAX_ALIAS_BYTES >> 20
                        ),
                        "write the values out instead of nesting aliases of aliases; a file whose aliases multiply (a \"billion laughs\") is refused",
                    ));
                }
                if self.stack.len() + node.height > MAX_DEPTH {
                    return Err(too_deep(pos));
                }
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), pos, anchor));
                if self.stack.len() > MAX_DEPTH {
                    return Err(too_deep(pos));
                }
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, pos, anchor));
                if self.stack.len() > MAX_DEPTH {
                    return Err(too_deep(pos));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, p, a)) => {
                        (Shared::container(SharedValue::Seq(items), p), a)
                    }
                    Some(Frame::Map(entries, _, p, a)) => {
                        // A block mapping starts where its first key is.
                        let p = entries.first().map(|(k, _)| k.pos).unwrap_or(p);
                        (Shared::container(SharedValue::Map(entries), p), a)
                    }
                    None => return Ok(()),
                };
                let node = Rc::new(node);
                if anchor > 0 {
                    self.anchors.insert(anchor, Rc::clone(&node));
                }
                self.push_node(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<Node> {
        // Dropped first, so that a node no alias copied is moved out rather than copied.
        self.anchors.clear();
        self.docs.into_iter().map(Shared::into_node).collect()
    }
}

/// Parse every document of a YAML text into marked trees. The text may be at most
/// `MAX_FILE_BYTES` long, nest `MAX_DEPTH` levels, and its aliases may copy at most
/// `MAX_ALIAS_NODES` nodes and `MAX_ALIAS_BYTES` bytes; past a limit, parsing stops there
/// with an error that says which.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(limit(
            Pos { line: 1, column: 1 },
            format!(
                "the file is larger than {} MiB, the most bindery reads of one component file",
                MAX_FILE_BYTES >> 20
            ),
            "split the components over several files in the resources folder",
        ));
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Event by event rather than Parser::load, which recurses once per level of nesting.
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| SyntaxError {
            pos: pos_of(e.marker()),
            message: e.info().to_string(),
            fix: None,
        })?;
        if ev == Event::StreamEnd {
            break;
        }
        builder.event(ev, mark)?;
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let docs = parse_documents("a: 1\nb:\n  - x\n  - 'y'\n---\nc: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        match &b.value {
            Value::Seq(items) => {
                assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
                assert_eq!(
                    items[1].value,
                    Value::Scalar {
                        text: "y".into(),
                        plain: false
                    }
                );
            }
            _ => panic!("not a seq"),
        }
        assert_eq!(docs[1].get("c").unwrap().pos.line, 6);
    }

    #[test]
    fn aliases_count_toward_the_depth_and_stay_in_their_document() {
        // 40 levels anchored, copied 30 levels down: 70 levels, past 64.
        let deep = format!("{}x{}", "[".repeat(40), "]".repeat(40));
        let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(29), "]".repeat(29));
        let err = parse_documents(&text).unwrap_err();
        assert_eq!(err.pos.line, 2, "{err:?}");
        assert!(err.message.contains("deeper than 64"), "{err:?}");
        // 20 levels down is fine.
        let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(19), "]".repeat(19));
        let docs = parse_documents(&text).unwrap();
        let mut node = docs[0].get("b").unwrap();
        let mut levels = 0;
        while let Value::Seq(items) = &node.value {
            levels += 1;
            node = &items[0];
        }
        assert_eq!((levels, node.as_str()), (59, Some("x")));

        let err = parse_documents("a: &a 1\n---\nb: *a\n").unwrap_err();
        assert_eq!(err.pos.line, 3, "{err:?}");
        assert!(err.fix.is_some(), "{err:?}");
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }
}
