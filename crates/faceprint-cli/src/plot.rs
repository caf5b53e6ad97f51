//! Pictures of results: ROC curves.

use std::path::Path;

use anyhow::{Context, Result};
use faceprint::eval::RocPoint;
use plotters::prelude::*;

const SIZE: (u32, u32) = (800, 600);

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = faceprint::draw::font_bytes();
        // Registration fails only for an invalid font; the embedded one is valid.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Writes the ROC curve (TAR against FAR, FAR on a log axis) as a PNG.
pub fn write_roc_png(path: &Path, title: &str, points: &[RocPoint]) -> Result<()> {
    register_font();
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let min_far = 1e-3f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d((min_far..1.0f64).log_scale(), 0.8f64..1.0f64)?;
        chart.configure_mesh().x_desc("false accept rate").y_desc("true accept rate").draw()?;
        let series = points.iter().map(|p| (p.far.max(min_far), p.tar.max(0.8)));
        chart.draw_series(LineSeries::new(series, BLUE.stroke_width(2)))?;
        root.present()?;
    }
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, buffer).context("plot buffer size")?;
    image.save(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
