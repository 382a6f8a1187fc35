//! Count head that counts over time (TGIF-QA Count): every frame scores how much of an event of
//! the asked action it shows, and the count is read off the summed evidence.
//!
//! The pooled classifier it replaces must compress "how many jumps" into one [CLS] vector; in this
//! project that head stayed at the answer prior whatever the frame density (docs/results). Here the
//! count is a sum over frames (like density-map counting), so one more event means more evidence,
//! and each frame's share shows where the model saw the events.

use burn::module::Param;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid};

/// Added to every frame's evidence logit: most frames hold no event, so a fresh head starts near
/// 0.12 per frame (a count of about 2 over 16 frames) instead of 0.5 (8), far above every answer.
const EVIDENCE_PRIOR_LOGIT: f32 = -2.0;

/// Configuration of [`EventCounter`].
#[derive(Config, Debug)]
pub struct EventCounterConfig {
    /// Token width.
    pub d_model: usize,
    /// Count classes: counts 0 ..= classes - 1.
    pub classes: usize,
    /// Starting log of the sharpness of the count distribution (0: sharpness 1).
    #[config(default = 0.0)]
    pub initial_log_sharpness: f32,
}

/// Per-frame event evidence → expected count → logits over the count classes.
#[derive(Module, Debug)]
pub struct EventCounter<B: Backend> {
    hidden: Linear<B>,
    evidence: Linear<B>,
    /// Log of the sharpness of the count distribution around the expected count.
    log_sharpness: Param<Tensor<B, 1>>,
    /// Count classes: counts 0 ..= classes - 1.
    classes: usize,
}

/// What [`EventCounter::forward`] returns.
pub struct EventCount<B: Backend> {
    /// Evidence of an event in each frame, in (0, 1), `[questions, frames]`.
    pub evidence: Tensor<B, 2>,
    /// Expected count, `[questions]`.
    pub expected: Tensor<B, 1>,
    /// `-sharpness * (k - expected)^2` for every count `k`, `[questions, classes]`.
    pub logits: Tensor<B, 2>,
}

impl EventCounterConfig {
    /// Builds the module with freshly initialised weights.
    pub fn init<B: Backend>(&self, device: &B::Device) -> EventCounter<B> {
        EventCounter {
            hidden: LinearConfig::new(self.d_model, self.d_model).init(device),
            evidence: LinearConfig::new(self.d_model, 1).init(device),
            log_sharpness: Initializer::Constant { value: f64::from(self.initial_log_sharpness) }.init([1], device),
            classes: self.classes,
        }
    }
}

impl<B: Backend> EventCounter<B> {
    /// # Shapes
    /// - `frames`: stage-1 output per frame ([`super::QuestionContext::frame_tokens`]),
    ///   `[questions, frames, d_model]`
    pub fn forward(&self, frames: Tensor<B, 3>) -> EventCount<B> {
        let [questions, n_frames, _] = frames.dims();
        let logits = self.evidence.forward(gelu(self.hidden.forward(frames))) + EVIDENCE_PRIOR_LOGIT;
        let evidence = sigmoid(logits).reshape([questions, n_frames]);
        // A sum, so each frame can add up to one event: the head counts over the frames it is given
        // and is trained at the model's sampling (its frame count); read with far denser sampling,
        // an event seen in more frames may count more than once.
        let expected = evidence.clone().sum_dim(1).reshape([questions]); // [questions]
        let device = evidence.device();
        let counts = Tensor::<B, 1, Int>::arange(0..self.classes as i64, &device).float().unsqueeze_dim::<2>(0); // [1, classes]
        let distance = counts - expected.clone().unsqueeze_dim::<2>(1); // [questions, classes]
        let sharpness = self.log_sharpness.val().exp().unsqueeze_dim::<2>(1); // [1, 1]
        let logits = distance.powi_scalar(2).neg() * sharpness;
        EventCount { evidence, expected, logits }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use burn::tensor::{Distribution, TensorData};

    use super::*;

    type B = Autodiff<Flex>;

    /// Frame tokens of `questions` clips of 16 frames: noise, plus a fixed "event" pattern on the
    /// frames in `events[q]`.
    fn clips(events: &[Vec<usize>], pattern: &Tensor<B, 1>, device: &burn::tensor::Device<B>) -> Tensor<B, 3> {
        let d = pattern.dims()[0];
        let mut mask = vec![0f32; events.len() * 16];
        for (q, frames) in events.iter().enumerate() {
            for &t in frames {
                mask[q * 16 + t] = 1.0;
            }
        }
        let mask = Tensor::<B, 3>::from_data(TensorData::new(mask, [events.len(), 16, 1]), device);
        let noise = Tensor::<B, 3>::random([events.len(), 16, d], Distribution::Normal(0.0, 0.3), device);
        noise + mask * pattern.clone().reshape([1, 1, d])
    }

    /// Clips with 1 to 6 events at distinct random frames, and their counts.
    fn random_events(n: usize, seed: u64) -> (Vec<Vec<usize>>, Vec<i64>) {
        use rand::{Rng, SeedableRng, seq::SliceRandom};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut frames: Vec<usize> = (0..16).collect();
        (0..n)
            .map(|_| {
                let count = rng.random_range(1..=6);
                frames.shuffle(&mut rng);
                (frames[..count].to_vec(), count as i64)
            })
            .unzip()
    }

    #[test]
    fn expected_count_is_the_summed_evidence_and_logits_peak_there() {
        let device = Default::default();
        let counter = EventCounterConfig::new(8, 11).init::<B>(&device);
        let out = counter.forward(Tensor::random([3, 16, 8], Distribution::Normal(0.0, 1.0), &device));
        assert_eq!(out.evidence.dims(), [3, 16]);
        assert_eq!(out.logits.dims(), [3, 11]);
        let sums = out.evidence.sum_dim(1).reshape([3]).into_data().to_vec::<f32>().unwrap();
        let expected = out.expected.into_data().to_vec::<f32>().unwrap();
        let best = out.logits.argmax(1).reshape([3]).into_data().convert::<i64>().to_vec::<i64>().unwrap();
        for q in 0..3 {
            assert!((sums[q] - expected[q]).abs() < 1e-5);
            assert_eq!(best[q], expected[q].round() as i64, "the most likely count is the nearest to the sum");
        }
    }

    #[test]
    fn learns_to_count_events_it_sees() {
        let device = Default::default();
        <B as Backend>::seed(&device, 1);
        let pattern = Tensor::<B, 1>::random([8], Distribution::Normal(0.0, 1.0), &device);
        let mut counter = EventCounterConfig::new(8, 11).init::<B>(&device);
        let mut optimizer = AdamConfig::new().init::<B, EventCounter<B>>();
        for step in 0..150 {
            let (events, counts) = random_events(32, step);
            let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(counts, [32]), &device);
            let logits = counter.forward(clips(&events, &pattern, &device)).logits;
            let loss = burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(logits, targets);
            let grads = GradientsParams::from_grads(loss.backward(), &counter);
            counter = optimizer.step(0.02, counter, grads);
        }
        let (events, counts) = random_events(200, 10_000);
        let predicted = counter.forward(clips(&events, &pattern, &device)).logits.argmax(1).reshape([200]);
        let predicted = predicted.into_data().convert::<i64>().to_vec::<i64>().unwrap();
        let right = predicted.iter().zip(&counts).filter(|(p, c)| p == c).count();
        // The answer prior (always the most common count) is right about 1 time in 6. The
        // backend's random generator is global and other tests of this binary draw from it in
        // parallel, so the initial weights and noise vary between runs (190 or more as a rule, 182 once).
        assert!(right >= 170, "{right} of 200 held-out clips counted right");
    }
}
