//! What `faceprint analyze` writes for people and draws: 106 landmarks, head pose, eye openness
//! and quality of every face (its JSON is `output::FileRecord`).

use std::io::Write;
use std::path::Path;

use faceprint::{Error, ImageFaces};

pub fn write_human(out: &mut impl Write, path: &Path, result: &Result<ImageFaces, Error>) -> std::io::Result<()> {
    let image = match result {
        Ok(image) => image,
        Err(e) => return writeln!(out, "{}: error [{}]: {e}", path.display(), e.code()),
    };
    writeln!(out, "{}: {}x{}, {} face(s)", path.display(), image.width, image.height, image.faces.len())?;
    for (i, face) in image.faces.iter().enumerate() {
        let Some(a) = &face.analysis else { continue };
        let b = face.detection.bbox;
        write!(out, "  #{i} box [{:.0}, {:.0}, {:.0}, {:.0}] quality {:.2}", b.x1, b.y1, b.x2, b.y2, a.quality.score)?;
        if let Some(p) = a.pose {
            write!(out, " yaw {:+.0}° pitch {:+.0}° roll {:+.0}°", p.yaw, p.pitch, p.roll)?;
        }
        if let Some(e) = a.eyes {
            write!(out, " eyes {:.2}/{:.2}{}", e.left, e.right, if e.closed { " closed" } else { "" })?;
        }
        let q = &a.quality.parts;
        writeln!(
            out,
            "\n     sharpness {:.0} brightness {:.0} contrast {:.0} inter-ocular {:.0} px detection {:.2}",
            q.sharpness.value, q.brightness.value, q.contrast.value, q.face_size.value, q.detection.value
        )?;
    }
    Ok(())
}

/// 106 landmarks, pose axes and the quality score of each analysed face, onto the photo.
pub fn draw_analysis(image: &mut faceprint::imaging::RgbImage, faces: &ImageFaces) {
    for face in &faces.faces {
        let Some(analysis) = &face.analysis else { continue };
        if let Some(points) = &analysis.landmarks106 {
            faceprint::draw::draw_points(image, points, image::Rgb([255, 255, 0]));
        }
        if let Some(fit) = &analysis.pose_fit {
            // Axes half a reference-face unit long from the nose tip.
            let nose = faceprint_vision::analysis::pose::REFERENCE_FACE[5].1;
            let tip = |d: [f64; 3]| fit.project([nose[0] + d[0], nose[1] + d[1], nose[2] + d[2]]);
            if let (Some(o), Some(x), Some(y), Some(z)) =
                (tip([0.0; 3]), tip([0.5, 0.0, 0.0]), tip([0.0, 0.5, 0.0]), tip([0.0, 0.0, -0.5]))
            {
                faceprint::draw::draw_axes(image, o, [x, y, z]);
            }
        }
        let b = face.detection.bbox;
        let mut label = format!("q {:.2}", analysis.quality.score);
        if let Some(p) = analysis.pose {
            label.push_str(&format!(" y{:+.0} p{:+.0} r{:+.0}", p.yaw, p.pitch, p.roll));
        }
        if analysis.eyes.is_some_and(|e| e.closed) {
            label.push_str(" eyes closed");
        }
        faceprint::draw::draw_label(image, [b.x1, b.y2 + 2.0], &label, image::Rgb([255, 255, 0]));
    }
}
