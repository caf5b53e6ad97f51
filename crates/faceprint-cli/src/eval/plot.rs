//! Pictures of results: ROC curves and error-versus-discard curves.

use std::path::Path;

use anyhow::{Context, Result};
use faceprint_eval::RocPoint;
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

/// Writes error-versus-discard curves (FNMR against the fraction discarded), one per measure.
pub fn write_edc_png(
    path: &Path,
    title: &str,
    curves: &[(String, Vec<faceprint_eval::quality::EdcPoint>)],
) -> Result<()> {
    register_font();
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let max_x = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.discarded)).fold(0.0, f64::max).max(0.01);
        let max_y = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.fnmr)).fold(0.0, f64::max).max(1e-3) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(65)
            .build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
        chart
            .configure_mesh()
            .x_desc("fraction of mated pairs discarded (lowest quality first)")
            .y_desc("false non-match rate")
            .draw()?;
        for (i, (name, curve)) in curves.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let width = if i == 0 { 4 } else { 2 };
            chart
                .draw_series(LineSeries::new(curve.iter().map(|p| (p.discarded, p.fnmr)), colour.stroke_width(width)))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
    }
    let image = image::RgbImage::from_raw(SIZE.0, SIZE.1, buffer).context("plot buffer size")?;
    image.save(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
