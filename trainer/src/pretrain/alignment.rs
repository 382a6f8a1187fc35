//! How well texts and videos are aligned in the joint space: the cosine gap and text→GIF retrieval.
//!
//! A query is a caption; the GIFs are ranked by cosine similarity. Several GIFs can share one
//! caption text, so a retrieved GIF counts as a hit when its caption text is the query's; the rank
//! of a query is that of its best-scoring hit, and the hardest negative is the most similar GIF
//! whose caption differs.

use serde::{Deserialize, Serialize};

/// Alignment metrics over a set of (caption, GIF) pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlignmentMetrics {
    /// Queries (captions) evaluated.
    pub queries: usize,
    /// Mean cosine similarity of the true pairs.
    pub positive: f64,
    /// Mean cosine similarity of each query's hardest negative.
    pub hardest_negative: f64,
    /// Mean over queries of (true pair − hardest negative).
    pub cosine_gap: f64,
    /// Text→GIF recall at 1, 5 and 10.
    pub r1: f64,
    /// Recall at 5.
    pub r5: f64,
    /// Recall at 10.
    pub r10: f64,
    /// Median rank of the first hit (1 = first).
    pub median_rank: f64,
}

/// Metrics of a row-major `n × n` similarity matrix (row = caption `i`, column = GIF `j`, true
/// pairs on the diagonal). Queries without any negative (all captions equal) are skipped.
pub fn alignment_metrics(sim: &[f32], captions: &[&str]) -> AlignmentMetrics {
    let n = captions.len();
    let (mut positive, mut negative, mut gap) = (0.0, 0.0, 0.0);
    let mut ranks = Vec::with_capacity(n);
    for i in 0..n {
        let row = &sim[i * n..(i + 1) * n];
        let is_hit = |j: usize| captions[j] == captions[i];
        let best_hit = (0..n).filter(|&j| is_hit(j)).map(|j| row[j]).fold(f32::NEG_INFINITY, f32::max);
        let Some(hardest) = (0..n).filter(|&j| !is_hit(j)).map(|j| row[j]).reduce(f32::max) else {
            continue;
        };
        positive += f64::from(row[i]);
        negative += f64::from(hardest);
        gap += f64::from(row[i] - hardest);
        ranks.push(1 + (0..n).filter(|&j| !is_hit(j) && row[j] > best_hit).count());
    }
    let queries = ranks.len();
    let per_query = |x: f64| x / queries.max(1) as f64;
    let recall = |k: usize| per_query(ranks.iter().filter(|&&r| r <= k).count() as f64);
    AlignmentMetrics {
        queries,
        positive: per_query(positive),
        hardest_negative: per_query(negative),
        cosine_gap: per_query(gap),
        r1: recall(1),
        r5: recall(5),
        r10: recall(10),
        median_rank: median(&mut ranks),
    }
}

fn median(values: &mut [usize]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] as f64 } else { (values[mid - 1] + values[mid]) as f64 / 2.0 }
}

/// One line for the log.
pub fn describe(metrics: &AlignmentMetrics) -> String {
    format!(
        "cosine gap {:+.3} (pos {:.3}, hardest neg {:.3}) | R@1 {:.1}% R@5 {:.1}% R@10 {:.1}% | median rank {} ({} queries)",
        metrics.cosine_gap,
        metrics.positive,
        metrics.hardest_negative,
        100.0 * metrics.r1,
        100.0 * metrics.r5,
        100.0 * metrics.r10,
        metrics.median_rank,
        metrics.queries
    )
}
