//! Exact path-dependent TreeSHAP in O(links) per tree and row (at most leaves x depth; see
//! below), by Gauss-Legendre quadrature over each leaf's unique path (the integral form of the
//! Shapley weights that Linear TreeSHAP and XGBoost 3.3's QuadratureTreeSHAP use).
//!
//! Why it is exact: a leaf `l` with value `v` whose path holds the features `j` (repeated splits
//! on one feature merged, as TreeSHAP merges them) with cover fraction `z_j` and indicator `o_j`
//! (does the row follow every split of `j` on the path) gives feature `i`
//! `v (o_i - z_i) sum_S w(|S|, d) prod_{j in S} o_j prod_{j not in S, j != i} z_j`, and the
//! Shapley weight `w(s, d) = s! (d-1-s)! / d!` is `integral_0^1 t^s (1-t)^(d-1-s) dt`, so the sum is
//! `v (o_i - z_i) integral_0^1 prod_{j != i} (z_j + (o_j - z_j) t) dt`: a polynomial of degree
//! `d - 1`, which an n-point Gauss-Legendre rule integrates exactly when `2n - 1 >= d - 1`.
//! Four points cover paths of up to 8 features, eight up to 16; deeper paths (loss-guided
//! trees without a depth limit) keep the recursive algorithm of `shap`.
//!
//! Everything that depends on the model alone is built once at load. Each leaf's merged path
//! (per feature: the interval of values that follows it, where a missing value goes, the cover
//! fraction) goes into a trie: leaves laid out depth first share their paths' elements up to
//! the first difference, and each shared element (a link) is worked once per row, in two
//! passes as in Linear TreeSHAP. Going down, its factor and the product of the factors above
//! it; going up, the sum over the paths through it of the leaf value times the factors below
//! it. A row thus costs two comparisons and a few multiply-adds per link, and no division: a
//! split repeating a feature changes the merged element, which starts a new branch of the trie.
//! A stump's contributions are computed at load (a row costs one comparison), and the bias slot
//! (every tree's expected value) is summed at load in XGBoost's order. Each tree's contributions
//! are summed in float64 and added to the row's float32 totals tree by tree, as XGBoost adds its
//! trees', so the totals stay within 1e-6 of `pred_contribs`.

use super::additive::{Part, Stump};
use super::{shap, Tree};

/// A feature of one leaf's merged path.
#[derive(Debug, Clone, Copy)]
struct Element {
    /// The feature; bit 31 set when a missing value follows every split of it on the path.
    feature: u32,
    /// The row follows the path's splits of this feature when `lo <= x < hi`.
    lo: f32,
    hi: f32,
    /// The share of the training cover that follows the path's splits of this feature.
    zero_fraction: f32,
}

const MISSING_FOLLOWS: u32 = 1 << 31;

impl Element {
    #[inline]
    fn index(&self) -> usize {
        (self.feature & !MISSING_FOLLOWS) as usize
    }

    /// Whether the row follows this feature's splits (`o_j`), without branches: which way a
    /// value goes is data, and mispredicted jumps would cost more than the arithmetic.
    #[inline(always)]
    fn follows(&self, x: &[f32]) -> f64 {
        let v = x[self.index()];
        let missing = v.is_nan();
        // +inf goes right of every finite split, as XGBoost's `v < split` sends it.
        let w = if v > f32::MAX { f32::MAX } else { v };
        let inside = (w >= self.lo) & (w < self.hi);
        let follows = (inside & !missing) | (missing & (self.feature & MISSING_FOLLOWS != 0));
        follows as u8 as f64
    }

    /// The same element, bit for bit: a leaf shares the links of the path elements before its
    /// first difference with the leaf laid out before it.
    fn same(&self, other: &Element) -> bool {
        self.feature == other.feature
            && self.lo.to_bits() == other.lo.to_bits()
            && self.hi.to_bits() == other.hi.to_bits()
            && self.zero_fraction.to_bits() == other.zero_fraction.to_bits()
    }
}

/// One element of the tree's leaf paths, once for every leaf path that shares it and all the
/// elements before it: the leaf paths, laid out depth first, form a trie of elements.
#[derive(Debug, Clone, Copy)]
struct Link {
    element: Element,
    /// The link before it on its paths (its place among the tree's links, plus one), 0 at the
    /// root.
    parent: u32,
    /// The leaf's value where a path ends here, else 0 (links below add to it).
    value: f32,
    /// Whether a path ends here (a leaf's own last element).
    ends: bool,
}

/// How one tree is explained.
#[derive(Debug, Clone)]
enum Plan {
    /// A single leaf: only its expected value, in the bias.
    Leaf,
    /// A stump, with its contributions computed once (`super::as_part`).
    Stump(Stump),
    /// Paths of at most 8 (`points` = 4) or 16 (8) features: the quadrature.
    Paths { links: std::ops::Range<usize>, features: std::ops::Range<usize>, points: usize },
    /// Longer paths: the recursive algorithm.
    Recursive,
}

/// The per-model part of the algorithm: the plan and leaf paths of every tree it explains.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    plans: Vec<Plan>,
    /// The bias slot: every tree's expected value added in the forest's order, in float32 as
    /// XGBoost adds them (it does not depend on the row).
    bias: f32,
    links: Vec<Link>,
    /// The distinct features of each tree with paths (where its sums are added).
    features: Vec<u32>,
}

/// Scratch of one thread: per-feature float64 sums of the tree being explained, one lane per
/// quadrature point (added across once per tree, not once per path element), and each link's
/// working values (`tree_sums`) for the rules of 4 and 8 points.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sums {
    by_feature: Vec<[f64; 8]>,
    four: Vec<Work<4>>,
    eight: Vec<Work<8>>,
}

/// One link's values at the rule's points: its factor `g`, its `head` and the `prefix` product
/// down to it, and the `tail` the links below it hand up; and whether the row follows every
/// link from the root to it (`on`: where that ends at a leaf, the row lands there).
#[derive(Debug, Clone, Copy)]
struct Work<const N: usize> {
    g: [f64; N],
    head: [f64; N],
    prefix: [f64; N],
    tail: [f64; N],
    on: f64,
}

const MAX_PATH: usize = 16;

impl Paths {
    pub(crate) fn new(trees: &[Tree]) -> Paths {
        let mut p = Paths::default();
        for tree in trees {
            let plan = match super::as_part(tree) {
                Some(Part::Leaf { .. }) => Plan::Leaf,
                Some(Part::Split(stump)) => Plan::Stump(stump),
                None => p.add_paths(tree).unwrap_or(Plan::Recursive),
            };
            p.plans.push(plan);
            p.bias += tree.mean_values[0];
        }
        p
    }

    /// The trie of the tree's leaf paths (each leaf's path merged: one element per feature), or
    /// None (and nothing kept) when a path is longer than `MAX_PATH`.
    fn add_paths(&mut self, tree: &Tree) -> Option<Plan> {
        let (links_start, features_start) = (self.links.len(), self.features.len());
        let mut longest = 0;
        // The previous leaf's path and its links: the next leaf shares the elements they have
        // in common from the start (leaves are visited depth first, so neighbours share most).
        let (mut before, mut chain): (Vec<Element>, Vec<u32>) = (Vec::new(), Vec::new());
        // Depth-first, carrying the merged path from the root (no recursion: trees may be deep).
        let mut stack: Vec<(usize, Vec<Element>)> = vec![(0, Vec::new())];
        while let Some((i, path)) = stack.pop() {
            let node = &tree.nodes[i];
            if node.is_leaf() {
                if path.len() > MAX_PATH {
                    self.links.truncate(links_start);
                    return None;
                }
                longest = longest.max(path.len());
                // At least the last element is the leaf's own, even where two leaves' merged
                // paths are equal (a split of an empty interval with equal covers).
                let shared = before.iter().zip(&path).take_while(|(a, b)| a.same(b)).count().min(path.len() - 1);
                chain.truncate(shared);
                for e in &path[shared..] {
                    let parent = chain.last().map_or(0, |&c| c + 1);
                    chain.push((self.links.len() - links_start) as u32);
                    self.links.push(Link { element: *e, parent, value: 0.0, ends: false });
                }
                let end = self.links.last_mut().expect("a leaf below the root has a path");
                (end.value, end.ends) = (node.value, true);
                before = path;
                continue;
            }
            for (child, is_left) in [(node.right as usize, false), (node.left as usize, true)] {
                let mut path = path.clone();
                // XGBoost's zero fraction of this edge, in float32, times the merged one's.
                let fraction = tree.nodes[child].cover / node.cover;
                let missing_follows = node.default_left == is_left;
                let (lo, hi) = if is_left { (f32::NEG_INFINITY, node.value) } else { (node.value, f32::INFINITY) };
                match path.iter_mut().find(|e| e.index() == node.feature as usize) {
                    Some(e) => {
                        e.zero_fraction *= fraction;
                        e.lo = e.lo.max(lo);
                        e.hi = e.hi.min(hi);
                        if !missing_follows {
                            e.feature &= !MISSING_FOLLOWS;
                        }
                    }
                    None => path.push(Element {
                        feature: node.feature | if missing_follows { MISSING_FOLLOWS } else { 0 },
                        lo,
                        hi,
                        zero_fraction: fraction,
                    }),
                }
                stack.push((child, path));
            }
        }
        let mut features: Vec<u32> = self.links[links_start..].iter().map(|l| l.element.index() as u32).collect();
        features.sort_unstable();
        features.dedup();
        self.features.extend(features);
        Some(Plan::Paths {
            links: links_start..self.links.len(),
            features: features_start..self.features.len(),
            points: if longest <= 8 { 4 } else { 8 },
        })
    }

    /// Adds every tree's contributions to `out` (features, then the trees' expected values in
    /// the last slot), tree by tree, and returns the margin: `base_margin` plus the value of
    /// the leaf the row lands on in each tree, added in float32 in the trees' order (as
    /// `Forest::margin` and XGBoost add them, so the two are equal bit for bit).
    pub(crate) fn add(
        &self,
        trees: &[Tree],
        x: &[f32],
        out: &mut [f32],
        scratch: &mut shap::Scratch,
        base_margin: f32,
    ) -> f32 {
        let mut margin = base_margin;
        let mut sums = std::mem::take(&mut scratch.sums);
        if sums.by_feature.len() < out.len() {
            sums.by_feature.resize(out.len(), [0.0; 8]);
        }
        let bias = out.len() - 1;
        for (tree, plan) in trees.iter().zip(&self.plans) {
            match plan {
                Plan::Leaf => margin += tree.nodes[0].value,
                Plan::Stump(s) => {
                    let (phi, value) = if s.goes_left(x) { (s.phi_left, s.left) } else { (s.phi_right, s.right) };
                    out[s.feature as usize] += phi;
                    margin += value;
                }
                Plan::Recursive => {
                    // The tree's expected value is in `self.bias` already.
                    let before = out[bias];
                    shap::add_tree(tree, x, out, scratch);
                    out[bias] = before;
                    margin += tree.leaf_value(x);
                }
                Plan::Paths { links, features, points } => {
                    let links = &self.links[links.clone()];
                    margin += match points {
                        4 => tree_sums_fast(links, x, &mut sums.by_feature, &mut sums.four),
                        _ => tree_sums_fast(links, x, &mut sums.by_feature, &mut sums.eight),
                    };
                    for &f in &self.features[features.clone()] {
                        let lanes = &mut sums.by_feature[f as usize];
                        out[f as usize] += lanes[..*points].iter().sum::<f64>() as f32;
                        *lanes = [0.0; 8];
                    }
                }
            }
        }
        out[bias] += self.bias;
        scratch.sums = sums;
        margin
    }
}

/// `tree_sums` with the widest vector instructions the processor has: the lanes of one link's
/// quadrature points are then one register (checked once per process).
#[inline]
fn tree_sums_fast<const N: usize>(links: &[Link], x: &[f32], sums: &mut [[f64; 8]], work: &mut Vec<Work<N>>) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        static WIDE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *WIDE.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            // SAFETY: the processor has the features the function is compiled for.
            return unsafe { tree_sums_avx2(links, x, sums, work) };
        }
    }
    tree_sums(links, x, sums, work)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tree_sums_avx2<const N: usize>(
    links: &[Link],
    x: &[f32],
    sums: &mut [[f64; 8]],
    work: &mut Vec<Work<N>>,
) -> f32 {
    tree_sums(links, x, sums, work)
}

/// One tree's contributions, summed per feature and quadrature point into `sums`, once per
/// link of the trie. Going down, a link with factor `g(t_k) = z + (o - z) t_k` below a
/// product `p[k] = w_k prod g(t_k)` of the links above it gets `head[k] = (o - z) p[k]`;
/// going up, its `tail[k]` is the sum over the paths through it of the leaf value times the
/// factors of the links below: its feature's share of the integral at point `k` is
/// `head[k] * tail[k]`, and it hands `g * tail` up to its parent. Returns the value of the
/// leaf the row lands on.
#[inline(always)]
fn tree_sums<const N: usize>(links: &[Link], x: &[f32], sums: &mut [[f64; 8]], work: &mut Vec<Work<N>>) -> f32 {
    let (t, w) = rule::<N>();
    let (t, w) = (*t, *w);
    if work.len() < links.len() {
        work.resize(links.len(), Work { g: [0.0; N], head: [0.0; N], prefix: [0.0; N], tail: [0.0; N], on: 0.0 });
    }
    let work = &mut work[..links.len()];
    // Exactly one leaf has every link of its path followed: the row's.
    let mut landed = 0f32;
    for i in 0..links.len() {
        let link = &links[i];
        let (above, on_above) = match link.parent {
            0 => (w, 1.0),
            p => (work[p as usize - 1].prefix, work[p as usize - 1].on),
        };
        let z = link.element.zero_fraction as f64;
        let follows = link.element.follows(x);
        let slope = follows - z;
        let me = &mut work[i];
        for k in 0..N {
            me.g[k] = z + slope * t[k];
            me.head[k] = slope * above[k];
            me.prefix[k] = above[k] * me.g[k];
            me.tail[k] = link.value as f64;
        }
        me.on = on_above * follows;
        if link.ends && me.on != 0.0 {
            landed = link.value;
        }
    }
    for i in (0..links.len()).rev() {
        let link = &links[i];
        let me = work[i];
        let lanes = &mut sums[link.element.index()];
        for (k, lane) in lanes.iter_mut().take(N).enumerate() {
            *lane += me.head[k] * me.tail[k];
        }
        if link.parent != 0 {
            let parent = &mut work[link.parent as usize - 1];
            for k in 0..N {
                parent.tail[k] += me.g[k] * me.tail[k];
            }
        }
    }
    landed
}

/// The n-point Gauss-Legendre rule on [0, 1]: nodes and weights.
#[inline(always)]
fn rule<const N: usize>() -> &'static ([f64; N], [f64; N]) {
    static FOUR: std::sync::OnceLock<([f64; 4], [f64; 4])> = std::sync::OnceLock::new();
    static EIGHT: std::sync::OnceLock<([f64; 8], [f64; 8])> = std::sync::OnceLock::new();
    let any: &'static dyn std::any::Any = match N {
        4 => FOUR.get_or_init(gauss_legendre::<4>),
        8 => EIGHT.get_or_init(gauss_legendre::<8>),
        _ => unreachable!("rules of 4 and 8 points"),
    };
    any.downcast_ref().expect("the rule of N points")
}

/// Nodes and weights of the n-point Gauss-Legendre rule, mapped from [-1, 1] to [0, 1]: the roots
/// of the Legendre polynomial P_n by Newton's method from Tricomi's estimate.
fn gauss_legendre<const N: usize>() -> ([f64; N], [f64; N]) {
    let n = N as f64;
    let (mut t, mut w) = ([0f64; N], [0f64; N]);
    for i in 0..N {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            // P_n(x) and P_n'(x) by the three-term recurrence.
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=N {
                let k = k as f64;
                let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            derivative = n * (x * p1 - p0) / (x * x - 1.0);
            let step = p1 / derivative;
            x -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        t[i] = (1.0 - x) / 2.0;
        w[i] = 1.0 / ((1.0 - x * x) * derivative * derivative);
    }
    (t, w)
}

#[cfg(test)]
mod tests {
    use super::super::{mean_values, Node, Tree};
    use super::*;

    #[test]
    fn the_rules_integrate_polynomials_of_their_degree_exactly() {
        fn check<const N: usize>() {
            let (t, w) = gauss_legendre::<N>();
            for degree in 0..2 * N {
                let integral: f64 = t.iter().zip(&w).map(|(t, w)| w * t.powi(degree as i32)).sum();
                assert!((integral - 1.0 / (degree as f64 + 1.0)).abs() < 1e-14, "{N} points, degree {degree}");
            }
        }
        check::<4>();
        check::<8>();
    }

    /// A reproducible random tree of the given depth over `features` features, with repeated
    /// features on paths, uneven covers, some zero covers and random missing directions.
    fn random_tree(depth: usize, features: u32, seed: u64) -> Tree {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut nodes = vec![Node { left: -1, right: -1, feature: 0, value: 0.0, default_left: false, cover: 100.0 }];
        let mut frontier = vec![(0usize, 0usize)];
        while let Some((i, d)) = frontier.pop() {
            if d == depth || (d > 1 && next() < 0.15) || nodes[i].cover == 0.0 {
                nodes[i].value = (next() * 2.0 - 1.0) as f32;
                continue;
            }
            let cover = nodes[i].cover;
            let share = if next() < 0.05 { 0.0 } else { next() as f32 };
            let (l, r) = (nodes.len() as i32, nodes.len() as i32 + 1);
            let leaf = |c: f32| Node { left: -1, right: -1, feature: 0, value: 0.0, default_left: false, cover: c };
            nodes.push(leaf(cover * share));
            nodes.push(leaf(cover - cover * share));
            nodes[i] = Node {
                left: l,
                right: r,
                feature: (next() * features as f64) as u32,
                value: (next() * 4.0 - 2.0) as f32,
                default_left: next() < 0.5,
                cover,
            };
            frontier.push((l as usize, d + 1));
            frontier.push((r as usize, d + 1));
        }
        let mean_values = mean_values(&nodes);
        let max_depth = super::super::depth(&nodes);
        Tree { nodes, mean_values, max_depth }
    }

    #[test]
    fn equals_the_recursive_algorithm_on_random_trees() {
        let mut worst = 0f32;
        for seed in 0..300u64 {
            let depth = 2 + (seed % 9) as usize;
            let m = 2 + (seed % 7) as u32;
            // Stumps and lone leaves among deeper trees, as in a stack.
            let trees: Vec<Tree> =
                (0..3).map(|k| random_tree(if k == 0 { seed as usize % 2 } else { depth }, m, seed * 3 + k)).collect();
            let paths = Paths::new(&trees);
            let mut scratch = shap::Scratch::default();
            for r in 0..20u64 {
                let x: Vec<f32> = (0..m as u64)
                    .map(|j| {
                        let h = (seed * 7919 + r * 104729 + j * 1299709) % 1000;
                        if h < 120 {
                            f32::NAN
                        } else {
                            h as f32 / 250.0 - 2.0
                        }
                    })
                    .collect();
                let mut ours = vec![0f32; m as usize + 1];
                let margin = paths.add(&trees, &x, &mut ours, &mut scratch, 0.5);
                // The margin found on the way is the trees' leaves added in order.
                let walked = trees.iter().fold(0.5f32, |m, t| m + t.leaf_value(&x));
                assert_eq!(margin.to_bits(), walked.to_bits(), "seed {seed}, row {r}");
                let mut reference = vec![0f32; m as usize + 1];
                for t in &trees {
                    shap::add_tree(t, &x, &mut reference, &mut scratch);
                }
                for (a, b) in ours.iter().zip(&reference) {
                    assert!(a.is_finite() && b.is_finite(), "{ours:?} against {reference:?}");
                    // The reference sums in float32: allow its rounding on large values.
                    worst = worst.max((a - b).abs() / b.abs().max(1.0));
                }
            }
        }
        assert!(worst <= 1e-6, "largest difference to the recursive TreeSHAP, relative above 1: {worst}");
    }

    /// `n` splits on features 0..n, each sending values below 0.5 to a leaf.
    fn chain(n: usize) -> Tree {
        let mut nodes = Vec::new();
        for f in 0..n {
            let i = nodes.len() as i32;
            let cover = 100.0 - f as f32;
            nodes.push(Node { left: i + 1, right: i + 2, feature: f as u32, value: 0.5, default_left: true, cover });
            nodes.push(Node {
                left: -1,
                right: -1,
                feature: 0,
                value: f as f32 / 10.0,
                default_left: false,
                cover: 1.0,
            });
        }
        nodes.push(Node { left: -1, right: -1, feature: 0, value: -1.0, default_left: false, cover: 100.0 - n as f32 });
        let mean_values = mean_values(&nodes);
        let max_depth = super::super::depth(&nodes);
        Tree { nodes, mean_values, max_depth }
    }

    #[test]
    fn each_tree_gets_the_rule_its_longest_path_needs() {
        let plans = Paths::new(&[chain(1), chain(8), chain(9), chain(16), chain(17)]).plans;
        assert!(matches!(plans[0], Plan::Stump(_)));
        assert!(matches!(plans[1], Plan::Paths { points: 4, .. }));
        assert!(matches!(plans[2], Plan::Paths { points: 8, .. }));
        assert!(matches!(plans[3], Plan::Paths { points: 8, .. }));
        assert!(matches!(plans[4], Plan::Recursive));
        // And each is explained exactly.
        let trees = [chain(1), chain(8), chain(9), chain(16), chain(17)];
        let paths = Paths::new(&trees);
        let mut scratch = shap::Scratch::default();
        let x: Vec<f32> = (0..17)
            .map(|j| {
                if j % 3 == 0 {
                    1.0
                } else if j % 3 == 1 {
                    f32::NAN
                } else {
                    0.0
                }
            })
            .collect();
        let (mut ours, mut reference) = (vec![0f32; 18], vec![0f32; 18]);
        let margin = paths.add(&trees, &x, &mut ours, &mut scratch, 0.0);
        // The margin found on the way, the recursive tree's included, is the walked one.
        let walked = trees.iter().fold(0f32, |m, t| m + t.leaf_value(&x));
        assert_eq!(margin.to_bits(), walked.to_bits());
        for t in &trees {
            shap::add_tree(t, &x, &mut reference, &mut scratch);
        }
        for (a, b) in ours.iter().zip(&reference) {
            assert!((a - b).abs() <= 1e-6, "{ours:?} against {reference:?}");
        }
    }
}
