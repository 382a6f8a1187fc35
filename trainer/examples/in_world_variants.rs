//! Research probe (not shipped): flag rates of in-world feature variants.
use burn::prelude::*;
use shared_model::batch::encode_prepared;
use shared_model::gif_decode::{DecodeLimits, decode_gif};
use shared_model::in_world::InWorld;
use shared_model::pipeline::{INFERENCE_SEED, prepare_gif};
use shared_model::preprocess::PreparedClip;
use shared_model::sampling::seed_of;
use trainer::backend::{self, Compute};

fn variants(tokens: Tensor<Compute, 4>) -> Vec<Vec<f32>> {
    let [clips, frames, cells, d] = tokens.dims();
    let (cv, cm) = tokens.clone().var_mean_bias(2); // [c,f,1,d]
    let cell_mean = cm.clone().mean_dim(1).reshape([clips, d]);
    let cell_spread = cv.add_scalar(1e-6).sqrt().mean_dim(1).reshape([clips, d]);
    let (tv, _) = tokens.clone().var_mean_bias(1); // [c,1,cells,d]
    let time_spread = tv.add_scalar(1e-6).sqrt().mean_dim(2).reshape([clips, d]);
    let cell_max = (tokens.max_dim(2) - cm).mean_dim(1).reshape([clips, d]);
    let _ = (frames, cells);
    let all = Tensor::cat(vec![cell_mean, cell_spread, time_spread, cell_max], 1);
    let v = all.into_data().to_vec::<f32>().unwrap();
    v.chunks(4 * d).map(|c| c.to_vec()).collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bundle = backend::load_model(std::path::Path::new(&args[1]), true)?;
    let data = std::path::Path::new(&args[2]);
    let device = backend::device();
    let strategy = backend::strategy_for(&bundle.config, None)?;
    let split_feats = |split: &str, n: usize| -> anyhow::Result<Vec<Vec<f32>>> {
        let s = trainer::data::load(data, split, &bundle.config.preprocess, Some(n))?;
        let mut out = Vec::new();
        for chunk in s.gifs.chunks(16) {
            let clips: Vec<PreparedClip> =
                chunk.iter().map(|g| g.clip(&strategy.sample(&g.timeline, seed_of(&g.name))[0], s.size)).collect();
            let refs: Vec<&PreparedClip> = clips.iter().collect();
            let v = encode_prepared(
                &bundle.model,
                &bundle.config.preprocess,
                bundle.config.model.time_positions,
                &refs,
                &device,
            );
            out.extend(variants(v.tokens));
        }
        Ok(out)
    };
    let train = split_feats("Train", 2000)?;
    let val = split_feats("Val", 500)?;
    let mut ood = Vec::new();
    for dir in &args[3..] {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            let Ok(bytes) = std::fs::read(&p) else { continue };
            let Ok(gif) = decode_gif(&bytes, &DecodeLimits::default()) else { continue };
            let clips = prepare_gif(&gif, strategy, &bundle.config.preprocess, INFERENCE_SEED);
            let refs: Vec<&PreparedClip> = clips.iter().collect();
            let v = encode_prepared(
                &bundle.model,
                &bundle.config.preprocess,
                bundle.config.model.time_positions,
                &refs,
                &device,
            );
            ood.push((p.file_name().unwrap().to_string_lossy().to_string(), variants(v.tokens).remove(0)));
        }
    }
    let d = bundle.config.model.d_model;
    let names = ["mean", "cellspread", "timespread", "cellmax"];
    let subsets: Vec<Vec<usize>> =
        vec![vec![0, 1], vec![0, 2], vec![0, 1, 2], vec![0, 2, 3], vec![0, 1, 2, 3], vec![0, 3]];
    for subset in subsets {
        let pick = |f: &Vec<f32>| -> Vec<f32> { subset.iter().flat_map(|&b| f[b * d..(b + 1) * d].to_vec()).collect() };
        let tr: Vec<Vec<f32>> = train.iter().map(pick).collect();
        let mut m = InWorld::fit(&tr)?;
        let vd: Vec<f32> = val.iter().map(|f| m.distance(&pick(f)).unwrap()).collect();
        let mut sorted = vd.clone();
        sorted.sort_by(f32::total_cmp);
        m.choose_threshold(&vd, 0.99, 1.5);
        let od: Vec<(String, f32)> = ood.iter().map(|(n, f)| (n.clone(), m.distance(&pick(f)).unwrap())).collect();
        let flagged = od.iter().filter(|(_, x)| *x > m.threshold).count();
        let label: Vec<&str> = subset.iter().map(|&b| names[b]).collect();
        println!(
            "{:?}: val q50 {:.2} q99 {:.2} max {:.2}; threshold {:.2}; ood flagged {flagged}/{}; min ood {:.2}; misses {:?}",
            label,
            sorted[sorted.len() / 2],
            sorted[(sorted.len() * 99) / 100],
            sorted[sorted.len() - 1],
            m.threshold,
            od.len(),
            od.iter().map(|x| x.1).fold(f32::INFINITY, f32::min),
            od.iter().filter(|(_, x)| *x <= m.threshold).map(|(n, x)| format!("{n}:{x:.2}")).collect::<Vec<_>>()
        );
    }
    Ok(())
}
