//! A saved XGBoost model (JSON or UBJ), evaluated in pure Rust.
//!
//! This is what serves and batch-scores: one row costs microseconds instead of the ~130 us of a
//! DMatrix per call through the C API, and a serve-only build needs no C++ runtime. Deeper trees
//! follow XGBoost's own arithmetic (float32 sums in tree order, starting from the base margin);
//! stump forests are folded into step functions (see `additive`). Tests compare both with
//! XGBoost's predictions and contributions on the same rows.

mod additive;
mod quadrature;
pub mod reasons;
pub mod shap;
pub mod ubjson;

use additive::{Additive, Part, Stump};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ForestError {
    #[error("the model file is neither XGBoost JSON nor UBJSON: {0}")]
    Format(String),
    #[error("unsupported XGBoost model: {0}")]
    Unsupported(String),
    #[error("malformed XGBoost model: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// `binary:logistic` / `reg:logistic`: probability = sigmoid(margin).
    Logistic,
    /// `binary:logitraw`: the margin itself.
    LogitRaw,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub left: i32,
    pub right: i32,
    pub feature: u32,
    /// The split threshold, or the leaf value for a leaf.
    pub value: f32,
    pub default_left: bool,
    /// Sum of hessians (cover) of the training rows through this node: TreeSHAP's weights.
    pub cover: f32,
}

impl Node {
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.left == -1
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
    /// Expected value of the tree below each node (cover-weighted), as XGBoost computes it.
    pub mean_values: Vec<f32>,
    pub max_depth: usize,
}

impl Tree {
    /// The value of the leaf a row lands on.
    pub fn leaf_value(&self, x: &[f32]) -> f32 {
        let mut n = &self.nodes[0];
        while !n.is_leaf() {
            let v = x[n.feature as usize];
            let left = if v.is_nan() { n.default_left } else { v < n.value };
            n = &self.nodes[if left { n.left } else { n.right } as usize];
        }
        n.value
    }
}

#[derive(Debug, Clone)]
pub struct Forest {
    pub objective: Objective,
    pub objective_name: String,
    /// As stored by XGBoost, in probability space for logistic objectives.
    pub base_score: f32,
    pub base_margin: f32,
    pub num_feature: usize,
    pub feature_names: Option<Vec<String>>,
    /// True for a model saved through the scikit-learn `XGBClassifier` API.
    pub sklearn_classifier: bool,
    pub xgboost_version: String,
    pub(crate) trees: Vec<Tree>,
    /// All trees' nodes in one array, for the prediction hot path.
    flat: Vec<FlatNode>,
    roots: Vec<u32>,
    /// When every tree is a stump (the default model), the forest folded into one step
    /// function per feature.
    additive: Option<Additive>,
    /// Otherwise, every leaf's merged path, for the quadrature TreeSHAP.
    paths: quadrature::Paths,
}

/// Every tree as a part of step functions, or None when one is deeper than a stump.
fn as_stumps(trees: &[Tree]) -> Option<Vec<Part>> {
    trees.iter().map(as_part).collect()
}

/// A lone leaf or a stump, with its contributions (computed once), or None for a deeper tree.
pub(crate) fn as_part(t: &Tree) -> Option<Part> {
    let root = t.nodes[0];
    if root.is_leaf() {
        return Some(Part::Leaf { value: root.value, mean: t.mean_values[0] });
    }
    let (l, r) = (t.nodes[root.left as usize], t.nodes[root.right as usize]);
    (l.is_leaf() && r.is_leaf()).then(|| {
        Part::Split(Stump {
            feature: root.feature,
            threshold: root.value,
            left: l.value,
            right: r.value,
            default_left: root.default_left,
            phi_left: shap::stump_phi(t, true),
            phi_right: shap::stump_phi(t, false),
            mean: t.mean_values[0],
        })
    })
}

/// A node laid out for prediction: 16 bytes, children as absolute indexes into `Forest::flat`.
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    /// Split feature; bit 31 marks a leaf, bit 30 sends missing values left.
    feature: u32,
    /// Threshold, or the leaf value.
    value: f32,
    left: u32,
    right: u32,
}

const LEAF: u32 = 1 << 31;
const DEFAULT_LEFT: u32 = 1 << 30;

fn flatten(trees: &[Tree]) -> (Vec<FlatNode>, Vec<u32>) {
    let mut flat = Vec::with_capacity(trees.iter().map(|t| t.nodes.len()).sum());
    let mut roots = Vec::with_capacity(trees.len());
    for t in trees {
        let base = flat.len() as u32;
        roots.push(base);
        for n in &t.nodes {
            flat.push(if n.is_leaf() {
                FlatNode { feature: LEAF, value: n.value, left: 0, right: 0 }
            } else {
                FlatNode {
                    feature: n.feature | if n.default_left { DEFAULT_LEFT } else { 0 },
                    value: n.value,
                    left: base + n.left as u32,
                    right: base + n.right as u32,
                }
            });
        }
    }
    (flat, roots)
}

fn malformed<T>(what: impl Into<String>) -> Result<T, ForestError> {
    Err(ForestError::Malformed(what.into()))
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, ForestError> {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(x) => x,
            None => return malformed(format!("missing `{}`", path.join("."))),
        };
    }
    Ok(cur)
}

/// A number XGBoost's JSON writes as a number or as text ("0.5", "[2.653532E-1]": the first of
/// a vector), as the learner's parameters are.
pub(crate) fn as_str_number(v: &Value, what: &str) -> Result<f64, ForestError> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| ForestError::Malformed(format!("`{what}` is not a number"))),
        Value::String(s) => {
            let t = s.trim().trim_start_matches('[').trim_end_matches(']');
            let first = t.split(',').next().unwrap_or("").trim();
            first.parse::<f64>().map_err(|_| ForestError::Malformed(format!("`{what}` = {s:?} is not a number")))
        }
        _ => malformed(format!("`{what}` is not a number")),
    }
}

fn numbers(v: &Value, what: &str) -> Result<Vec<f64>, ForestError> {
    let Value::Array(items) = v else {
        return malformed(format!("`{what}` is not an array"));
    };
    items
        .iter()
        .map(|x| match x {
            Value::Number(n) => {
                n.as_f64().ok_or_else(|| ForestError::Malformed(format!("`{what}` holds a non-number")))
            }
            Value::Bool(b) => Ok(*b as u8 as f64),
            _ => malformed(format!("`{what}` holds a non-number")),
        })
        .collect()
}

impl Forest {
    /// Reads a model file's bytes, JSON or UBJSON (sniffed the way XGBoost does).
    pub fn from_bytes(bytes: &[u8]) -> Result<Forest, ForestError> {
        let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
        let Some(start) = first else {
            return Err(ForestError::Format("the file is empty".into()));
        };
        if bytes[start] != b'{' {
            return Err(ForestError::Format(
                "expected a JSON or UBJSON object (the legacy binary format of XGBoost < 1.0 is not read; re-save the model as .json or .ubj)".into(),
            ));
        }
        let next = bytes[start + 1..].iter().find(|b| !b.is_ascii_whitespace()).copied();
        let doc = if matches!(next, Some(b'"') | Some(b'}')) {
            serde_json::from_slice(bytes).map_err(|e| ForestError::Format(e.to_string()))?
        } else {
            ubjson::decode(bytes).map_err(|e| ForestError::Format(e.to_string()))?
        };
        Forest::from_json(&doc)
    }

    pub fn from_json(doc: &Value) -> Result<Forest, ForestError> {
        let learner = get(doc, &["learner"])?;
        let objective_name = get(learner, &["objective", "name"])?.as_str().unwrap_or("").to_string();
        let objective = match objective_name.as_str() {
            "binary:logistic" | "reg:logistic" => Objective::Logistic,
            "binary:logitraw" => Objective::LogitRaw,
            other => {
                return Err(ForestError::Unsupported(format!(
                "objective `{other}`: churn scores binary classifiers (binary:logistic, reg:logistic, binary:logitraw)"
            )))
            }
        };
        let booster = get(learner, &["gradient_booster"])?;
        let booster_name = booster.get("name").and_then(Value::as_str).unwrap_or("gbtree");
        if booster_name != "gbtree" {
            return Err(ForestError::Unsupported(format!("booster `{booster_name}` (only gbtree models are scored)")));
        }
        let mparam = get(learner, &["learner_model_param"])?;
        let num_class = mparam.get("num_class").map(|v| as_str_number(v, "num_class")).transpose()?.unwrap_or(0.0);
        if num_class > 1.0 {
            return Err(ForestError::Unsupported(format!("{num_class} classes: churn scores binary classifiers")));
        }
        let num_target = mparam.get("num_target").map(|v| as_str_number(v, "num_target")).transpose()?.unwrap_or(1.0);
        if num_target > 1.0 {
            return Err(ForestError::Unsupported("a multi-target model".into()));
        }
        let num_feature = as_str_number(get(mparam, &["num_feature"])?, "num_feature")? as usize;
        let base_score = as_str_number(get(mparam, &["base_score"])?, "base_score")? as f32;
        // XGBoost's ProbToMargin for the logistic loss, in float as XGBoost computes it.
        let base_margin = match objective {
            Objective::Logistic | Objective::LogitRaw => -((1.0f32 / base_score - 1.0f32).ln()),
        };

        let trees_json = get(booster, &["model", "trees"])?;
        let Value::Array(trees_json) = trees_json else {
            return malformed("`trees` is not an array");
        };
        let mut trees = Vec::with_capacity(trees_json.len());
        for (t, tj) in trees_json.iter().enumerate() {
            trees.push(parse_tree(tj, t, num_feature)?);
        }
        let feature_names = learner.get("feature_names").and_then(Value::as_array).and_then(|a| {
            let names: Vec<String> = a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
            (!names.is_empty()).then_some(names)
        });
        if let Some(names) = &feature_names {
            if names.len() != num_feature {
                return malformed(format!("{} feature names for {num_feature} features", names.len()));
            }
        }
        let sklearn_classifier = learner
            .get("attributes")
            .and_then(|a| a.get("scikit_learn"))
            .and_then(Value::as_str)
            .is_some_and(|s| s.contains("\"classifier\""));
        let xgboost_version = doc
            .get("version")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_u64).map(|x| x.to_string()).collect::<Vec<_>>().join("."))
            .unwrap_or_default();
        let (flat, roots) = flatten(&trees);
        let additive = as_stumps(&trees).map(|parts| Additive::new(&parts, base_margin));
        let paths = if additive.is_some() { quadrature::Paths::default() } else { quadrature::Paths::new(&trees) };
        Ok(Forest {
            objective,
            objective_name,
            base_score,
            base_margin,
            num_feature,
            feature_names,
            sklearn_classifier,
            xgboost_version,
            trees,
            flat,
            roots,
            additive,
            paths,
        })
    }

    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Raw margin (log-odds) for one row of model inputs; NaN = missing.
    #[inline]
    pub fn margin(&self, x: &[f32]) -> f32 {
        let x = &x[..self.num_feature];
        let mut m = self.base_margin;
        if let Some(additive) = &self.additive {
            return additive.margin(x);
        }
        for &root in &self.roots {
            let mut i = root as usize;
            loop {
                let n = self.flat[i];
                if n.feature & LEAF != 0 {
                    m += n.value;
                    break;
                }
                let v = x[(n.feature & !DEFAULT_LEFT) as usize];
                let left = if v.is_nan() { n.feature & DEFAULT_LEFT != 0 } else { v < n.value };
                i = if left { n.left } else { n.right } as usize;
            }
        }
        m
    }

    #[inline]
    pub fn transform(&self, margin: f32) -> f32 {
        match self.objective {
            Objective::Logistic => sigmoid(margin),
            Objective::LogitRaw => margin,
        }
    }

    /// The model's output for one row: a churn probability for logistic objectives.
    #[inline]
    pub fn predict(&self, x: &[f32]) -> f32 {
        self.transform(self.margin(x))
    }

    /// Exact TreeSHAP contributions, XGBoost's `pred_contribs`: one value per feature and the
    /// bias last; they sum to the margin.
    pub fn contributions(&self, x: &[f32], out: &mut [f32], scratch: &mut shap::Scratch) {
        self.contributions_and_margin(x, out, scratch);
    }

    /// `contributions`, and the margin, equal to `margin(x)` bit for bit: the pass that
    /// explains each tree also finds the leaf the row lands on, so an explained row's score
    /// costs no second walk through the trees.
    pub fn contributions_and_margin(&self, x: &[f32], out: &mut [f32], scratch: &mut shap::Scratch) -> f32 {
        debug_assert_eq!(out.len(), self.num_feature + 1);
        out.iter_mut().for_each(|o| *o = 0.0);
        if let Some(additive) = &self.additive {
            return additive.contributions_and_margin(x, out);
        }
        let margin = self.paths.add(&self.trees, x, out, scratch, self.base_margin);
        out[self.num_feature] += self.base_margin;
        margin
    }

    /// The same contributions by the recursive TreeSHAP of XGBoost before 3.3, tree by tree:
    /// the reference the faster algorithms are tested and benchmarked against.
    pub fn contributions_by_recursion(&self, x: &[f32], out: &mut [f32], scratch: &mut shap::Scratch) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for t in &self.trees {
            shap::add_tree(t, x, out, scratch);
        }
        out[self.num_feature] += self.base_margin;
    }

    /// Microseconds one row's exact contributions take on this thread: the best of a few passes
    /// over up to 100 of `rows` (model inputs, row after row), so one slow pass (another process
    /// on the core) does not count. What `churn train` reports a customer's reasons cost.
    pub fn explain_cost_us(&self, rows: &[f32]) -> f64 {
        let m = self.num_feature.max(1);
        let rows = &rows[..rows.len().min(100 * m) / m * m];
        let n = rows.len() / m;
        if n == 0 {
            return 0.0;
        }
        let mut out = vec![0f32; self.num_feature + 1];
        let mut scratch = shap::Scratch::default();
        let mut best = f64::INFINITY;
        let start = std::time::Instant::now();
        for pass in 0..20 {
            let t = std::time::Instant::now();
            for x in rows.chunks(m) {
                self.contributions(x, &mut out, &mut scratch);
            }
            best = best.min(t.elapsed().as_secs_f64() / n as f64);
            if pass >= 2 && start.elapsed().as_secs_f64() > 0.2 {
                break;
            }
        }
        best * 1e6
    }

    /// Whether the forest is folded into step functions (all stumps): its cost then hardly
    /// depends on how many trees it has.
    pub fn is_folded(&self) -> bool {
        self.additive.is_some()
    }

    /// Trees and their deepest level, for reports of what explaining costs.
    pub fn max_depth(&self) -> usize {
        self.trees.iter().map(|t| t.max_depth).max().unwrap_or(0)
    }
}

/// XGBoost's `common::Sigmoid`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    const EPS: f32 = 1e-16;
    1.0f32 / ((-x).exp() + 1.0f32 + EPS)
}

fn parse_tree(tj: &Value, t: usize, num_feature: usize) -> Result<Tree, ForestError> {
    let field = |name: &str| -> Result<Vec<f64>, ForestError> {
        numbers(tj.get(name).ok_or_else(|| ForestError::Malformed(format!("tree {t} has no `{name}`")))?, name)
    };
    let left = field("left_children")?;
    let right = field("right_children")?;
    let split_indices = field("split_indices")?;
    let split_conditions = field("split_conditions")?;
    let default_left = field("default_left")?;
    let sum_hessian = field("sum_hessian")?;
    let n = left.len();
    if [right.len(), split_indices.len(), split_conditions.len(), default_left.len(), sum_hessian.len()]
        .iter()
        .any(|&m| m != n)
        || n == 0
    {
        return malformed(format!("tree {t} has arrays of different lengths"));
    }
    if let Some(Value::Array(types)) = tj.get("split_type") {
        if types.iter().any(|v| v.as_f64().unwrap_or(0.0) != 0.0) {
            return Err(ForestError::Unsupported(format!(
                "tree {t} uses categorical splits (enable_categorical); churn scores numeric splits only"
            )));
        }
    }
    if let Some(size) = tj.get("tree_param").and_then(|p| p.get("size_leaf_vector")) {
        if as_str_number(size, "size_leaf_vector")? > 1.0 {
            return Err(ForestError::Unsupported("vector leaves (multi-output trees)".into()));
        }
    }
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let (l, r) = (left[i] as i64, right[i] as i64);
        let is_leaf = l == -1;
        if !is_leaf {
            let ok = |c: i64| c >= 0 && (c as usize) < n && c as usize != i;
            if !ok(l) || !ok(r) {
                return malformed(format!("tree {t} node {i} has children {l}/{r} outside the tree"));
            }
            if split_indices[i] as usize >= num_feature {
                return malformed(format!("tree {t} node {i} splits on feature {} of {num_feature}", split_indices[i]));
            }
        }
        nodes.push(Node {
            left: l as i32,
            right: r as i32,
            feature: split_indices[i] as u32,
            value: split_conditions[i] as f32,
            default_left: default_left[i] != 0.0,
            cover: sum_hessian[i] as f32,
        });
    }
    check_is_a_tree(&nodes, t)?;
    let max_depth = depth(&nodes);
    if max_depth > MAX_TREE_DEPTH {
        return Err(ForestError::Unsupported(format!(
            "tree {t} is {max_depth} levels deep; churn scores and explains trees of up to {MAX_TREE_DEPTH} levels"
        )));
    }
    let mean_values = mean_values(&nodes);
    Ok(Tree { nodes, mean_values, max_depth })
}

/// The deepest tree churn takes. XGBoost's depth-wise trees stop at `max_depth` (6 by default);
/// only a loss-guided tree with no depth limit goes deeper, and TreeSHAP's work grows with the
/// square of the depth.
pub const MAX_TREE_DEPTH: usize = 512;

/// Every node reachable from the root exactly once: no cycles, no shared children, so the
/// recursive walks below terminate.
fn check_is_a_tree(nodes: &[Node], t: usize) -> Result<(), ForestError> {
    let mut seen = vec![false; nodes.len()];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            return malformed(format!("tree {t} reaches node {i} twice"));
        }
        if !nodes[i].is_leaf() {
            stack.push(nodes[i].left as usize);
            stack.push(nodes[i].right as usize);
        }
    }
    Ok(())
}

/// Nodes in an order where every node comes after its parent (walked without recursion, so a
/// deep tree from elsewhere cannot overflow the stack).
fn preorder(nodes: &[Node]) -> Vec<usize> {
    let mut order = Vec::with_capacity(nodes.len());
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        order.push(i);
        if !nodes[i].is_leaf() {
            stack.push(nodes[i].right as usize);
            stack.push(nodes[i].left as usize);
        }
    }
    order
}

/// XGBoost's `FillNodeMeanValue`, in float: children first, then their cover-weighted mean.
fn mean_values(nodes: &[Node]) -> Vec<f32> {
    let mut out = vec![0f32; nodes.len()];
    for &i in preorder(nodes).iter().rev() {
        let n = &nodes[i];
        out[i] = if n.is_leaf() {
            n.value
        } else {
            let (l, r) = (n.left as usize, n.right as usize);
            let mut v = out[l] * nodes[l].cover;
            v += out[r] * nodes[r].cover;
            v / n.cover
        };
    }
    out
}

fn depth(nodes: &[Node]) -> usize {
    let mut depths = vec![0usize; nodes.len()];
    let mut deepest = 0;
    for i in preorder(nodes) {
        let n = &nodes[i];
        if !n.is_leaf() {
            for c in [n.left as usize, n.right as usize] {
                depths[c] = depths[i] + 1;
                deepest = deepest.max(depths[c]);
            }
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made two-tree model: tree 0 splits feature 0 at 0.5 (missing goes right),
    /// tree 1 is a single leaf.
    pub(crate) fn tiny_model() -> Value {
        serde_json::from_str(include_str!("testdata/tiny_model.json")).unwrap()
    }

    #[test]
    fn evaluates_splits_missing_and_base_score() {
        let f = Forest::from_json(&tiny_model()).unwrap();
        let base = -((1.0f32 / 0.25 - 1.0).ln());
        assert_eq!(f.margin(&[0.0, 0.0]), base + -0.4 + 0.1);
        assert_eq!(f.margin(&[0.9, 0.0]), base + 0.3 + 0.1);
        assert_eq!(f.margin(&[f32::NAN, 0.0]), base + 0.3 + 0.1);
        assert!((f.predict(&[0.0, 0.0]) - 1.0 / (1.0 + (-(base - 0.3f32)).exp())).abs() < 1e-6);
        assert_eq!(f.xgboost_version, "3.2.0");
    }

    #[test]
    fn contributions_sum_to_the_margin() {
        let f = Forest::from_json(&tiny_model()).unwrap();
        let mut out = vec![0f32; 3];
        let mut scratch = shap::Scratch::default();
        f.contributions(&[0.0, 7.0], &mut out, &mut scratch);
        let sum: f32 = out.iter().sum();
        assert!((sum - f.margin(&[0.0, 7.0])).abs() < 1e-6, "{out:?}");
        // The expected value of tree 0 is 0.4*-0.4 + 0.6*0.3 = 0.02; feature 0 takes the rest.
        assert!((out[0] - (-0.4 - 0.02)).abs() < 1e-6);
        assert_eq!(out[1], 0.0);
    }

    #[test]
    fn refuses_what_it_cannot_score() {
        let mut m = tiny_model();
        m["learner"]["objective"]["name"] = "multi:softprob".into();
        assert!(matches!(Forest::from_json(&m), Err(ForestError::Unsupported(_))));
        let mut m = tiny_model();
        m["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 7.into();
        assert!(matches!(Forest::from_json(&m), Err(ForestError::Malformed(_))));
        assert!(Forest::from_bytes(b"binf...").is_err());
        assert!(Forest::from_bytes(b"").is_err());
    }

    /// A chain of 100,000 splits (a loss-guided tree with no depth limit could be one): refused
    /// by name at load, without a walk deep enough to overflow a thread's stack.
    #[test]
    fn a_tree_deeper_than_churn_explains_is_refused_without_overflowing_the_stack() {
        let n = 100_000usize;
        let nodes = 2 * n + 1;
        let (mut left, mut right) = (vec![-1i64; nodes], vec![-1i64; nodes]);
        for i in 0..n {
            left[2 * i] = 2 * i as i64 + 1;
            right[2 * i] = 2 * i as i64 + 2;
        }
        let mut m = tiny_model();
        let tree = &mut m["learner"]["gradient_booster"]["model"]["trees"][0];
        tree["left_children"] = serde_json::json!(left);
        tree["right_children"] = serde_json::json!(right);
        for key in ["split_indices", "default_left", "split_type"] {
            tree[key] = serde_json::json!(vec![0; nodes]);
        }
        tree["split_conditions"] = serde_json::json!(vec![0.5; nodes]);
        tree["sum_hessian"] = serde_json::json!(vec![1.0; nodes]);
        tree["tree_param"]["num_nodes"] = nodes.to_string().into();
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Forest::from_json(&m).map(|_| ()))
            .unwrap();
        match handle.join().expect("no stack overflow") {
            Err(ForestError::Unsupported(m)) => assert!(m.contains("levels deep"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
