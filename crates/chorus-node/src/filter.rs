//! Publication tags filters (`SubscribeRequest.tf`, channels with
//! `allow_tags_filter`): a subscriber receives only publications whose tags
//! match its filter.
//!
//! A filter is a tree of `FilterNode`s: `and` / `or` / `not` nodes over leaf
//! comparisons of one tag. Leaves: `eq`, `neq`, `in`, `nin`, `ex` (tag present),
//! `nex` (absent), `sw` / `ew` / `ct` (starts with / ends with / contains), and
//! numeric `lt`, `lte`, `gt`, `gte` (both sides parsed as numbers; a tag that is
//! not a number never matches). Filters are validated once at subscribe time and
//! then evaluated per publication without allocating.

use chorus_protocol::FilterNode;
use std::collections::BTreeMap;

/// Deepest nesting and most nodes accepted in one filter: a filter is evaluated
/// for every publication, so its cost is bounded.
const MAX_DEPTH: usize = 8;
const MAX_NODES: usize = 64;

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tags filter: {0}")]
pub(crate) struct InvalidFilter(&'static str);

/// Checks a filter's shape (known operations, arity, size).
pub(crate) fn validate(node: &FilterNode) -> Result<(), InvalidFilter> {
    let mut count = 0;
    validate_at(node, 0, &mut count)
}

fn validate_at(node: &FilterNode, depth: usize, count: &mut usize) -> Result<(), InvalidFilter> {
    *count += 1;
    if depth > MAX_DEPTH {
        return Err(InvalidFilter("nested too deeply"));
    }
    if *count > MAX_NODES {
        return Err(InvalidFilter("too many nodes"));
    }
    match node.op.as_str() {
        "" => {
            if node.key.is_empty() {
                return Err(InvalidFilter("a comparison needs a key"));
            }
            match node.cmp.as_str() {
                "eq" | "neq" | "sw" | "ew" | "ct" | "ex" | "nex" => Ok(()),
                "in" | "nin" if !node.vals.is_empty() => Ok(()),
                "in" | "nin" => Err(InvalidFilter("in/nin need vals")),
                "lt" | "lte" | "gt" | "gte" if node.val.parse::<f64>().is_ok() => Ok(()),
                "lt" | "lte" | "gt" | "gte" => {
                    Err(InvalidFilter("numeric comparison needs a number"))
                }
                _ => Err(InvalidFilter("unknown comparison")),
            }
        }
        "and" | "or" if !node.nodes.is_empty() => node
            .nodes
            .iter()
            .try_for_each(|n| validate_at(n, depth + 1, count)),
        "not" if node.nodes.len() == 1 => validate_at(&node.nodes[0], depth + 1, count),
        "and" | "or" | "not" => Err(InvalidFilter("wrong number of child nodes")),
        _ => Err(InvalidFilter("unknown operation")),
    }
}

/// Whether publication `tags` satisfy a (validated) filter.
pub(crate) fn matches(node: &FilterNode, tags: &BTreeMap<String, String>) -> bool {
    match node.op.as_str() {
        "and" => node.nodes.iter().all(|n| matches(n, tags)),
        "or" => node.nodes.iter().any(|n| matches(n, tags)),
        "not" => !node.nodes.iter().all(|n| matches(n, tags)),
        _ => leaf(node, tags.get(&node.key).map(String::as_str)),
    }
}

fn leaf(node: &FilterNode, value: Option<&str>) -> bool {
    let want = node.val.as_str();
    match (node.cmp.as_str(), value) {
        ("ex", v) => v.is_some(),
        ("nex", v) => v.is_none(),
        ("neq", v) => v != Some(want),
        ("nin", v) => !v.is_some_and(|v| node.vals.iter().any(|x| x == v)),
        (_, None) => false,
        ("eq", Some(v)) => v == want,
        ("in", Some(v)) => node.vals.iter().any(|x| x == v),
        ("sw", Some(v)) => v.starts_with(want),
        ("ew", Some(v)) => v.ends_with(want),
        ("ct", Some(v)) => v.contains(want),
        (cmp, Some(v)) => numeric(cmp, v, want),
    }
}

fn numeric(cmp: &str, value: &str, want: &str) -> bool {
    let (Ok(a), Ok(b)) = (value.parse::<f64>(), want.parse::<f64>()) else {
        return false;
    };
    match cmp {
        "lt" => a < b,
        "lte" => a <= b,
        "gt" => a > b,
        "gte" => a >= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(key: &str, cmp: &str, val: &str) -> FilterNode {
        FilterNode {
            key: key.into(),
            cmp: cmp.into(),
            val: val.into(),
            ..FilterNode::default()
        }
    }

    fn op(op: &str, nodes: Vec<FilterNode>) -> FilterNode {
        FilterNode {
            op: op.into(),
            nodes,
            ..FilterNode::default()
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn leaves() {
        let t = tags(&[("team", "red"), ("score", "10")]);
        assert!(matches(&cmp("team", "eq", "red"), &t));
        assert!(!matches(&cmp("team", "eq", "blue"), &t));
        assert!(matches(&cmp("team", "neq", "blue"), &t));
        assert!(matches(&cmp("missing", "neq", "x"), &t));
        assert!(matches(&cmp("team", "sw", "r"), &t));
        assert!(matches(&cmp("team", "ew", "ed"), &t));
        assert!(matches(&cmp("team", "ct", "e"), &t));
        assert!(matches(&cmp("team", "ex", ""), &t));
        assert!(matches(&cmp("nope", "nex", ""), &t));
        assert!(matches(&cmp("score", "gt", "9.5"), &t));
        assert!(matches(&cmp("score", "lte", "10"), &t));
        assert!(!matches(&cmp("team", "lt", "5"), &t), "not a number");
        let mut within = cmp("team", "in", "");
        within.vals = vec!["blue".into(), "red".into()];
        assert!(matches(&within, &t));
        within.cmp = "nin".into();
        assert!(!matches(&within, &t));
    }

    #[test]
    fn trees() {
        let t = tags(&[("team", "red"), ("score", "10")]);
        let both = op(
            "and",
            vec![cmp("team", "eq", "red"), cmp("score", "gte", "10")],
        );
        assert!(matches(&both, &t));
        let either = op(
            "or",
            vec![cmp("team", "eq", "blue"), cmp("score", "lt", "3")],
        );
        assert!(!matches(&either, &t));
        assert!(matches(&op("not", vec![either]), &t));
    }

    #[test]
    fn validation() {
        assert!(validate(&cmp("a", "eq", "1")).is_ok());
        assert!(validate(&cmp("", "eq", "1")).is_err());
        assert!(validate(&cmp("a", "like", "1")).is_err());
        assert!(validate(&cmp("a", "in", "")).is_err());
        assert!(validate(&cmp("a", "gt", "x")).is_err());
        assert!(validate(&op("and", vec![])).is_err());
        assert!(validate(&op("not", vec![cmp("a", "ex", ""), cmp("b", "ex", "")])).is_err());
        assert!(validate(&op("xor", vec![cmp("a", "ex", "")])).is_err());
        let mut deep = cmp("a", "ex", "");
        for _ in 0..10 {
            deep = op("not", vec![deep]);
        }
        assert!(validate(&deep).is_err());
    }
}
