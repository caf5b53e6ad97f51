use faceprint_types::DetectedFace;

/// Which faces of an image to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceSelect {
    /// Every face, best detector score first.
    #[default]
    All,
    /// The face with the biggest box.
    Largest,
    /// The face whose box centre is nearest the image centre (LFW labels the centred face).
    Center,
}

/// The face whose box centre is nearest the image centre, by index.
pub fn centre_face(faces: &[DetectedFace], width: u32, height: u32) -> Option<usize> {
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let distance = |f: &DetectedFace| {
        let [x, y] = f.bbox.center();
        (x - cx).powi(2) + (y - cy).powi(2)
    };
    faces.iter().enumerate().min_by(|a, b| distance(a.1).total_cmp(&distance(b.1))).map(|(i, _)| i)
}

impl FaceSelect {
    pub fn apply(self, mut faces: Vec<DetectedFace>, width: u32, height: u32) -> Vec<DetectedFace> {
        let best = match self {
            FaceSelect::All => return faces,
            // The first of equal largest faces (min_by keeps the first of equals).
            FaceSelect::Largest => {
                faces.iter().enumerate().min_by(|a, b| (-a.1.bbox.area()).total_cmp(&-b.1.bbox.area())).map(|(i, _)| i)
            }
            FaceSelect::Center => centre_face(&faces, width, height),
        };
        match best {
            Some(i) => vec![faces.swap_remove(i)],
            None => faces,
        }
    }
}

impl std::str::FromStr for FaceSelect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(FaceSelect::All),
            "largest" => Ok(FaceSelect::Largest),
            "center" | "centre" => Ok(FaceSelect::Center),
            other => Err(format!("unknown face selection {other:?}: use all, largest or center")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faceprint_types::BBox;

    fn face(x1: f32, size: f32) -> DetectedFace {
        DetectedFace { bbox: BBox::new(x1, 0.0, x1 + size, size), score: 0.9, landmarks: [[0.0; 2]; 5] }
    }

    #[test]
    fn center_and_largest_pick_different_faces() {
        let faces = vec![face(0.0, 60.0), face(45.0, 10.0)];
        assert_eq!(FaceSelect::Largest.apply(faces.clone(), 100, 10)[0].bbox.x1, 0.0);
        assert_eq!(FaceSelect::Center.apply(faces.clone(), 100, 10)[0].bbox.x1, 45.0);
        assert_eq!(FaceSelect::All.apply(faces, 100, 10).len(), 2);
        assert!(FaceSelect::Center.apply(vec![], 100, 10).is_empty());
    }
}
