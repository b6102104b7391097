//! Flat tree-ensemble layout and batched traversal shared by
//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor`.
//!
//! Everything that can go wrong with the ONNX attributes is checked in
//! [`FlatEnsemble::build`]; the evaluation entry points only check that the
//! input is wide enough for the features the trees read, once per call.
//!
//! Layout:
//! * all trees live in one `Vec<Node>` of 16-byte nodes (feature, threshold,
//!   left, right), each tree laid out breadth-first from its root so that the
//!   top levels, hit by every row, share cache lines;
//! * leaves are nodes too: both children point back at the leaf itself, so a
//!   traversal can take a fixed number of steps (the depth of the deepest
//!   leaf) with no "is this a leaf" branch, and several traversals can run in
//!   lock-step for instruction-level parallelism;
//! * a leaf's payload sits in its `threshold` field: the leaf value itself when
//!   the ensemble writes a single score column, otherwise (bit-cast) the index
//!   of a `(start, len)` range into the flat `weights` array;
//! * BRANCH_LEQ / LT / GTE / GT nodes are all rewritten at build time to the one
//!   form `x <= t' ? left : right` (LT uses the next float below the threshold,
//!   GT/GTE swap the children), with a per-node "NaN goes left" bit that
//!   encodes `nodes_missing_value_tracks_true` and the NaN behaviour of the
//!   original comparison. Only ensembles with BRANCH_EQ / BRANCH_NEQ nodes fall
//!   back to a per-node mode switch.
//!
//! Ensembles without BRANCH_EQ / BRANCH_NEQ whose trees are shallow (XGBoost's
//! `max_depth` 5, sklearn's gradient boosting) are also padded to complete
//! trees stored level by level ([`Complete`]), which is the layout the walks
//! use when it exists: a step is then `g = 2g + (x > t)`, with no child
//! pointer to load, and missing values are handled by reading a row widened to
//! two columns per feature (NaN as -inf and as +inf) rather than by a test per
//! step. One row walks 16 trees in lock-step; a block of 16 rows is transposed
//! and walks 4 trees at a time, 64 walks in lock-step. Deeper trees keep the
//! breadth-first layout.

use std::collections::HashMap;
use std::collections::VecDeque;

use tract_onnx::tract_hir::internal::*;

/// Node comparison modes, as in the ONNX spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum NodeMode {
    BranchLeq = 0,
    BranchLt = 1,
    BranchGte = 2,
    BranchGt = 3,
    BranchEq = 4,
    BranchNeq = 5,
    Leaf = 6,
}

impl NodeMode {
    pub fn parse(s: &str) -> Option<NodeMode> {
        Some(match s {
            "BRANCH_LEQ" => NodeMode::BranchLeq,
            "BRANCH_LT" => NodeMode::BranchLt,
            "BRANCH_GTE" => NodeMode::BranchGte,
            "BRANCH_GT" => NodeMode::BranchGt,
            "BRANCH_EQ" => NodeMode::BranchEq,
            "BRANCH_NEQ" => NodeMode::BranchNeq,
            "LEAF" => NodeMode::Leaf,
            _ => return None,
        })
    }

    #[inline(always)]
    fn compare(self, x: f32, t: f32) -> bool {
        match self {
            NodeMode::BranchLeq => x <= t,
            NodeMode::BranchLt => x < t,
            NodeMode::BranchGte => x >= t,
            NodeMode::BranchGt => x > t,
            NodeMode::BranchEq => x == t,
            NodeMode::BranchNeq => x != t,
            NodeMode::Leaf => true,
        }
    }

    fn from_u8(m: u8) -> NodeMode {
        match m {
            0 => NodeMode::BranchLeq,
            1 => NodeMode::BranchLt,
            2 => NodeMode::BranchGte,
            3 => NodeMode::BranchGt,
            4 => NodeMode::BranchEq,
            5 => NodeMode::BranchNeq,
            _ => NodeMode::Leaf,
        }
    }
}

/// How a leaf's weights combine into a score column, and how trees combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

impl Aggregate {
    pub fn parse(s: &str) -> Option<Aggregate> {
        Some(match s {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            _ => return None,
        })
    }

    #[inline(always)]
    fn fold(self, acc: f32, has: bool, w: f32) -> f32 {
        match self {
            Aggregate::Sum | Aggregate::Average => acc + w,
            // onnxruntime: `(!has || w < score) ? w : score`
            Aggregate::Min => {
                if !has || w < acc {
                    w
                } else {
                    acc
                }
            }
            Aggregate::Max => {
                if !has || w > acc {
                    w
                } else {
                    acc
                }
            }
        }
    }
}

/// The raw ONNX attributes describing the trees, already type-checked and
/// length-checked by the caller (which knows the attribute names).
pub struct TreeAttributes<'a> {
    pub tree_ids: &'a [i64],
    pub node_ids: &'a [i64],
    pub feature_ids: &'a [i64],
    pub modes: &'a [NodeMode],
    pub values: &'a [f32],
    pub true_ids: &'a [i64],
    pub false_ids: &'a [i64],
    /// Empty, or one flag per node.
    pub missing_tracks_true: &'a [bool],
    pub weight_tree_ids: &'a [i64],
    pub weight_node_ids: &'a [i64],
    pub weight_column_ids: &'a [i64],
    pub weights: &'a [f32],
    /// `class` for a classifier, `target` for a regressor (error messages).
    pub weight_prefix: &'static str,
    /// Number of score columns (classes or targets).
    pub n_columns: usize,
    pub aggregate: Aggregate,
    /// onnxruntime evaluates single-target regressors with the first weight of
    /// each leaf only, whatever its target id.
    pub first_weight_only: bool,
}

/// 16 bytes: four nodes per cache line.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Node {
    /// Feature index; bit 31 set means "NaN goes left" (normalized form) or
    /// "missing value tracks true" (general form).
    feature: u32,
    /// Threshold, or the leaf payload for leaves.
    threshold: f32,
    left: u32,
    right: u32,
}

const NAN_BIT: u32 = 1 << 31;
const FEATURE_MASK: u32 = !NAN_BIT;
/// Number of traversals run in lock-step.
const LANES: usize = 16;
/// Trees walked at once by a block of `LANES` rows of the complete layout.
const TREES_PER_BLOCK: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    /// Every leaf writes to this one column; the leaf value is stored inline.
    Single(usize),
    /// Leaves carry `(column, weight)` lists.
    Multi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// Normalized `x <= t` nodes, ignoring the NaN bit (no NaN in the input,
    /// or no node sends NaN left).
    Plain,
    /// Normalized nodes, NaN bit honoured.
    NanAware,
    /// Per-node mode (BRANCH_EQ / BRANCH_NEQ present).
    General,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FlatEnsemble {
    nodes: Vec<Node>,
    /// Per-node mode, only for the general kernel.
    modes: Vec<u8>,
    normalized: bool,
    any_nan_left: bool,
    roots: Vec<u32>,
    /// Steps needed to reach the deepest leaf of each tree.
    depths: Vec<u32>,
    /// `(start, len)` into `weights`, for `Columns::Multi`.
    leaf_ranges: Vec<(u32, u32)>,
    /// `(column, weight)` pairs, for `Columns::Multi`.
    weights: Vec<(u32, f32)>,
    columns: Columns,
    n_columns: usize,
    /// Smallest input width accepted (max feature index + 1).
    min_width: usize,
    /// Every class/target id mentioned by the weights, leaves or not.
    distinct_weight_columns: usize,
    all_weights_non_negative: bool,
    /// The same trees padded to complete trees, when that is cheap (see [`Complete`]).
    complete: Option<Complete>,
}

/// Largest depth padded to complete trees: 2^8 leaves per tree at most.
const MAX_COMPLETE_DEPTH: u32 = 8;

/// Every tree padded to a complete binary tree of the ensemble's depth `D`, stored
/// level by level across trees: level `k` holds `n_trees << k` nodes, node `j` of
/// tree `t` at index `(t << k) + j`. The children of node `g` of a level are then
/// `2g` and `2g + 1` of the next one, for every tree at once, so a walk is one
/// index per lane and a step is `g = 2g + (x > t)`: no child pointers to load,
/// and every lane reads the same level. A leaf shallower than `D` becomes a
/// subtree of padding nodes (feature 0, any threshold) whose leaves all carry its
/// payload, so which way a padding node goes does not matter.
///
/// Missing values cost no test either: the walk reads a widened row with two
/// columns per feature, `2f` where NaN is -inf and `2f + 1` where NaN is +inf,
/// and a node reads `2f` when NaN goes left, `2f + 1` when it goes right. Both
/// columns hold the value itself when it is not NaN. This is exact as long as no
/// threshold is NaN and no node sending NaN right has threshold +inf; ensembles
/// with such a node keep the breadth-first layout.
#[derive(Clone, Debug, PartialEq)]
struct Complete {
    depth: u32,
    /// Levels `0..depth` one after the other; level `k` starts at `((1 << k) - 1) * n_trees`.
    nodes: Vec<CNode>,
    /// Level `depth`: the payload of each leaf (as in [`Node::threshold`]).
    leaves: Vec<f32>,
}

/// 8 bytes: eight nodes per cache line.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct CNode {
    /// Column of the widened row: `2 * feature + (NaN goes right)`.
    column: u32,
    threshold: f32,
}

/// A value's two columns in a widened row: NaN as -inf (goes left), NaN as +inf (goes right).
#[inline(always)]
fn widen(v: f32) -> [f32; 2] {
    if v.is_nan() {
        [f32::NEG_INFINITY, f32::INFINITY]
    } else {
        [v, v]
    }
}

impl Complete {
    /// Pads the normalized breadth-first `nodes` (leaves point at themselves, payload in
    /// `threshold`) into complete trees; `None` when that would more than quadruple the
    /// node count, the ensemble is deeper than [`MAX_COMPLETE_DEPTH`], or a threshold rules
    /// out the widened row.
    fn build(nodes: &[Node], roots: &[u32], depths: &[u32]) -> Option<Complete> {
        let depth = depths.iter().copied().max()?;
        // before any shift by `depth`: a chain of a hundred nodes is a valid tree
        if depth > MAX_COMPLETE_DEPTH {
            return None;
        }
        let n_trees = roots.len();
        let padded = n_trees.checked_mul((2usize << depth) - 1)?;
        if padded > 4 * nodes.len() + 1024 {
            return None;
        }
        let internal = ((1usize << depth) - 1) * n_trees;
        let mut out = vec![
            CNode {
                column: 0,
                threshold: 0.0,
            };
            internal
        ];
        let mut leaves = vec![0.0f32; n_trees << depth];
        // (node, level, index within the level)
        let mut stack: Vec<(u32, u32, usize)> = Vec::with_capacity(2 * depth as usize + 2);
        for (t, &root) in roots.iter().enumerate() {
            stack.push((root, 0, t));
            while let Some((i, k, g)) = stack.pop() {
                let node = nodes[i as usize];
                let leaf = node.left == i && node.right == i;
                if leaf || k == depth {
                    // `k == depth` only for a leaf: `depth` bounds every tree's height
                    let span = 1usize << (depth - k);
                    leaves[g * span..(g + 1) * span].fill(node.threshold);
                    continue;
                }
                let nan_right = node.feature & NAN_BIT == 0;
                if node.threshold.is_nan() || (nan_right && node.threshold == f32::INFINITY) {
                    return None;
                }
                out[((1usize << k) - 1) * n_trees + g] = CNode {
                    column: 2 * (node.feature & FEATURE_MASK) + u32::from(nan_right),
                    threshold: node.threshold,
                };
                stack.push((node.right, k + 1, 2 * g + 1));
                stack.push((node.left, k + 1, 2 * g));
            }
        }
        Some(Complete {
            depth,
            nodes: out,
            leaves,
        })
    }

    fn n_trees(&self) -> usize {
        self.leaves.len() >> self.depth
    }

    /// The nodes from each level on, level `0` first: what [`Complete::step`] indexes.
    fn levels(&self) -> impl Iterator<Item = &[CNode]> {
        let n_trees = self.n_trees();
        (0..self.depth).map(move |k| &self.nodes[((1usize << k) - 1) * n_trees..])
    }

    /// One step of the walk at index `g` of a level: the index in the next level. Column `c`
    /// of the widened row is `x[c * STRIDE + offset]`.
    #[inline(always)]
    fn step<const STRIDE: usize>(level: &[CNode], x: &[f32], offset: usize, g: u32) -> u32 {
        debug_assert!((g as usize) < level.len());
        // SAFETY: `walk` passes the slice of the nodes from the current level on, and `g` is
        // below `n_trees << k` at level `k` (roots are tree indices, each step doubles the
        // index and adds at most one), which is that level's length.
        let node = unsafe { *level.get_unchecked(g as usize) };
        let c = node.column as usize * STRIDE + offset;
        debug_assert!(c < x.len());
        // SAFETY: every column is below `2 * min_width` (padding nodes read column 0) and
        // `walk` passes a widened buffer of `2 * width * STRIDE` values, `width >= min_width`
        // (checked by `check_input`), with `offset < STRIDE`.
        let v = unsafe { *x.get_unchecked(c) };
        // neither is NaN (a widened row never is, `build` refuses NaN thresholds), so `>` is
        // exactly `!(<=)`, the normalized node's "go right"
        2 * g + u32::from(v > node.threshold)
    }

    /// Trees `t0..t0 + G` for the `LANES` rows of a widened, transposed block starting at row
    /// `row0`: `G * LANES` walks in lock-step, visited tree by tree.
    #[inline(always)]
    fn walk_block<const G: usize>(
        &self,
        block: &[f32],
        row0: usize,
        t0: usize,
        visit: &mut impl FnMut(usize, usize, f32),
    ) {
        let mut g = [[0u32; LANES]; G];
        for (i, gi) in g.iter_mut().enumerate() {
            *gi = [(t0 + i) as u32; LANES];
        }
        for level in self.levels() {
            for l in 0..LANES {
                for gi in g.iter_mut() {
                    gi[l] = Self::step::<LANES>(level, block, l, gi[l]);
                }
            }
        }
        for (i, gi) in g.iter().enumerate() {
            for (l, &leaf) in gi.iter().enumerate() {
                visit(row0 + l, t0 + i, self.leaves[leaf as usize]);
            }
        }
    }

    /// [`FlatEnsemble::walk`] on the complete layout. Each block of `LANES` rows is widened
    /// and transposed (column-major, so a lane reads `x[c * LANES + lane]` with no per-lane
    /// offset to keep), then walks `TREES_PER_BLOCK` trees at a time with its rows in
    /// lock-step; each row left over is widened and walks `LANES` trees in lock-step.
    #[inline(always)]
    fn walk(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        visit: &mut impl FnMut(usize, usize, f32),
    ) {
        let n_trees = self.n_trees();
        let blocks = n_rows / LANES;
        let mut buf = vec![0.0f32; 2 * width * if blocks > 0 { LANES } else { 1 }];
        for b in 0..blocks {
            for l in 0..LANES {
                let row = &x[(b * LANES + l) * width..(b * LANES + l + 1) * width];
                for (f, &v) in row.iter().enumerate() {
                    let [nan_left, nan_right] = widen(v);
                    buf[2 * f * LANES + l] = nan_left;
                    buf[(2 * f + 1) * LANES + l] = nan_right;
                }
            }
            let mut t = 0;
            while t + TREES_PER_BLOCK <= n_trees {
                self.walk_block::<TREES_PER_BLOCK>(&buf, b * LANES, t, visit);
                t += TREES_PER_BLOCK;
            }
            for t in t..n_trees {
                self.walk_block::<1>(&buf, b * LANES, t, visit);
            }
        }
        for row in blocks * LANES..n_rows {
            for (f, &v) in x[row * width..(row + 1) * width].iter().enumerate() {
                buf[2 * f..2 * f + 2].copy_from_slice(&widen(v));
            }
            let mut t0 = 0;
            while t0 < n_trees {
                let live = LANES.min(n_trees - t0);
                let mut g = [0u32; LANES];
                for (l, gl) in g.iter_mut().enumerate() {
                    // idle lanes repeat the last live tree
                    *gl = (t0 + l.min(live - 1)) as u32;
                }
                for level in self.levels() {
                    for gl in g.iter_mut() {
                        *gl = Self::step::<1>(level, &buf, 0, *gl);
                    }
                }
                for (l, &leaf) in g[..live].iter().enumerate() {
                    visit(row, t0 + l, self.leaves[leaf as usize]);
                }
                t0 += live;
            }
        }
    }
}

fn next_below(t: f32) -> f32 {
    if t == f32::NEG_INFINITY {
        // nothing is below -inf: `x <= NaN` is false for every x, as is `x < -inf`.
        f32::NAN
    } else {
        t.next_down()
    }
}

/// Stage 1 of [`FlatEnsemble::build`]: there are nodes, and every per-node and per-weight
/// attribute has one entry per node or weight.
fn check_lengths(a: &TreeAttributes) -> TractResult<()> {
    let n = a.node_ids.len();
    ensure!(n > 0, "the ensemble has no node (nodes_nodeids is empty)");
    ensure!(n < (1 << 30), "too many nodes ({n})");
    for (name, len) in [
        ("nodes_treeids", a.tree_ids.len()),
        ("nodes_featureids", a.feature_ids.len()),
        ("nodes_modes", a.modes.len()),
        ("nodes_values", a.values.len()),
        ("nodes_truenodeids", a.true_ids.len()),
        ("nodes_falsenodeids", a.false_ids.len()),
    ] {
        ensure!(len == n, "{name} has {len} entries, nodes_nodeids has {n}");
    }
    ensure!(
        a.missing_tracks_true.is_empty() || a.missing_tracks_true.len() == n,
        "nodes_missing_value_tracks_true has {} entries, expected 0 or {n}",
        a.missing_tracks_true.len()
    );
    let p = a.weight_prefix;
    let nw = a.weight_node_ids.len();
    for (name, len) in [
        ("treeids", a.weight_tree_ids.len()),
        ("ids", a.weight_column_ids.len()),
        ("weights", a.weights.len()),
    ] {
        ensure!(
            len == nw,
            "{p}_{name} has {len} entries, {p}_nodeids has {nw}"
        );
    }
    Ok(())
}

/// Stage 2: the nodes as trees, in the attributes' node order. Every node is unique, every
/// branch's children exist in its tree and its feature is in range, and no tree has a cycle.
struct Forest {
    /// `(tree, node)` ids → node index.
    index: HashMap<(i64, i64), usize>,
    /// Per node: `(true child, false child)`; `(0, 0)` for a leaf.
    children: Vec<(usize, usize)>,
    /// Largest feature index a branch reads.
    max_feature: usize,
    /// The first node of each tree, as onnxruntime finds them: a new tree starts wherever the
    /// tree id changes in node order.
    roots: Vec<usize>,
    /// Per node reached from a root: steps from it to its deepest leaf.
    heights: Vec<u32>,
}

impl Forest {
    fn group(a: &TreeAttributes) -> TractResult<Forest> {
        let n = a.node_ids.len();
        let mut index: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        for i in 0..n {
            if index.insert((a.tree_ids[i], a.node_ids[i]), i).is_some() {
                bail!(
                    "node {} of tree {} is defined twice",
                    a.node_ids[i],
                    a.tree_ids[i]
                );
            }
        }
        let (children, max_feature) = Self::link(a, &index)?;
        let mut roots = vec![];
        for i in 0..n {
            if i == 0 || a.tree_ids[i] != a.tree_ids[i - 1] {
                roots.push(i);
            }
        }
        let heights = Self::heights(a, &children, &roots)?;
        Ok(Forest {
            index,
            children,
            max_feature,
            roots,
            heights,
        })
    }

    /// Each branch's children and the largest feature index read.
    fn link(
        a: &TreeAttributes,
        index: &HashMap<(i64, i64), usize>,
    ) -> TractResult<(Vec<(usize, usize)>, usize)> {
        let mut children = vec![(0usize, 0usize); a.node_ids.len()];
        let mut max_feature = 0usize;
        for (i, child) in children.iter_mut().enumerate() {
            if a.modes[i] == NodeMode::Leaf {
                continue;
            }
            let f = a.feature_ids[i];
            ensure!(
                (0..(1i64 << 24)).contains(&f),
                "node {} of tree {} reads feature {f}, out of range",
                a.node_ids[i],
                a.tree_ids[i]
            );
            max_feature = max_feature.max(f as usize);
            let lookup = |child: i64, which: &str| -> TractResult<usize> {
                match index.get(&(a.tree_ids[i], child)) {
                    Some(&c) if c == i => bail!(
                        "node {} of tree {} is its own {which} child",
                        a.node_ids[i],
                        a.tree_ids[i]
                    ),
                    Some(&c) => Ok(c),
                    None => bail!(
                        "node {} of tree {} has {which} child {child}, which is not a node of that tree",
                        a.node_ids[i],
                        a.tree_ids[i]
                    ),
                }
            };
            *child = (
                lookup(a.true_ids[i], "true")?,
                lookup(a.false_ids[i], "false")?,
            );
        }
        Ok((children, max_feature))
    }

    /// Node heights, by an iterative depth-first search in three colours that rejects cycles.
    fn heights(
        a: &TreeAttributes,
        children: &[(usize, usize)],
        roots: &[usize],
    ) -> TractResult<Vec<u32>> {
        const WHITE: u8 = 0;
        const GREY: u8 = 1;
        const BLACK: u8 = 2;
        let n = a.node_ids.len();
        let mut colour = vec![WHITE; n];
        let mut height = vec![0u32; n];
        let mut stack: Vec<(usize, bool)> = vec![];
        for &root in roots {
            if colour[root] != WHITE {
                continue;
            }
            stack.push((root, false));
            while let Some((i, expanded)) = stack.pop() {
                if a.modes[i] == NodeMode::Leaf {
                    colour[i] = BLACK;
                    continue;
                }
                let (t, f) = children[i];
                if expanded {
                    height[i] = 1 + height[t].max(height[f]);
                    colour[i] = BLACK;
                    continue;
                }
                if colour[i] == BLACK {
                    continue;
                }
                colour[i] = GREY;
                stack.push((i, true));
                for c in [t, f] {
                    match colour[c] {
                        WHITE => stack.push((c, false)),
                        GREY => bail!(
                            "tree {} has a cycle through node {}",
                            a.tree_ids[i],
                            a.node_ids[c]
                        ),
                        _ => (),
                    }
                }
            }
        }
        Ok(height)
    }
}

/// Stage 3: the weights of each leaf, sorted by (tree, node, position) like onnxruntime.
/// Every weight's column is in range and its node exists; weights on branches are ignored, as
/// onnxruntime does.
struct LeafWeights {
    /// Per node: `(start, len)` into `sorted`; `len` 0 for a branch or a leaf without weights.
    ranges: Vec<(u32, u32)>,
    /// `(column, weight)` pairs.
    sorted: Vec<(u32, f32)>,
    /// Every class/target id mentioned by the weights, leaves or not.
    distinct_columns: usize,
    all_non_negative: bool,
}

impl LeafWeights {
    fn gather(a: &TreeAttributes, forest: &Forest) -> TractResult<LeafWeights> {
        let p = a.weight_prefix;
        let nw = a.weight_node_ids.len();
        let mut order: Vec<usize> = (0..nw).collect();
        order.sort_by_key(|&k| (a.weight_tree_ids[k], a.weight_node_ids[k], k));
        let mut ranges: Vec<(u32, u32)> = vec![(0, 0); a.node_ids.len()];
        let mut sorted: Vec<(u32, f32)> = Vec::with_capacity(nw);
        let mut seen_columns = vec![false; a.n_columns];
        let mut all_non_negative = true;
        for &k in &order {
            let col = a.weight_column_ids[k];
            ensure!(
                col >= 0 && (col as usize) < a.n_columns,
                "{p}_ids[{k}] = {col} is out of range (there are {} {}s)",
                a.n_columns,
                if p == "class" { "classe" } else { "target" }
            );
            seen_columns[col as usize] = true;
            if a.weights[k] < 0.0 {
                all_non_negative = false;
            }
            let key = (a.weight_tree_ids[k], a.weight_node_ids[k]);
            let Some(&i) = forest.index.get(&key) else {
                bail!(
                    "{p}_nodeids[{k}] / {p}_treeids[{k}] refer to node {} of tree {}, which does not exist",
                    key.1,
                    key.0
                );
            };
            if a.modes[i] != NodeMode::Leaf {
                // onnxruntime ignores weights attached to branch nodes
                continue;
            }
            let (start, len) = &mut ranges[i];
            if *len == 0 {
                *start = sorted.len() as u32;
            }
            *len += 1;
            sorted.push((col as u32, a.weights[k]));
        }
        Ok(LeafWeights {
            ranges,
            sorted,
            distinct_columns: seen_columns.iter().filter(|s| **s).count(),
            all_non_negative,
        })
    }

    /// The `(column, weight)` pairs of node `i`.
    fn of(&self, i: usize) -> &[(u32, f32)] {
        let (start, len) = self.ranges[i];
        &self.sorted[start as usize..(start + len) as usize]
    }
}

/// Stage 4: every node reachable from a root, tree by tree, each tree breadth-first.
struct BreadthFirst {
    /// New position → node index.
    layout: Vec<usize>,
    /// Node index → new position; `u32::MAX` for a node no root reaches.
    new_index: Vec<u32>,
}

impl BreadthFirst {
    fn of(a: &TreeAttributes, forest: &Forest) -> BreadthFirst {
        let n = a.node_ids.len();
        let mut new_index = vec![u32::MAX; n];
        let mut layout: Vec<usize> = Vec::with_capacity(n);
        let mut queue = VecDeque::new();
        for &root in &forest.roots {
            if new_index[root] != u32::MAX {
                continue;
            }
            new_index[root] = layout.len() as u32;
            layout.push(root);
            queue.push_back(root);
            while let Some(i) = queue.pop_front() {
                if a.modes[i] == NodeMode::Leaf {
                    continue;
                }
                let (t, f) = forest.children[i];
                for c in [t, f] {
                    if new_index[c] == u32::MAX {
                        new_index[c] = layout.len() as u32;
                        layout.push(c);
                        queue.push_back(c);
                    }
                }
            }
        }
        BreadthFirst { layout, new_index }
    }
}

/// Stage 5: which columns the reachable leaves write, one (inline payload) or several. Every
/// reachable leaf has a weight.
fn leaf_columns(
    a: &TreeAttributes,
    order: &BreadthFirst,
    leaf_weights: &LeafWeights,
) -> TractResult<Columns> {
    let p = a.weight_prefix;
    let mut leaf_column: Option<Option<u32>> = None; // None: no leaf yet; Some(None): several
    for &i in &order.layout {
        if a.modes[i] != NodeMode::Leaf {
            continue;
        }
        let ws = leaf_weights.of(i);
        ensure!(
            !ws.is_empty(),
            "leaf {} of tree {} has no weight ({p}_nodeids never mentions it)",
            a.node_ids[i],
            a.tree_ids[i]
        );
        for &(c, _) in ws {
            leaf_column = match leaf_column {
                None => Some(Some(c)),
                Some(Some(prev)) if prev == c => Some(Some(c)),
                _ => Some(None),
            };
        }
    }
    Ok(if a.first_weight_only {
        Columns::Single(0)
    } else {
        match leaf_column {
            Some(Some(c)) => Columns::Single(c as usize),
            _ => Columns::Multi,
        }
    })
}

/// Stage 6: the breadth-first nodes in their final form (see the module documentation):
/// comparisons normalized to `x <= t` unless BRANCH_EQ / BRANCH_NEQ is present, leaves pointing
/// at themselves with their payload in `threshold`.
struct FlatNodes {
    nodes: Vec<Node>,
    /// Per-node mode, only when not `normalized`.
    modes: Vec<u8>,
    normalized: bool,
    any_nan_left: bool,
    /// For `Columns::Multi`.
    leaf_ranges: Vec<(u32, u32)>,
    /// For `Columns::Multi`.
    weights: Vec<(u32, f32)>,
}

impl FlatNodes {
    fn lay_out(
        a: &TreeAttributes,
        forest: &Forest,
        order: &BreadthFirst,
        leaf_weights: &LeafWeights,
        columns: Columns,
    ) -> TractResult<FlatNodes> {
        let layout = &order.layout;
        let normalized = !layout
            .iter()
            .any(|&i| matches!(a.modes[i], NodeMode::BranchEq | NodeMode::BranchNeq));
        let mt = |i: usize| a.missing_tracks_true.get(i).copied().unwrap_or(false);

        let mut nodes = Vec::with_capacity(layout.len());
        let mut modes = Vec::with_capacity(if normalized { 0 } else { layout.len() });
        let mut leaf_ranges = vec![];
        let mut weights = vec![];
        let mut any_nan_left = false;
        for (new, &i) in layout.iter().enumerate() {
            let new = new as u32;
            let mode = a.modes[i];
            if mode == NodeMode::Leaf {
                let ws = leaf_weights.of(i);
                let payload = match columns {
                    Columns::Single(_) if a.first_weight_only => {
                        ws.first().map(|w| w.1).unwrap_or(0.0)
                    }
                    Columns::Single(_) => {
                        let mut acc = 0.0f32;
                        for (ix, w) in ws.iter().enumerate() {
                            acc = a.aggregate.fold(acc, ix > 0, w.1);
                        }
                        acc
                    }
                    Columns::Multi => {
                        let range = (weights.len() as u32, ws.len() as u32);
                        weights.extend_from_slice(ws);
                        leaf_ranges.push(range);
                        f32::from_bits(leaf_ranges.len() as u32 - 1)
                    }
                };
                nodes.push(Node {
                    feature: 0,
                    threshold: payload,
                    left: new,
                    right: new,
                });
                if !normalized {
                    modes.push(NodeMode::Leaf as u8);
                }
                continue;
            }
            let (t, f) = forest.children[i];
            let (t, f) = (order.new_index[t], order.new_index[f]);
            let feature = a.feature_ids[i] as u32;
            let thr = a.values[i];
            let missing = mt(i);
            let node = if normalized {
                // (threshold', left, right, nan_left)
                let (thr, left, right, nan_left) = if thr.is_nan() {
                    // every comparison with NaN is false
                    (f32::NAN, t, f, missing)
                } else {
                    match mode {
                        NodeMode::BranchLeq => (thr, t, f, missing),
                        NodeMode::BranchLt => (next_below(thr), t, f, missing),
                        NodeMode::BranchGt => (thr, f, t, !missing),
                        NodeMode::BranchGte => (next_below(thr), f, t, !missing),
                        _ => bail!("internal error: unexpected mode in normalized tree"),
                    }
                };
                any_nan_left |= nan_left;
                Node {
                    feature: feature | if nan_left { NAN_BIT } else { 0 },
                    threshold: thr,
                    left,
                    right,
                }
            } else {
                modes.push(mode as u8);
                any_nan_left |= missing;
                Node {
                    feature: feature | if missing { NAN_BIT } else { 0 },
                    threshold: thr,
                    left: t,
                    right: f,
                }
            };
            nodes.push(node);
        }
        Ok(FlatNodes {
            nodes,
            modes,
            normalized,
            any_nan_left,
            leaf_ranges,
            weights,
        })
    }
}

impl FlatEnsemble {
    /// Builds the layout in stages, each checking what it relies on: the attributes' lengths
    /// ([`check_lengths`]) → the nodes grouped into trees, cycles rejected ([`Forest`]) → the
    /// leaves' weights ([`LeafWeights`]) → the breadth-first order ([`BreadthFirst`]) → the
    /// columns leaves write ([`leaf_columns`]) → the flat nodes ([`FlatNodes`]) → the complete
    /// layout, when it applies ([`Complete::build`]).
    pub fn build(a: &TreeAttributes) -> TractResult<FlatEnsemble> {
        check_lengths(a)?;
        let forest = Forest::group(a)?;
        let leaf_weights = LeafWeights::gather(a, &forest)?;
        let order = BreadthFirst::of(a, &forest);
        let columns = leaf_columns(a, &order, &leaf_weights)?;
        let flat = FlatNodes::lay_out(a, &forest, &order, &leaf_weights, columns)?;
        let roots: Vec<u32> = forest.roots.iter().map(|&r| order.new_index[r]).collect();
        let depths: Vec<u32> = forest.roots.iter().map(|&r| forest.heights[r]).collect();
        let complete = if flat.normalized {
            Complete::build(&flat.nodes, &roots, &depths)
        } else {
            None
        };
        Ok(FlatEnsemble {
            nodes: flat.nodes,
            modes: flat.modes,
            normalized: flat.normalized,
            any_nan_left: flat.any_nan_left,
            roots,
            depths,
            leaf_ranges: flat.leaf_ranges,
            weights: flat.weights,
            columns,
            n_columns: a.n_columns,
            min_width: forest.max_feature + 1,
            distinct_weight_columns: leaf_weights.distinct_columns,
            all_weights_non_negative: leaf_weights.all_non_negative,
            complete,
        })
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    pub fn max_depth(&self) -> u32 {
        self.depths.iter().copied().max().unwrap_or(0)
    }

    pub fn columns(&self) -> Columns {
        self.columns
    }

    pub fn n_columns(&self) -> usize {
        self.n_columns
    }

    pub fn min_width(&self) -> usize {
        self.min_width
    }

    /// Number of distinct class/target ids among all the weights (onnxruntime's
    /// `weights_classes.size()`).
    pub fn distinct_weight_columns(&self) -> usize {
        self.distinct_weight_columns
    }

    /// No weight is negative (onnxruntime's `weights_are_all_positive_`).
    pub fn all_weights_non_negative(&self) -> bool {
        self.all_weights_non_negative
    }

    fn kernel(&self, x: &[f32]) -> Kernel {
        if !self.normalized {
            Kernel::General
        } else if self.any_nan_left && x.iter().any(|v| v.is_nan()) {
            Kernel::NanAware
        } else {
            Kernel::Plain
        }
    }

    fn check_input(&self, x: &[f32], n_rows: usize, width: usize) -> TractResult<()> {
        ensure!(
            width >= self.min_width,
            "the trees read feature {} but the input has {width} features",
            self.min_width - 1
        );
        ensure!(
            x.len() == n_rows * width,
            "input has {} values, expected {n_rows} rows of {width}",
            x.len()
        );
        Ok(())
    }

    /// Single score column: `acc[row]` folds the leaf value of every tree, in
    /// tree order. `acc` must hold `n_rows` values, initialized by the caller.
    pub fn accumulate_single(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        aggregate: Aggregate,
        acc: &mut [f32],
    ) -> TractResult<()> {
        self.check_input(x, n_rows, width)?;
        ensure!(acc.len() == n_rows, "accumulator size mismatch");
        ensure!(
            matches!(self.columns, Columns::Single(_)),
            "not a single-column ensemble"
        );
        // the first tree initializes MIN / MAX
        let mut visit = |row: usize, tree: usize, w: f32| {
            acc[row] = aggregate.fold(acc[row], tree > 0, w);
        };
        self.walk(x, n_rows, width, &mut visit);
        Ok(())
    }

    /// Several score columns: `scores[row * n_columns + c]` folds every weight
    /// for column `c` of every reached leaf, `has` records which columns got at
    /// least one. Both must be initialized by the caller (0 / false).
    pub fn accumulate_multi(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        aggregate: Aggregate,
        scores: &mut [f32],
        has: &mut [bool],
    ) -> TractResult<()> {
        self.check_input(x, n_rows, width)?;
        let nc = self.n_columns;
        ensure!(
            scores.len() == n_rows * nc && has.len() == n_rows * nc,
            "score buffer mismatch"
        );
        // one small closure per layout, so that each inlines into the walk
        match self.columns {
            Columns::Single(c) => self.walk(x, n_rows, width, &mut |row, _tree, w| {
                let ix = row * nc + c;
                scores[ix] = aggregate.fold(scores[ix], has[ix], w);
                has[ix] = true;
            }),
            Columns::Multi => {
                let ranges = &self.leaf_ranges;
                let weights = &self.weights;
                self.walk(x, n_rows, width, &mut |row, _tree, payload| {
                    let (start, len) = ranges[payload.to_bits() as usize];
                    for &(c, w) in &weights[start as usize..(start + len) as usize] {
                        let ix = row * nc + c as usize;
                        scores[ix] = aggregate.fold(scores[ix], has[ix], w);
                        has[ix] = true;
                    }
                })
            }
        }
        Ok(())
    }

    /// Calls `visit(row, tree, payload)` for every (tree, row) pair, in tree order for each
    /// row, with the payload of the leaf the row reaches in that tree. Picks the kernel and
    /// the layout; allocates at most one buffer per call (the complete layout's widened rows),
    /// nothing per step. The input must have passed `check_input`.
    #[inline(always)]
    fn walk(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        visit: &mut impl FnMut(usize, usize, f32),
    ) {
        if let Some(c) = &self.complete {
            return c.walk(x, n_rows, width, visit);
        }
        match self.kernel(x) {
            Kernel::Plain => self.traverse::<0>(x, n_rows, width, visit),
            Kernel::NanAware => self.traverse::<1>(x, n_rows, width, visit),
            Kernel::General => self.traverse::<2>(x, n_rows, width, visit),
        }
    }

    #[inline(always)]
    fn step<const K: u8>(&self, x: &[f32], offset: usize, ix: u32) -> u32 {
        debug_assert!((ix as usize) < self.nodes.len());
        // SAFETY: `ix` is a root or a child index, and `build` lays every tree out so that both
        // are indices into `nodes` (leaves point at themselves). The hot loop is bound-check
        // free because that branch per step costs more than the comparison it guards.
        let node = unsafe { *self.nodes.get_unchecked(ix as usize) };
        let f = offset + (node.feature & FEATURE_MASK) as usize;
        debug_assert!(f < x.len());
        // SAFETY: `check_input` ensured `x.len() == n_rows * width` and `width >= min_width`,
        // `min_width` is one past the largest feature index, and `offset = row * width` for a
        // row below `n_rows`.
        let v = unsafe { *x.get_unchecked(f) };
        let go_left = match K {
            0 => v <= node.threshold,
            1 => v <= node.threshold || ((node.feature & NAN_BIT) != 0 && v.is_nan()),
            _ => {
                NodeMode::from_u8(self.modes[ix as usize]).compare(v, node.threshold)
                    || ((node.feature & NAN_BIT) != 0 && v.is_nan())
            }
        };
        if go_left { node.left } else { node.right }
    }

    /// [`FlatEnsemble::walk`] on the breadth-first layout: every (tree, row) pair,
    /// tree-major, `LANES` walks in lock-step.
    #[inline(always)]
    fn traverse<const K: u8>(
        &self,
        x: &[f32],
        n_rows: usize,
        width: usize,
        visit: &mut impl FnMut(usize, usize, f32),
    ) {
        let total = self.roots.len() * n_rows;
        let mut lane_node = [0u32; LANES];
        let mut lane_offset = [0usize; LANES];
        let mut lane_row = [0usize; LANES];
        let mut lane_tree = [0usize; LANES];
        let mut tree = 0usize;
        let mut row = 0usize;
        let mut done = 0usize;
        while done < total {
            let live = LANES.min(total - done);
            let mut depth = 0u32;
            for lane in 0..LANES {
                if lane < live {
                    lane_node[lane] = self.roots[tree];
                    lane_offset[lane] = row * width;
                    lane_row[lane] = row;
                    lane_tree[lane] = tree;
                    depth = depth.max(self.depths[tree]);
                    row += 1;
                    if row == n_rows {
                        row = 0;
                        tree += 1;
                    }
                } else {
                    // idle lane: park it on a leaf-free walk of the first tree
                    lane_node[lane] = lane_node[0];
                    lane_offset[lane] = lane_offset[0];
                }
            }
            for _ in 0..depth {
                for lane in 0..LANES {
                    lane_node[lane] = self.step::<K>(x, lane_offset[lane], lane_node[lane]);
                }
            }
            for lane in 0..live {
                let payload = self.nodes[lane_node[lane] as usize].threshold;
                visit(lane_row[lane], lane_tree[lane], payload);
            }
            done += live;
        }
    }
}

// ---------------------------------------------------------------------------
// post transforms, bit-compatible with onnxruntime's ml_common.h

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

impl PostTransform {
    pub fn parse(s: &str) -> Option<PostTransform> {
        Some(match s {
            "NONE" => PostTransform::None,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX" => PostTransform::Softmax,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            "PROBIT" => PostTransform::Probit,
            _ => return None,
        })
    }

    /// Transform applied to a score vector of two or more values.
    pub fn apply(self, v: &mut [f32]) {
        match self {
            PostTransform::None => (),
            PostTransform::Logistic => v.iter_mut().for_each(|x| *x = logistic(*x)),
            PostTransform::Probit => v.iter_mut().for_each(|x| *x = probit(*x)),
            PostTransform::Softmax => softmax(v),
            PostTransform::SoftmaxZero => softmax_zero(v),
        }
    }
}

pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

fn erf_inv(x: f32) -> f32 {
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}

pub fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * x - 1.0)
}

fn softmax(v: &mut [f32]) {
    let mut max = -f32::MAX;
    for &x in v.iter() {
        if x > max {
            max = x;
        }
    }
    let mut sum = 0.0f32;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

fn softmax_zero(v: &mut [f32]) {
    let mut max = -f32::MAX;
    for &x in v.iter() {
        if x > max {
            max = x;
        }
    }
    let exp_neg_max = (-max).exp();
    let mut sum = 0.0f32;
    for x in v.iter_mut() {
        if *x > 0.0000001 || *x < -0.0000001 {
            *x = (*x - max).exp();
            sum += *x;
        } else {
            *x *= exp_neg_max;
        }
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::too_many_arguments)]
mod tests {
    use super::*;

    fn attrs<'a>(
        tree_ids: &'a [i64],
        node_ids: &'a [i64],
        feature_ids: &'a [i64],
        modes: &'a [NodeMode],
        values: &'a [f32],
        true_ids: &'a [i64],
        false_ids: &'a [i64],
        w: (&'a [i64], &'a [i64], &'a [i64], &'a [f32]),
    ) -> TreeAttributes<'a> {
        TreeAttributes {
            tree_ids,
            node_ids,
            feature_ids,
            modes,
            values,
            true_ids,
            false_ids,
            missing_tracks_true: &[],
            weight_tree_ids: w.0,
            weight_node_ids: w.1,
            weight_column_ids: w.2,
            weights: w.3,
            weight_prefix: "target",
            n_columns: 1,
            aggregate: Aggregate::Sum,
            first_weight_only: true,
        }
    }

    use NodeMode::*;

    fn stump(mode: NodeMode, thr: f32, missing: bool) -> FlatEnsemble {
        let modes = [mode, Leaf, Leaf];
        let values = [thr, 0.0, 0.0];
        let mts = [missing, false, false];
        let mut a = attrs(
            &[0, 0, 0],
            &[0, 1, 2],
            &[0, 0, 0],
            &modes,
            &values,
            &[1, 0, 0],
            &[2, 0, 0],
            (&[0, 0], &[1, 2], &[0, 0], &[1.0, 2.0]),
        );
        a.missing_tracks_true = &mts;
        FlatEnsemble::build(&a).unwrap()
    }

    fn eval1(e: &FlatEnsemble, x: f32) -> f32 {
        let mut acc = [0.0];
        e.accumulate_single(&[x], 1, 1, Aggregate::Sum, &mut acc)
            .unwrap();
        acc[0]
    }

    #[test]
    fn every_mode_matches_the_reference_comparison() {
        let thresholds = [
            0.0f32,
            -0.0,
            1.5,
            -2.25,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let xs = [
            0.0f32,
            -0.0,
            1.5,
            1.5f32.next_up(),
            1.5f32.next_down(),
            -2.25,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            3.0,
            -7.0,
        ];
        for mode in [
            BranchLeq, BranchLt, BranchGte, BranchGt, BranchEq, BranchNeq,
        ] {
            for &t in &thresholds {
                for missing in [false, true] {
                    let e = stump(mode, t, missing);
                    for &x in &xs {
                        let expected_true = mode.compare(x, t) || (missing && x.is_nan());
                        let expected = if expected_true { 1.0 } else { 2.0 };
                        assert_eq!(
                            eval1(&e, x),
                            expected,
                            "mode {mode:?} t {t:?} missing {missing} x {x:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_cycles_dangling_and_duplicates() {
        // 0 -> 1 -> 0
        let a = attrs(
            &[0, 0, 0],
            &[0, 1, 2],
            &[0, 0, 0],
            &[BranchLeq, BranchLeq, Leaf],
            &[0.0, 0.0, 0.0],
            &[1, 0, 0],
            &[2, 2, 0],
            (&[0], &[2], &[0], &[1.0]),
        );
        let err = FlatEnsemble::build(&a).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");

        let a = attrs(
            &[0, 0, 0],
            &[0, 1, 2],
            &[0, 0, 0],
            &[BranchLeq, Leaf, Leaf],
            &[0.0, 0.0, 0.0],
            &[1, 0, 0],
            &[7, 0, 0],
            (&[0, 0], &[1, 2], &[0, 0], &[1.0, 1.0]),
        );
        let err = FlatEnsemble::build(&a).unwrap_err().to_string();
        assert!(err.contains("not a node"), "{err}");

        let a = attrs(
            &[0, 0, 0],
            &[0, 1, 1],
            &[0, 0, 0],
            &[BranchLeq, Leaf, Leaf],
            &[0.0, 0.0, 0.0],
            &[1, 0, 0],
            &[1, 0, 0],
            (&[0], &[1], &[0], &[1.0]),
        );
        let err = FlatEnsemble::build(&a).unwrap_err().to_string();
        assert!(err.contains("twice"), "{err}");

        let a = attrs(
            &[0, 0, 0],
            &[0, 1, 2],
            &[0, 0, 0],
            &[BranchLeq, Leaf, Leaf],
            &[0.0, 0.0, 0.0],
            &[0, 0, 0],
            &[2, 0, 0],
            (&[0], &[1], &[0], &[1.0]),
        );
        let err = FlatEnsemble::build(&a).unwrap_err().to_string();
        assert!(err.contains("own"), "{err}");

        // weight on a missing node
        let a = attrs(
            &[0, 0, 0],
            &[0, 1, 2],
            &[0, 0, 0],
            &[BranchLeq, Leaf, Leaf],
            &[0.0, 0.0, 0.0],
            &[1, 0, 0],
            &[2, 0, 0],
            (&[0, 0, 0], &[1, 2, 9], &[0, 0, 0], &[1.0, 1.0, 1.0]),
        );
        let err = FlatEnsemble::build(&a).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");

        // input too narrow
        let a = attrs(
            &[0, 0, 0],
            &[0, 1, 2],
            &[3, 0, 0],
            &[BranchLeq, Leaf, Leaf],
            &[0.0, 0.0, 0.0],
            &[1, 0, 0],
            &[2, 0, 0],
            (&[0, 0], &[1, 2], &[0, 0], &[1.0, 1.0]),
        );
        let e = FlatEnsemble::build(&a).unwrap();
        let mut acc = [0.0];
        assert!(
            e.accumulate_single(&[0.0, 1.0], 1, 2, Aggregate::Sum, &mut acc)
                .is_err()
        );
    }

    /// Guards the depth check of the complete layout, which must come before any shift by the
    /// depth: a 100-level chain is a valid tree (it keeps the breadth-first layout).
    #[test]
    fn a_chain_deeper_than_a_shift_builds_and_walks() {
        let n = 100i64;
        // node 2i: `x <= i` ? leaf 2i+1 (weight i) : node 2i+2; the last node is a leaf
        let mut node_ids = vec![];
        let mut modes = vec![];
        let mut values = vec![];
        let mut t = vec![];
        let mut f = vec![];
        let (mut wn, mut ww) = (vec![], vec![]);
        for i in 0..n {
            node_ids.extend([2 * i, 2 * i + 1]);
            modes.extend([BranchLeq, Leaf]);
            values.extend([i as f32, 0.0]);
            t.extend([2 * i + 1, 0]);
            f.extend([2 * i + 2, 0]);
            wn.push(2 * i + 1);
            ww.push(i as f32);
        }
        node_ids.push(2 * n);
        modes.push(Leaf);
        values.push(0.0);
        t.push(0);
        f.push(0);
        wn.push(2 * n);
        ww.push(-1.0);
        let len = node_ids.len();
        let (zeros, wzeros) = (vec![0i64; len], vec![0i64; wn.len()]);
        let a = attrs(
            &zeros,
            &node_ids,
            &zeros,
            &modes,
            &values,
            &t,
            &f,
            (&wzeros, &wn, &wzeros, &ww),
        );
        let e = FlatEnsemble::build(&a).unwrap();
        assert_eq!(e.max_depth(), n as u32);
        assert!(e.complete.is_none());
        for (x, expected) in [(-5.0, 0.0), (41.5, 42.0), (99.0, 99.0), (1e9, -1.0)] {
            assert_eq!(eval1(&e, x), expected, "x {x}");
        }
    }

    #[test]
    fn batched_walks_match_row_by_row_walks() {
        // three trees of different depths over 3 features
        let tree_ids = [0, 0, 0, 0, 0, 1, 1, 1, 2];
        let node_ids = [0, 1, 2, 3, 4, 0, 1, 2, 0];
        let feature_ids = [0, 1, 0, 0, 0, 2, 0, 0, 0];
        let modes = [
            BranchLt, BranchGte, Leaf, Leaf, Leaf, BranchGt, Leaf, Leaf, Leaf,
        ];
        let values = [0.5, -1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0];
        let t = [1, 3, 0, 0, 0, 1, 0, 0, 0];
        let f = [2, 4, 0, 0, 0, 2, 0, 0, 0];
        let wt = [0, 0, 0, 1, 1, 2];
        let wn = [2, 3, 4, 1, 2, 0];
        let wc = [0, 0, 0, 0, 0, 0];
        let ww = [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0];
        let a = attrs(
            &tree_ids,
            &node_ids,
            &feature_ids,
            &modes,
            &values,
            &t,
            &f,
            (&wt, &wn, &wc, &ww),
        );
        let e = FlatEnsemble::build(&a).unwrap();
        assert_eq!(e.n_trees(), 3);
        assert_eq!(e.max_depth(), 2);
        let reference = |r: &[f32]| -> f32 {
            let t0 = if r[0] < 0.5 {
                if r[1] >= -1.0 { 10.0 } else { 100.0 }
            } else {
                1.0
            };
            let t1 = if r[2] > 2.0 { 1000.0 } else { 10000.0 };
            t0 + t1 + 100000.0
        };
        let rows: Vec<f32> = (0..37 * 3)
            .map(|i| ((i * 7919) % 13) as f32 * 0.5 - 3.0)
            .collect();
        for n in [1usize, 2, 3, 7, 8, 9, 16, 37] {
            let mut acc = vec![0.0; n];
            e.accumulate_single(&rows[..n * 3], n, 3, Aggregate::Sum, &mut acc)
                .unwrap();
            for r in 0..n {
                assert_eq!(acc[r], reference(&rows[r * 3..r * 3 + 3]), "n={n} r={r}");
            }
        }
    }

    /// Random ensembles in the raw ONNX form, with their own straightforward evaluator.
    struct RandomEnsemble {
        tree_ids: Vec<i64>,
        node_ids: Vec<i64>,
        feature_ids: Vec<i64>,
        modes: Vec<NodeMode>,
        values: Vec<f32>,
        true_ids: Vec<i64>,
        false_ids: Vec<i64>,
        missing: Vec<bool>,
        leaf_trees: Vec<i64>,
        leaf_nodes: Vec<i64>,
        leaf_weights: Vec<f32>,
        leaf_columns: Vec<i64>,
    }

    const SPECIAL: [f32; 8] = [
        0.0,
        -0.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.5,
        -1.5,
        2.0,
    ];

    impl RandomEnsemble {
        fn generate(
            seed: u64,
            n_trees: usize,
            max_depth: u32,
            modes: &[NodeMode],
            special_thresholds: bool,
        ) -> Self {
            let mut state = seed | 1;
            let mut next = move |n: u64| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % n
            };
            let mut e = RandomEnsemble {
                tree_ids: vec![],
                node_ids: vec![],
                feature_ids: vec![],
                modes: vec![],
                values: vec![],
                true_ids: vec![],
                false_ids: vec![],
                missing: vec![],
                leaf_trees: vec![],
                leaf_nodes: vec![],
                leaf_weights: vec![],
                leaf_columns: vec![],
            };
            for t in 0..n_trees as i64 {
                // nodes numbered in creation order; (node id, depth) still to define
                let mut pending = vec![(0i64, 0u32)];
                let mut count = 1i64;
                while let Some((id, depth)) = pending.pop() {
                    e.tree_ids.push(t);
                    e.node_ids.push(id);
                    e.missing.push(next(2) == 0);
                    if depth == max_depth || (depth > 0 && next(4) == 0) {
                        e.feature_ids.push(0);
                        e.modes.push(Leaf);
                        e.values.push(0.0);
                        e.true_ids.push(0);
                        e.false_ids.push(0);
                        e.leaf_trees.push(t);
                        e.leaf_nodes.push(id);
                        e.leaf_weights.push(next(1000) as f32 / 8.0 - 60.0);
                        e.leaf_columns.push(0);
                        continue;
                    }
                    e.feature_ids.push(next(5) as i64);
                    e.modes.push(modes[next(modes.len() as u64) as usize]);
                    e.values.push(if special_thresholds && next(8) == 0 {
                        SPECIAL[next(SPECIAL.len() as u64) as usize]
                    } else {
                        next(9) as f32 * 0.5 - 2.0
                    });
                    e.true_ids.push(count);
                    e.false_ids.push(count + 1);
                    pending.push((count, depth + 1));
                    pending.push((count + 1, depth + 1));
                    count += 2;
                }
            }
            e
        }

        fn attributes(&self, aggregate: Aggregate) -> TreeAttributes<'_> {
            TreeAttributes {
                tree_ids: &self.tree_ids,
                node_ids: &self.node_ids,
                feature_ids: &self.feature_ids,
                modes: &self.modes,
                values: &self.values,
                true_ids: &self.true_ids,
                false_ids: &self.false_ids,
                missing_tracks_true: &self.missing,
                weight_tree_ids: &self.leaf_trees,
                weight_node_ids: &self.leaf_nodes,
                weight_column_ids: &self.leaf_columns,
                weights: &self.leaf_weights,
                weight_prefix: "target",
                n_columns: 1,
                aggregate,
                first_weight_only: true,
            }
        }

        /// The leaf weight `row` reaches in each tree, in tree order, by the ONNX definition.
        fn leaf_weights_of(&self, row: &[f32]) -> Vec<f32> {
            let find = |t: i64, id: i64| {
                (0..self.node_ids.len())
                    .find(|&i| self.tree_ids[i] == t && self.node_ids[i] == id)
                    .unwrap()
            };
            let n_trees = self.tree_ids.last().map_or(0, |t| t + 1);
            (0..n_trees)
                .map(|t| {
                    let mut i = find(t, 0);
                    while self.modes[i] != Leaf {
                        let v = row[self.feature_ids[i] as usize];
                        let yes = self.modes[i].compare(v, self.values[i])
                            || (self.missing[i] && v.is_nan());
                        i = find(
                            t,
                            if yes {
                                self.true_ids[i]
                            } else {
                                self.false_ids[i]
                            },
                        );
                    }
                    let k = (0..self.leaf_nodes.len())
                        .find(|&k| {
                            self.leaf_trees[k] == t && self.leaf_nodes[k] == self.node_ids[i]
                        })
                        .unwrap();
                    self.leaf_weights[k]
                })
                .collect()
        }
    }

    fn random_rows(seed: u64, n: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n * 5)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state.is_multiple_of(6) {
                    SPECIAL[(state / 6 % SPECIAL.len() as u64) as usize]
                } else {
                    (state % 11) as f32 * 0.5 - 2.5
                }
            })
            .collect()
    }

    /// Guards the complete (padded, level-major) layout and the breadth-first one against the
    /// ONNX definition: every row count (lane blocks, tree groups and the rows left over),
    /// every aggregate, NaN and infinities in rows and thresholds, missing-value tracking.
    #[test]
    fn both_layouts_match_the_onnx_definition_on_random_ensembles() {
        let normalized = [BranchLeq, BranchLt, BranchGte, BranchGt];
        let general = [
            BranchLeq, BranchLt, BranchGte, BranchGt, BranchEq, BranchNeq,
        ];
        for seed in 0..40u64 {
            let n_trees = 1 + (seed as usize * 7) % 13;
            let depth = 1 + (seed as u32) % 7;
            let modes: &[NodeMode] = if seed % 5 == 4 { &general } else { &normalized };
            // NaN and infinite thresholds can rule out the complete layout: a third of the seeds
            let special = seed % 3 == 0;
            let r = RandomEnsemble::generate(seed + 1, n_trees, depth, modes, special);
            for aggregate in [Aggregate::Sum, Aggregate::Min, Aggregate::Max] {
                let complete = FlatEnsemble::build(&r.attributes(aggregate)).unwrap();
                if modes.len() > 4 {
                    assert!(complete.complete.is_none(), "seed {seed}");
                } else if !special {
                    assert!(complete.complete.is_some(), "seed {seed}");
                }
                let mut breadth_first = complete.clone();
                breadth_first.complete = None;
                for n in [1usize, 3, 16, 21, 37, 64] {
                    let rows = random_rows(seed * 100 + n as u64, n);
                    let expected: Vec<f32> = (0..n)
                        .map(|i| {
                            let ws = r.leaf_weights_of(&rows[i * 5..i * 5 + 5]);
                            let mut acc = 0.0f32;
                            for (t, w) in ws.into_iter().enumerate() {
                                acc = aggregate.fold(acc, t > 0, w);
                            }
                            acc
                        })
                        .collect();
                    for (name, e) in [("complete", &complete), ("breadth-first", &breadth_first)] {
                        let mut acc = vec![0.0; n];
                        e.accumulate_single(&rows, n, 5, aggregate, &mut acc)
                            .unwrap();
                        assert_eq!(acc, expected, "{name} seed {seed} {aggregate:?} n {n}");
                    }
                }
            }
        }
    }
}
