//! The flow as a directed graph (petgraph): node ids as vertices, one edge
//! per outcome. Reachability and loop checks run here, and the compliance
//! proofs of later work walk the same graph.

use std::collections::BTreeMap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef};

use super::{Flow, Target};

/// A flow's nodes and outcome edges.
#[derive(Debug)]
pub struct FlowGraph {
    pub graph: DiGraph<String, String>,
    pub index: BTreeMap<String, NodeIndex>,
}

impl FlowGraph {
    /// Builds the graph; edges to unknown nodes and `return:` edges are left out.
    pub fn build(flow: &Flow) -> Self {
        let mut graph = DiGraph::new();
        let index: BTreeMap<String, NodeIndex> = flow
            .nodes
            .keys()
            .map(|id| (id.clone(), graph.add_node(id.clone())))
            .collect();
        for (id, node) in &flow.nodes {
            for (outcome, target) in &node.on {
                if let Target::Node(to) = Target::parse(target)
                    && let Some(&to) = index.get(to)
                {
                    graph.add_edge(index[id], to, outcome.clone());
                }
            }
        }
        FlowGraph { graph, index }
    }

    /// Node ids reachable from any of `roots`.
    pub fn reachable(&self, roots: &[&str]) -> Vec<String> {
        let mut seen = vec![false; self.graph.node_count()];
        for root in roots {
            let Some(&start) = self.index.get(*root) else {
                continue;
            };
            let mut bfs = Bfs::new(&self.graph, start);
            while let Some(n) = bfs.next(&self.graph) {
                seen[n.index()] = true;
            }
        }
        self.graph
            .node_indices()
            .filter(|n| seen[n.index()])
            .map(|n| self.graph[n].clone())
            .collect()
    }

    /// Loops made only of nodes for which `waits` is false, each as a cycle
    /// of node ids (first id repeated at the end), in a stable order.
    pub fn loops_without_wait(&self, waits: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
        let mut sub = self.graph.clone();
        sub.retain_edges(|g, e| {
            let (a, b) = g.edge_endpoints(e).expect("edge exists");
            !waits(&g[a]) && !waits(&g[b])
        });
        let mut loops = Vec::new();
        for component in tarjan_scc(&sub) {
            let cyclic =
                component.len() > 1 || sub.edges(component[0]).any(|e| e.target() == component[0]);
            if !cyclic {
                continue;
            }
            loops.push(self.cycle_through(&sub, &component));
        }
        loops.sort();
        loops
    }

    /// One concrete cycle inside a strongly connected component, starting
    /// at its smallest id, found by walking edges that stay inside it.
    fn cycle_through(&self, sub: &DiGraph<String, String>, component: &[NodeIndex]) -> Vec<String> {
        let inside = |n: NodeIndex| component.contains(&n);
        let start = *component
            .iter()
            .min_by_key(|n| sub[**n].clone())
            .expect("non-empty");
        // Breadth-first search back to `start` gives the shortest cycle.
        let mut parent: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = sub
                .edges(n)
                .map(|e| e.target())
                .filter(|t| inside(*t))
                .collect();
            next.sort_by_key(|t| sub[*t].clone());
            for t in next {
                if t == start {
                    let mut path = vec![sub[start].clone()];
                    let mut cur = n;
                    let mut back = vec![];
                    while cur != start {
                        back.push(sub[cur].clone());
                        cur = parent[&cur];
                    }
                    path.extend(back.into_iter().rev());
                    path.push(sub[start].clone());
                    return path;
                }
                if let std::collections::btree_map::Entry::Vacant(slot) = parent.entry(t) {
                    slot.insert(n);
                    queue.push_back(t);
                }
            }
        }
        vec![sub[start].clone(), sub[start].clone()]
    }
}
