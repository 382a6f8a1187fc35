//! Shapes as `tiny-skia` paths, filled with its scan converter (anti-aliased or not, as the scene
//! says).
//!
//! Each path is built in unit coordinates around the object's centre (half the size = 1, y down),
//! then scaled by half the state's size, turned clockwise by its angle and moved to its centre.
//! The proportions are this renderer's own (a thinner star, thinner cross arms, an equilateral
//! triangle, a narrower diamond) but every shape stays inside the extents the world places
//! objects with (`Shape::half_extent`), so objects never leave the canvas or touch each other.

use tiny_skia::{FillRule, Paint, Path, PathBuilder, Pixmap, Rect, Transform};

use crate::generate::world::{Scene, Shape, State};

/// Star: inner radius as a fraction of the outer one (the primary renderer's stars are fatter).
pub const STAR_INNER_RATIO: f32 = 0.40;
/// Star: outer radius such that the tips at ±18° above the horizontal reach x = ±1.
pub const STAR_OUTER: f32 = 1.051_462_2;
/// Cross: half thickness of each arm (the primary renderer's arms are thicker).
pub const CROSS_HALF_THICKNESS: f32 = 0.27;
/// Diamond: half width; still clearly taller than wide, so it never reads as a turned square.
pub const DIAMOND_HALF_WIDTH: f32 = 0.62;
/// Triangle: equilateral, 2 units wide, centred on its bounding box.
const TRIANGLE_HALF_HEIGHT: f32 = 0.866_025_4;

/// The six unit paths, built once per GIF.
pub struct Shapes {
    paths: [Path; 6],
}

fn polygon(points: &[(f32, f32)]) -> Option<Path> {
    let mut pb = PathBuilder::new();
    let (&(x0, y0), rest) = points.split_first()?;
    pb.move_to(x0, y0);
    for &(x, y) in rest {
        pb.line_to(x, y);
    }
    pb.close();
    pb.finish()
}

fn star() -> Option<Path> {
    use std::f32::consts::PI;
    let points: Vec<(f32, f32)> = (0..10)
        .map(|k| {
            // Tip k/2 at -90° + 72° k/2 (the first one straight up), inner vertices between.
            let a = -PI / 2.0 + k as f32 * PI / 5.0;
            let r = if k % 2 == 0 { STAR_OUTER } else { STAR_OUTER * STAR_INNER_RATIO };
            (r * a.cos(), r * a.sin())
        })
        .collect();
    polygon(&points)
}

fn cross() -> Option<Path> {
    let t = CROSS_HALF_THICKNESS;
    polygon(&[
        (-t, -1.0),
        (t, -1.0),
        (t, -t),
        (1.0, -t),
        (1.0, t),
        (t, t),
        (t, 1.0),
        (-t, 1.0),
        (-t, t),
        (-1.0, t),
        (-1.0, -t),
        (-t, -t),
    ])
}

impl Shapes {
    pub fn new() -> Option<Shapes> {
        let h = TRIANGLE_HALF_HEIGHT;
        let w = DIAMOND_HALF_WIDTH;
        Some(Shapes {
            paths: [
                PathBuilder::from_circle(0.0, 0.0, 1.0)?,
                PathBuilder::from_rect(Rect::from_ltrb(-1.0, -1.0, 1.0, 1.0)?),
                polygon(&[(0.0, -h), (1.0, h), (-1.0, h)])?,
                star()?,
                cross()?,
                polygon(&[(0.0, -1.0), (w, 0.0), (0.0, 1.0), (-w, 0.0)])?,
            ],
        })
    }

    pub fn path(&self, shape: Shape) -> &Path {
        let i = match shape {
            Shape::Circle => 0,
            Shape::Square => 1,
            Shape::Triangle => 2,
            Shape::Star => 3,
            Shape::Cross => 4,
            Shape::Diamond => 5,
        };
        &self.paths[i]
    }
}

/// Unit coordinates to canvas pixels: scale by half the size, turn clockwise by `angle` (y points
/// down, so tiny-skia's positive rotation is clockwise on screen), move to the centre. Pixel i
/// spans [i, i+1) in both the world and tiny-skia.
pub fn placement(s: &State) -> Transform {
    let k = s.size / 2.0;
    let (sin, cos) = s.angle.sin_cos();
    Transform::from_row(k * cos, k * sin, -k * sin, k * cos, s.x, s.y)
}

/// The canvas: the background once, then each frame drawn over a fresh copy of it.
pub struct Canvas {
    pixmap: Pixmap,
    background: Vec<u8>,
}

impl Canvas {
    /// `background` is RGB, `size` px square.
    pub fn new(size: usize, background: &[u8]) -> Option<Canvas> {
        let side = u32::try_from(size).ok()?;
        let pixmap = Pixmap::new(side, side)?;
        // Opaque pixels are the same premultiplied or not.
        let background: Vec<u8> = background.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        Some(Canvas { pixmap, background })
    }

    /// Draws one object; invisible ones are skipped.
    pub fn draw_object(&mut self, path: &Path, rgb: [u8; 3], s: &State, antialias: bool) {
        if !s.visible {
            return;
        }
        let mut paint = Paint::default();
        paint.set_color_rgba8(rgb[0], rgb[1], rgb[2], 255);
        paint.anti_alias = antialias;
        self.pixmap.fill_path(path, &paint, FillRule::Winding, placement(s), None);
    }

    /// Renders frame `f` and returns it as RGB. Later objects are drawn first, so the first object
    /// (the one captions describe) is on top, as the world says.
    pub fn draw(&mut self, scene: &Scene, f: usize, shapes: &Shapes) -> Vec<u8> {
        self.pixmap.data_mut().copy_from_slice(&self.background);
        for o in scene.objects.iter().rev() {
            self.draw_object(shapes.path(o.shape), o.rgb, &o.track[f], scene.antialias);
        }
        self.pixmap.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One shape at `size` px on a black 64 px canvas; the covered pixels.
    fn mask(shape: Shape, size: f32, angle: f32, antialias: bool) -> Vec<[u8; 3]> {
        let canvas = 64;
        let shapes = Shapes::new().unwrap();
        let mut c = Canvas::new(canvas, &vec![0; canvas * canvas * 3]).unwrap();
        let s = State { x: 32.0, y: 32.0, size, angle, visible: true };
        c.draw_object(shapes.path(shape), [255, 255, 255], &s, antialias);
        c.pixmap.data().chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect()
    }

    #[test]
    fn shapes_stay_within_the_worlds_extents() {
        for shape in Shape::ALL {
            for angle in [0.0, 0.3, 1.1, 2.5, 4.0] {
                let size = 36.0;
                let m = mask(shape, size, angle, false);
                let (hx, hy) = shape.half_extent(angle != 0.0);
                for (i, p) in m.iter().enumerate() {
                    if p[0] > 0 {
                        let (x, y) = ((i % 64) as f32 + 0.5, (i / 64) as f32 + 0.5);
                        assert!((x - 32.0).abs() <= hx * size / 2.0 + 0.01, "{shape:?} {angle}");
                        assert!((y - 32.0).abs() <= hy * size / 2.0 + 0.01, "{shape:?} {angle}");
                    }
                }
            }
        }
    }

    #[test]
    fn upright_shapes_span_their_size_and_cover_their_centre() {
        for shape in Shape::ALL {
            for size in [14.0, 20.0, 36.0] {
                let m = mask(shape, size, 0.0, false);
                let on: Vec<usize> = (0..m.len()).filter(|&i| m[i][0] == 255).collect();
                let span = |v: Vec<usize>| v.iter().max().unwrap() - v.iter().min().unwrap() + 1;
                let width = span(on.iter().map(|i| i % 64).collect());
                let height = span(on.iter().map(|i| i / 64).collect());
                let across = width.max(height) as f32;
                assert!((size - 2.0..=size + 1.0).contains(&across), "{shape:?} at {size} px is {width}x{height} px");
                // The object's centre pixel is inside every shape, fully covered.
                assert_eq!(m[32 * 64 + 32], [255; 3], "{shape:?}");
            }
        }
    }

    #[test]
    fn antialiasing_follows_the_flag() {
        let s = |aa| {
            let levels: std::collections::BTreeSet<u8> =
                mask(Shape::Circle, 21.3, 0.0, aa).iter().map(|p| p[0]).collect();
            levels.len()
        };
        assert_eq!(s(false), 2);
        assert!(s(true) > 5);
    }

    #[test]
    fn spins_turn_clockwise_about_the_centre() {
        // A quarter turn clockwise takes the triangle's apex (top) to the right.
        let m = mask(Shape::Triangle, 30.0, std::f32::consts::FRAC_PI_2, false);
        let on = |x: usize, y: usize| m[y * 64 + x][0] == 255;
        assert!(on(32 + 8, 32) && !on(32 + 8, 32 - 10) && !on(32 + 8, 32 + 10));
        assert!(on(32 - 12, 32 - 12) && on(32 - 12, 32 + 12) && on(32, 32));
    }
}
