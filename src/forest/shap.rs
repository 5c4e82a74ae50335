//! Exact path-dependent TreeSHAP (Lundberg et al., arXiv:1706.06060), written to follow
//! XGBoost's own `TreeShap` (before 3.3) step for step and in float32, so its contributions are
//! those of `pred_contribs`, not an approximation of them. Served models explain their trees
//! with `quadrature` (the same values in fewer steps; a stump's closed form, `stump_phi`, is
//! computed there once at load); this stays for paths longer than the quadrature takes, and as
//! the reference it is tested against.

use super::Tree;

#[derive(Debug, Clone, Copy, Default)]
pub struct PathElement {
    feature_index: i32,
    zero_fraction: f32,
    one_fraction: f32,
    pweight: f32,
}

/// Reusable buffers for one thread.
#[derive(Debug, Default)]
pub struct Scratch {
    path: Vec<PathElement>,
    tree: Vec<f32>,
    pub(super) sums: super::quadrature::Sums,
}

/// Adds one tree's contributions to `out` (features, then the bias in the last slot), in the
/// same float operations as XGBoost: the tree's own contributions are summed first, then added.
pub(crate) fn add_tree(tree: &Tree, x: &[f32], out: &mut [f32], scratch: &mut Scratch) {
    let bias = out.len() - 1;
    let root = &tree.nodes[0];
    if root.is_leaf() {
        out[bias] += tree.mean_values[0];
        return;
    }
    if tree.max_depth == 1 {
        let f = root.feature as usize;
        let v = x[f];
        let go_left = if v.is_nan() { root.default_left } else { v < root.value };
        out[f] += stump_phi(tree, go_left);
        out[bias] += tree.mean_values[0];
        return;
    }
    scratch.tree.clear();
    scratch.tree.resize(out.len(), 0.0);
    let mut tree_out = std::mem::take(&mut scratch.tree);
    tree_contributions(tree, x, &mut tree_out, &mut scratch.path);
    for (o, v) in out.iter_mut().zip(&tree_out) {
        *o += *v;
    }
    scratch.tree = tree_out;
}

/// The split feature's contribution in a stump whose hot (taken) branch is the left one or not.
/// Walking XGBoost's TreeShap by hand for one split gives an unwound path weight of exactly 1.0
/// on both sides, so the feature gets (1 - z_hot) * v_hot - z_cold * v_cold (z = child cover /
/// root cover), here in exactly XGBoost's float steps; the bias gets the tree's mean.
pub(crate) fn stump_phi(tree: &Tree, hot_is_left: bool) -> f32 {
    let root = &tree.nodes[0];
    let (hot, cold) = if hot_is_left { (root.left, root.right) } else { (root.right, root.left) };
    let (hot, cold) = (&tree.nodes[hot as usize], &tree.nodes[cold as usize]);
    let z_hot = hot.cover / root.cover;
    let z_cold = cold.cover / root.cover;
    let mut phi = 0f32;
    phi += 1.0f32 * (1.0f32 - z_hot) * hot.value * 1.0f32;
    if z_cold != 0.0 {
        phi += 1.0f32 * (0.0f32 - z_cold) * cold.value * 1.0f32;
    }
    phi
}

/// One tree's contributions (features, then the tree's expected value in the last slot).
fn tree_contributions(tree: &Tree, x: &[f32], phi: &mut [f32], scratch: &mut Vec<PathElement>) {
    let bias = phi.len() - 1;
    phi[bias] += tree.mean_values[0];
    if tree.nodes[0].is_leaf() {
        return;
    }
    let maxd = tree.max_depth + 2;
    let need = maxd * (maxd + 1) / 2;
    if scratch.len() < need {
        scratch.resize(need, PathElement::default());
    }
    recurse(tree, x, phi, 0, 0, scratch, 0, 1.0, 1.0, -1, 1.0);
}

fn extend_path(path: &mut [PathElement], depth: usize, zero_fraction: f32, one_fraction: f32, feature_index: i32) {
    path[depth].feature_index = feature_index;
    path[depth].zero_fraction = zero_fraction;
    path[depth].one_fraction = one_fraction;
    path[depth].pweight = if depth == 0 { 1.0 } else { 0.0 };
    let d1 = (depth + 1) as f32;
    for i in (0..depth).rev() {
        path[i + 1].pweight += one_fraction * path[i].pweight * (i + 1) as f32 / d1;
        path[i].pweight = zero_fraction * path[i].pweight * (depth - i) as f32 / d1;
    }
}

fn unwind_path(path: &mut [PathElement], depth: usize, path_index: usize) {
    let one_fraction = path[path_index].one_fraction;
    let zero_fraction = path[path_index].zero_fraction;
    let mut next_one_portion = path[depth].pweight;
    let d1 = (depth + 1) as f32;
    for i in (0..depth).rev() {
        if one_fraction != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one_portion * d1 / ((i + 1) as f32 * one_fraction);
            next_one_portion = tmp - path[i].pweight * zero_fraction * (depth - i) as f32 / d1;
        } else {
            path[i].pweight = (path[i].pweight * d1) / (zero_fraction * (depth - i) as f32);
        }
    }
    for i in path_index..depth {
        path[i].feature_index = path[i + 1].feature_index;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

fn unwound_path_sum(path: &[PathElement], depth: usize, path_index: usize) -> f32 {
    let one_fraction = path[path_index].one_fraction;
    let zero_fraction = path[path_index].zero_fraction;
    let mut next_one_portion = path[depth].pweight;
    let mut total = 0f32;
    let d1 = (depth + 1) as f32;
    for i in (0..depth).rev() {
        if one_fraction != 0.0 {
            let tmp = next_one_portion * d1 / ((i + 1) as f32 * one_fraction);
            total += tmp;
            next_one_portion = path[i].pweight - tmp * zero_fraction * ((depth - i) as f32 / d1);
        } else if zero_fraction != 0.0 {
            total += (path[i].pweight / zero_fraction) / ((depth - i) as f32 / d1);
        }
    }
    total
}

/// `path_start` is where the parent's path begins in the scratch buffer; each level copies it
/// one slot further, as XGBoost's `parent_unique_path + unique_depth + 1` does.
#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    x: &[f32],
    phi: &mut [f32],
    node_index: usize,
    depth: usize,
    scratch: &mut [PathElement],
    path_start: usize,
    parent_zero_fraction: f32,
    parent_one_fraction: f32,
    parent_feature_index: i32,
    condition_fraction: f32,
) {
    if condition_fraction == 0.0 {
        return;
    }
    let mut depth = depth;
    let start = path_start + depth + 1;
    let (parent, rest) = scratch.split_at_mut(start);
    rest[..depth + 1].copy_from_slice(&parent[path_start..path_start + depth + 1]);
    let path = &mut rest[..];
    extend_path(path, depth, parent_zero_fraction, parent_one_fraction, parent_feature_index);

    let node = &tree.nodes[node_index];
    if node.is_leaf() {
        for i in 1..=depth {
            let w = unwound_path_sum(path, depth, i);
            let el = path[i];
            phi[el.feature_index as usize] +=
                w * (el.one_fraction - el.zero_fraction) * node.value * condition_fraction;
        }
        return;
    }
    let split = node.feature as usize;
    let v = x[split];
    let hot = if v.is_nan() {
        if node.default_left {
            node.left
        } else {
            node.right
        }
    } else if v < node.value {
        node.left
    } else {
        node.right
    } as usize;
    let cold = if hot == node.left as usize { node.right as usize } else { node.left as usize };
    let w = node.cover;
    let hot_zero_fraction = tree.nodes[hot].cover / w;
    let cold_zero_fraction = tree.nodes[cold].cover / w;
    let mut incoming_zero_fraction = 1f32;
    let mut incoming_one_fraction = 1f32;
    if let Some(path_index) = (0..=depth).find(|&k| path[k].feature_index == split as i32) {
        incoming_zero_fraction = path[path_index].zero_fraction;
        incoming_one_fraction = path[path_index].one_fraction;
        unwind_path(path, depth, path_index);
        depth -= 1;
    }
    recurse(
        tree,
        x,
        phi,
        hot,
        depth + 1,
        scratch,
        start,
        hot_zero_fraction * incoming_zero_fraction,
        incoming_one_fraction,
        split as i32,
        condition_fraction,
    );
    recurse(
        tree,
        x,
        phi,
        cold,
        depth + 1,
        scratch,
        start,
        cold_zero_fraction * incoming_zero_fraction,
        0.0,
        split as i32,
        condition_fraction,
    );
}
