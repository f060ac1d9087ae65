//! A small YAML tree that remembers where each node stands in the file, so that every
//! message about a component can name its line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
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

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What the parser said.
    pub message: String,
}

enum Frame {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    doc_start: Option<Pos>,
    doc_has_root: bool,
}

fn pos_of(mark: &Marker) -> Pos {
    Pos {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Builder {
    fn push_node(&mut self, node: Node) {
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
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(&mark);
        match ev {
            Event::DocumentStart => {
                self.doc_start = Some(pos);
                self.doc_has_root = false;
            }
            Event::DocumentEnd => {
                if !self.doc_has_root {
                    // An empty document: keep a null so that document numbering stays true.
                    let p = self.doc_start.unwrap_or(pos);
                    self.docs.push(Node {
                        value: Value::Scalar {
                            text: String::new(),
                            plain: true,
                        },
                        pos: p,
                    });
                }
                self.doc_has_root = false;
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    value: Value::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    },
                    pos,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    value: Value::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                    pos,
                });
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), pos, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, pos, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, p, a)) => (
                        Node {
                            value: Value::Seq(items),
                            pos: p,
                        },
                        a,
                    ),
                    Some(Frame::Map(entries, _, p, a)) => (
                        Node {
                            // A block mapping starts where its first key is.
                            pos: entries.first().map(|(k, _)| k.pos).unwrap_or(p),
                            value: Value::Map(entries),
                        },
                        a,
                    ),
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
        }
    }
}

/// Parse every document of a YAML text into marked trees.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        pos: pos_of(e.marker()),
        message: e.info().to_string(),
    })?;
    Ok(builder.docs)
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
    fn syntax_error_has_position() {
        let err = parse_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }
}
