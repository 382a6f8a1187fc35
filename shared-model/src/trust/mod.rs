//! How far an answer can be trusted: probabilities calibrated on held-out answers, with the
//! unsure threshold ([`calibration`]), and how far a GIF is from the world the model was trained
//! on ([`in_world`]). Both are fitted per model and stored in its `config.json`.

pub mod calibration;
pub mod in_world;
