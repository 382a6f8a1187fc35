//! Principal component analysis of a small dense matrix in plain Rust: centre the rows, find the
//! top principal directions of their covariance by orthogonal (subspace) iteration with a few
//! spare directions, order them by a Rayleigh-Ritz step, and project. Used to shrink a pretrained
//! vocabulary's token vectors (e.g. MiniLM's 384 wide) to the small model's width.

/// Spare directions iterated beside the wanted ones: convergence then goes with the gap between
/// the wanted eigenvalues and the (smaller) ones past the spares, not the next one.
const SPARE_DIRECTIONS: usize = 16;
/// Subspace iterations at most; stops earlier once the directions stop moving.
const MAX_ITERATIONS: usize = 150;
/// Largest change of any direction's entry between iterations that counts as converged.
const TOLERANCE: f64 = 1e-8;
/// Jacobi sweeps of the small Rayleigh-Ritz matrix at most (each halves the off-diagonal many times over).
const MAX_SWEEPS: usize = 50;

/// The mean and top principal directions of a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Width of a row.
    pub cols: usize,
    /// Mean row, `[cols]`.
    pub mean: Vec<f64>,
    /// Unit principal directions, largest variance first, `[k][cols]`.
    pub directions: Vec<Vec<f64>>,
    /// Variance of the rows along each direction, `[k]`.
    pub variances: Vec<f64>,
}

impl Pca {
    /// Fits the `k` top principal directions of `rows` (row-major `[n, cols]`). `k` is capped at
    /// `cols`; a deterministic start (no randomness) keeps the result reproducible.
    pub fn fit(rows: &[f32], cols: usize, k: usize) -> Pca {
        let n = rows.len().checked_div(cols).unwrap_or(0);
        let k = k.min(cols);
        let mut mean = vec![0.0f64; cols];
        for row in rows.chunks_exact(cols.max(1)) {
            mean.iter_mut().zip(row).for_each(|(m, &x)| *m += f64::from(x));
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        // Covariance [cols, cols], symmetric.
        let mut cov = vec![0.0f64; cols * cols];
        let mut centred = vec![0.0f64; cols];
        for row in rows.chunks_exact(cols.max(1)) {
            centred.iter_mut().zip(row.iter().zip(&mean)).for_each(|(c, (&x, m))| *c = f64::from(x) - m);
            for i in 0..cols {
                let ci = centred[i];
                let line = &mut cov[i * cols..(i + 1) * cols];
                line.iter_mut().zip(&centred).for_each(|(c, &cj)| *c += ci * cj);
            }
        }
        cov.iter_mut().for_each(|c| *c /= n.max(1) as f64);

        let p = (k + SPARE_DIRECTIONS).min(cols);
        // A fixed, well-spread start: column j has a 1 at row j and small varied entries elsewhere.
        let mut basis: Vec<Vec<f64>> = (0..p)
            .map(|j| {
                (0..cols)
                    .map(|i| if i == j { 1.0 } else { (((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5) * 0.1 })
                    .collect()
            })
            .collect();
        orthonormalise(&mut basis);
        for _ in 0..MAX_ITERATIONS {
            let mut next: Vec<Vec<f64>> = basis.iter().map(|v| multiply(&cov, cols, v)).collect();
            orthonormalise(&mut next);
            let moved = next
                .iter()
                .zip(&basis)
                .map(|(a, b)| {
                    // A direction may come back with its sign flipped: compare up to sign.
                    let sign = if dot(a, b) < 0.0 { -1.0 } else { 1.0 };
                    a.iter().zip(b).map(|(x, y)| (x - sign * y).abs()).fold(0.0, f64::max)
                })
                .fold(0.0, f64::max);
            basis = next;
            if moved < TOLERANCE {
                break;
            }
        }
        // Rayleigh-Ritz: the covariance inside the subspace, diagonalised, orders the directions.
        let images: Vec<Vec<f64>> = basis.iter().map(|v| multiply(&cov, cols, v)).collect();
        let small: Vec<f64> =
            (0..p).flat_map(|a| (0..p).map(|b| dot(&basis[a], &images[b])).collect::<Vec<_>>()).collect();
        let (values, vectors) = jacobi_eigen(small, p);
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let directions = order
            .iter()
            .take(k)
            .map(|&e| {
                let mut d = vec![0.0; cols];
                for (a, v) in basis.iter().enumerate() {
                    let w = vectors[a * p + e];
                    d.iter_mut().zip(v).for_each(|(x, y)| *x += w * y);
                }
                d
            })
            .collect();
        let variances = order.iter().take(k).map(|&e| values[e].max(0.0)).collect();
        Pca { cols, mean, directions, variances }
    }

    /// Projects `rows` (row-major `[n, cols]`) onto the directions: row-major `[n, k]`.
    pub fn project(&self, rows: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows.len() / self.cols.max(1) * self.directions.len());
        let mut centred = vec![0.0f64; self.cols];
        for row in rows.chunks_exact(self.cols.max(1)) {
            centred.iter_mut().zip(row.iter().zip(&self.mean)).for_each(|(c, (&x, m))| *c = f64::from(x) - m);
            out.extend(self.directions.iter().map(|d| dot(d, &centred) as f32));
        }
        out
    }
}

/// Scales `values` so that their root mean square is `target` (left alone when all are zero).
pub fn scale_to_rms(values: &mut [f32], target: f32) {
    let rms = (values.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / values.len().max(1) as f64).sqrt();
    if rms > 0.0 {
        let factor = (f64::from(target) / rms) as f32;
        values.iter_mut().for_each(|v| *v *= factor);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `matrix` (`[n, n]`, row-major) times `v`.
fn multiply(matrix: &[f64], n: usize, v: &[f64]) -> Vec<f64> {
    matrix.chunks_exact(n).map(|row| dot(row, v)).collect()
}

/// Modified Gram-Schmidt, in place; a direction that vanishes (dependent) is replaced by a unit
/// vector orthogonal to the ones before it.
fn orthonormalise(vectors: &mut [Vec<f64>]) {
    for i in 0..vectors.len() {
        for j in 0..i {
            let (done, rest) = vectors.split_at_mut(i);
            let projection = dot(&done[j], &rest[0]);
            rest[0].iter_mut().zip(&done[j]).for_each(|(x, y)| *x -= projection * y);
        }
        let norm = dot(&vectors[i], &vectors[i]).sqrt();
        if norm > 1e-12 {
            vectors[i].iter_mut().for_each(|x| *x /= norm);
        } else {
            let cols = vectors[i].len();
            // The first axis that is not yet spanned.
            for axis in 0..cols {
                let mut candidate = vec![0.0; cols];
                candidate[axis] = 1.0;
                for done in vectors.iter().take(i) {
                    let projection = dot(done, &candidate);
                    candidate.iter_mut().zip(done).for_each(|(x, y)| *x -= projection * y);
                }
                let norm = dot(&candidate, &candidate).sqrt();
                if norm > 1e-6 {
                    vectors[i] = candidate.into_iter().map(|x| x / norm).collect();
                    break;
                }
            }
        }
    }
}

/// Eigenvalues and eigenvectors (columns of the row-major `[n, n]` result) of a symmetric matrix
/// by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v: Vec<f64> = (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
    let scale = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * n + q].powi(2))
            .sum();
        if off.sqrt() <= 1e-14 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Rows `offset + sum_j z_j * s_j * u_j + noise`, with orthonormal planted directions `u_j`.
    fn planted(
        n: usize,
        cols: usize,
        strengths: &[f64],
        noise: f64,
        rng: &mut ChaCha8Rng,
    ) -> (Vec<f32>, Vec<Vec<f64>>) {
        let mut directions: Vec<Vec<f64>> =
            strengths.iter().map(|_| (0..cols).map(|_| rng.random::<f64>() - 0.5).collect()).collect();
        orthonormalise(&mut directions);
        let offset: Vec<f64> = (0..cols).map(|i| i as f64 * 0.1).collect();
        let mut rows = Vec::with_capacity(n * cols);
        for _ in 0..n {
            let z: Vec<f64> = strengths.iter().map(|s| s * (rng.random::<f64>() * 2.0 - 1.0) * 3f64.sqrt()).collect();
            for i in 0..cols {
                let signal: f64 = z.iter().zip(&directions).map(|(zj, u)| zj * u[i]).sum();
                rows.push((offset[i] + signal + noise * (rng.random::<f64>() * 2.0 - 1.0)) as f32);
            }
        }
        (rows, directions)
    }

    #[test]
    fn pca_recovers_a_planted_low_rank_structure() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let strengths = [5.0, 3.0, 2.0];
        let (rows, planted_directions) = planted(2000, 40, &strengths, 0.05, &mut rng);
        let pca = Pca::fit(&rows, 40, 3);
        // Each found direction is a planted one (up to sign), strongest first.
        for (found, truth) in pca.directions.iter().zip(&planted_directions) {
            assert!(dot(found, truth).abs() > 0.99, "cosine {}", dot(found, truth));
        }
        // Variances match the strengths (uniform z of variance 1 times strength squared).
        for (variance, s) in pca.variances.iter().zip(strengths) {
            assert!((variance / (s * s) - 1.0).abs() < 0.1, "variance {variance} for strength {s}");
        }
        // Projecting keeps the distances between rows: the dropped part is only noise.
        let projected = pca.project(&rows);
        let distance = |x: &[f32], a: usize, b: usize, w: usize| -> f64 {
            (0..w).map(|i| f64::from(x[a * w + i] - x[b * w + i]).powi(2)).sum::<f64>().sqrt()
        };
        for (a, b) in [(0, 1), (5, 17), (100, 1999)] {
            let (full, low) = (distance(&rows, a, b, 40), distance(&projected, a, b, 3));
            assert!((full - low).abs() < 0.1 * full.max(0.5), "{full} vs {low}");
        }
    }

    #[test]
    fn scaling_sets_the_root_mean_square() {
        let mut values = vec![3.0, -4.0, 0.0, 5.0];
        scale_to_rms(&mut values, 1.0);
        let rms = (values.iter().map(|v| v * v).sum::<f32>() / 4.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-6);
        let mut zeros = vec![0.0; 3];
        scale_to_rms(&mut zeros, 1.0);
        assert_eq!(zeros, vec![0.0; 3]);
    }
}
