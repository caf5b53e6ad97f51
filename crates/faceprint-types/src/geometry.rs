use serde::{Deserialize, Serialize};

/// A point in image pixels, `[x, y]` in JSON.
pub type Point = [f32; 2];

/// An axis-aligned box in original-image pixels, `[x1, y1, x2, y2]` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center(&self) -> Point {
        [(self.x1 + self.x2) * 0.5, (self.y1 + self.y2) * 0.5]
    }

    pub fn contains(&self, p: Point) -> bool {
        p[0] >= self.x1 && p[0] <= self.x2 && p[1] >= self.y1 && p[1] <= self.y2
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

impl From<[f32; 4]> for BBox {
    fn from(v: [f32; 4]) -> Self {
        Self::new(v[0], v[1], v[2], v[3])
    }
}

impl From<BBox> for [f32; 4] {
    fn from(b: BBox) -> Self {
        [b.x1, b.y1, b.x2, b.y2]
    }
}

/// The five ArcFace landmarks, in this order: left eye, right eye, nose tip, left and right
/// mouth corner ("left" as seen in the image).
pub type Landmarks5 = [Point; 5];

/// One face found by the detector, in original-image pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedFace {
    pub bbox: BBox,
    /// Detector confidence in [0, 1].
    pub score: f32,
    pub landmarks: Landmarks5,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_is_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let half = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn bbox_serialises_as_four_numbers() {
        let json = serde_json::to_string(&BBox::new(1.0, 2.0, 3.0, 4.0)).unwrap();
        assert_eq!(json, "[1.0,2.0,3.0,4.0]");
    }
}
