//! Head pose from landmarks: a perspective-n-point fit of a 3-D reference face to ten of the
//! 106 landmarks, by Levenberg–Marquardt on the reprojection error.
//!
//! **Reference face.** The 68-point mean 3-D face that InsightFace ships for its `1k3d68`
//! landmark model (`insightface/data/objects/meanshape_68.pkl`, a 3-D morphable model's mean
//! shape in units of about half a face width), at the ten points that have a stable counterpart
//! among the 106: eye corners, nose bridge, tip and base, mouth corners and chin. Each point was
//! averaged with its mirror image so the face is exactly left-right symmetric, which makes a
//! mirrored photo give exactly the opposite yaw and roll.
//!
//! **Camera.** Unknown, so a stand-in: a pinhole with the principal point at the image centre
//! and the focal length that puts the face [`ASSUMED_DISTANCE`] away, about a metre. The common
//! stand-in, a focal length equal to the image width, puts a face that fills its photo (a
//! passport photo, an ORL or LFW crop) some 20 cm from the lens; perspective then magnifies the
//! nose so much that the fit explains a turned head by closeness and reports half its yaw
//! (measured on ORL: turned heads came out at 10–13°).
//!
//! **Angles, in degrees.** The head frame is the camera's frame when the face looks straight
//! into the camera: x to the image's right, y down, z away from the camera. The fitted rotation
//! (head to camera) is `R = Rz(roll) · Ry(−yaw) · Rx(−pitch)`, so:
//! * **yaw > 0**: the face turns towards the image's right (the subject's own left);
//! * **pitch > 0**: the face tilts up (chin raised);
//! * **roll > 0**: the face is rotated clockwise as seen in the image.
//!
//! Mirroring a photo negates yaw and roll; rotating a photo clockwise by θ about its centre adds
//! θ to roll (an in-plane rotation about the principal point is a rotation of the camera about
//! its axis).

use faceprint_types::Point;
use nalgebra::{Matrix3, Rotation3, SMatrix, SVector, Vector3};
use serde::Serialize;

use super::landmarks106::index;

/// The symmetric reference face: (106-point index, [x, y, z]) in the head frame above.
pub const REFERENCE_FACE: [(usize, [f64; 3]); 10] = [
    (index::LEFT_EYE_OUTER, [-0.38175, -0.31345, -0.2614]),
    (index::LEFT_EYE_INNER, [-0.1471, -0.3125, -0.3163]),
    (index::RIGHT_EYE_INNER, [0.1471, -0.3125, -0.3163]),
    (index::RIGHT_EYE_OUTER, [0.38175, -0.31345, -0.2614]),
    (index::NOSE_BRIDGE, [0.0, -0.3231, -0.4619]),
    (index::NOSE_TIP, [0.0, -0.1426, -0.5987]),
    (index::NOSE_BASE, [0.0, 0.0398, -0.5147]),
    (index::MOUTH_LEFT, [-0.2098, 0.2382, -0.3776]),
    (index::MOUTH_RIGHT, [0.2098, 0.2382, -0.3776]),
    (index::CHIN, [0.0, 0.5844, -0.3884]),
];

/// Head pose in degrees (conventions in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// How far the stand-in camera is from the face, in reference-face units (the outer eye
/// corners are 0.76 apart, about 9.5 cm on an adult, so a unit is about 12.5 cm): about a metre.
pub const ASSUMED_DISTANCE: f64 = 8.0;

/// A pinhole camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub focal: f64,
    pub cx: f64,
    pub cy: f64,
}

impl Camera {
    /// The stand-in camera for a face whose reference points spread `spread` pixels (root-mean-square
    /// distance from their centroid) in a photo of this size: the reference face then sits
    /// [`ASSUMED_DISTANCE`] from it.
    pub fn for_face(width: u32, height: u32, spread: f64) -> Camera {
        let focal = ASSUMED_DISTANCE * spread.max(1e-3) / reference_spread();
        Camera { focal, cx: width as f64 / 2.0, cy: height as f64 / 2.0 }
    }

    fn project(&self, p: &Vector3<f64>) -> Option<[f64; 2]> {
        (p.z > 1e-9).then(|| [self.focal * p.x / p.z + self.cx, self.focal * p.y / p.z + self.cy])
    }
}

/// Why no pose could be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PoseError {
    #[error("head pose needs the 106 landmarks, got {0} points")]
    WrongPointCount(usize),
    #[error("the landmarks are degenerate (no spread)")]
    Degenerate,
}

/// A fitted pose: the angles, the rigid transform behind them and how well it fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseFit {
    pub pose: HeadPose,
    pub rotation: Matrix3<f64>,
    pub translation: Vector3<f64>,
    pub camera: Camera,
    /// Root-mean-square reprojection error over the ten points, pixels.
    pub rms_error: f64,
}

impl PoseFit {
    /// Where a point of the head frame lands in the image; `None` behind the camera.
    pub fn project(&self, head_point: [f64; 3]) -> Option<Point> {
        let p = self.rotation * Vector3::from(head_point) + self.translation;
        self.camera.project(&p).map(|[x, y]| [x as f32, y as f32])
    }
}

/// `R = Rz(roll) · Ry(−yaw) · Rx(−pitch)`, angles in radians.
pub fn rotation_from_angles(yaw: f64, pitch: f64, roll: f64) -> Matrix3<f64> {
    let rz = Rotation3::from_axis_angle(&Vector3::z_axis(), roll);
    let ry = Rotation3::from_axis_angle(&Vector3::y_axis(), -yaw);
    let rx = Rotation3::from_axis_angle(&Vector3::x_axis(), -pitch);
    (rz * ry * rx).into_inner()
}

/// The angles of [`rotation_from_angles`], in degrees.
pub fn angles_from_rotation(r: &Matrix3<f64>) -> HeadPose {
    let beta = (-r[(2, 0)]).clamp(-1.0, 1.0).asin();
    let alpha = r[(2, 1)].atan2(r[(2, 2)]);
    let gamma = r[(1, 0)].atan2(r[(0, 0)]);
    HeadPose { yaw: (-beta).to_degrees() as f32, pitch: (-alpha).to_degrees() as f32, roll: gamma.to_degrees() as f32 }
}

/// Fits the reference face to the 106 landmarks of a face in a `width × height` photo.
pub fn estimate_head_pose(landmarks: &[Point], width: u32, height: u32) -> Result<PoseFit, PoseError> {
    if landmarks.len() != super::landmarks106::LANDMARK_COUNT {
        return Err(PoseError::WrongPointCount(landmarks.len()));
    }
    let observed: Vec<[f64; 2]> =
        REFERENCE_FACE.iter().map(|(i, _)| [landmarks[*i][0] as f64, landmarks[*i][1] as f64]).collect();
    let model: Vec<Vector3<f64>> = REFERENCE_FACE.iter().map(|(_, p)| Vector3::from(*p)).collect();
    let mut camera = Camera::for_face(width, height, rms_spread(observed.iter().map(|p| [p[0], p[1]])));
    let mut pose = fit(&model, &observed, camera)?;
    // A turned face looks narrower, so the first focal length puts it too far; once the fit
    // knows the distance, scale the focal length to make it the assumed one and fit again.
    for _ in 0..2 {
        let distance = pose.translation.z;
        if !(distance.is_finite() && distance > 0.0) {
            break;
        }
        camera.focal *= ASSUMED_DISTANCE / distance;
        pose = fit(&model, &observed, camera)?;
    }
    Ok(pose)
}

/// Root-mean-square distance of points from their centroid.
fn rms_spread(points: impl Iterator<Item = [f64; 2]> + Clone) -> f64 {
    let n = points.clone().count().max(1) as f64;
    let (mx, my) = points.clone().fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
    (points.map(|p| (p[0] - mx).powi(2) + (p[1] - my).powi(2)).sum::<f64>() / n).sqrt()
}

/// [`rms_spread`] of the reference face seen from the front.
fn reference_spread() -> f64 {
    rms_spread(REFERENCE_FACE.iter().map(|(_, p)| [p[0], p[1]]))
}

/// Perspective-n-point by Levenberg–Marquardt from a few starting yaws (the cost has a mirror
/// minimum for strongly turned faces), keeping the best fit.
pub fn fit(model: &[Vector3<f64>], observed: &[[f64; 2]], camera: Camera) -> Result<PoseFit, PoseError> {
    let n = observed.len() as f64;
    let (mu, mv) = observed.iter().fold((0.0, 0.0), |(u, v), p| (u + p[0] / n, v + p[1] / n));
    let spread = observed.iter().map(|p| (p[0] - mu).powi(2) + (p[1] - mv).powi(2)).sum::<f64>() / n;
    if !spread.is_finite() || spread < 1e-6 {
        return Err(PoseError::Degenerate);
    }
    let model_centre = model.iter().fold(Vector3::zeros(), |acc, p| acc + p) / n;
    let model_spread = rms_spread(model.iter().map(|p| [p.x, p.y]));
    // Distance at which the reference face has the observed size; placed on the ray through
    // the landmarks' centroid.
    let depth = camera.focal * model_spread / spread.sqrt();
    let ray = Vector3::new((mu - camera.cx) / camera.focal, (mv - camera.cy) / camera.focal, 1.0) * depth;
    let mut best: Option<(f64, SVector<f64, 6>)> = None;
    for start_yaw in [0.0f64, -45.0, 45.0] {
        let rotation = rotation_from_angles(start_yaw.to_radians(), 0.0, 0.0);
        let omega = Rotation3::from_matrix_unchecked(rotation).scaled_axis();
        let translation = ray - rotation * model_centre;
        let start = SVector::<f64, 6>::new(omega.x, omega.y, omega.z, translation.x, translation.y, translation.z);
        let (params, cost) = levenberg_marquardt(model, observed, camera, start);
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, params));
        }
    }
    let (cost, params) = best.ok_or(PoseError::Degenerate)?;
    let rotation = Rotation3::from_scaled_axis(Vector3::new(params[0], params[1], params[2])).into_inner();
    Ok(PoseFit {
        pose: angles_from_rotation(&rotation),
        rotation,
        translation: Vector3::new(params[3], params[4], params[5]),
        camera,
        rms_error: (cost / n).sqrt(),
    })
}

/// Reprojection residuals (2 per point) of pose parameters [rotation vector, translation];
/// points behind the camera get a large residual.
fn residuals(model: &[Vector3<f64>], observed: &[[f64; 2]], camera: Camera, params: &SVector<f64, 6>) -> Vec<f64> {
    let rotation = Rotation3::from_scaled_axis(Vector3::new(params[0], params[1], params[2]));
    let translation = Vector3::new(params[3], params[4], params[5]);
    let mut out = Vec::with_capacity(observed.len() * 2);
    for (p, o) in model.iter().zip(observed) {
        match camera.project(&(rotation * p + translation)) {
            Some([x, y]) => out.extend([x - o[0], y - o[1]]),
            None => out.extend([1e6, 1e6]),
        }
    }
    out
}

fn sum_of_squares(r: &[f64]) -> f64 {
    r.iter().map(|v| v * v).sum()
}

/// Minimises the squared reprojection error from `start`; returns the parameters and the cost.
/// The Jacobian is taken by central differences: ten points and six parameters make that cheap.
fn levenberg_marquardt(
    model: &[Vector3<f64>],
    observed: &[[f64; 2]],
    camera: Camera,
    start: SVector<f64, 6>,
) -> (SVector<f64, 6>, f64) {
    const MAX_ITERATIONS: usize = 100;
    let mut params = start;
    let mut r = residuals(model, observed, camera, &params);
    let mut cost = sum_of_squares(&r);
    let mut lambda = 1e-3;
    for _ in 0..MAX_ITERATIONS {
        let mut jtj = SMatrix::<f64, 6, 6>::zeros();
        let mut jtr = SVector::<f64, 6>::zeros();
        let mut jacobian: Vec<Vec<f64>> = Vec::with_capacity(6);
        for k in 0..6 {
            // Rotation in radians, translation in the reference face's units × depth.
            let step = if k < 3 { 1e-6 } else { 1e-6 * params[5].abs().max(1.0) };
            let (mut plus, mut minus) = (params, params);
            plus[k] += step;
            minus[k] -= step;
            let (rp, rm) = (residuals(model, observed, camera, &plus), residuals(model, observed, camera, &minus));
            jacobian.push(rp.iter().zip(&rm).map(|(a, b)| (a - b) / (2.0 * step)).collect());
        }
        for i in 0..6 {
            jtr[i] = jacobian[i].iter().zip(&r).map(|(j, v)| j * v).sum();
            for k in 0..6 {
                jtj[(i, k)] = jacobian[i].iter().zip(&jacobian[k]).map(|(a, b)| a * b).sum();
            }
        }
        let mut improved = false;
        while lambda < 1e12 {
            let mut damped = jtj;
            for i in 0..6 {
                damped[(i, i)] += lambda * jtj[(i, i)].max(1e-12);
            }
            let Some(delta) = damped.cholesky().map(|c| c.solve(&(-jtr))) else {
                lambda *= 10.0;
                continue;
            };
            let candidate = params + delta;
            let r_new = residuals(model, observed, camera, &candidate);
            let cost_new = sum_of_squares(&r_new);
            if cost_new < cost {
                let converged = cost - cost_new < 1e-12 * cost.max(1e-12) || delta.norm() < 1e-12;
                params = candidate;
                r = r_new;
                cost = cost_new;
                lambda = (lambda / 10.0).max(1e-12);
                improved = !converged;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (params, cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known poses (yaw, pitch, roll) in degrees.
    const POSES: [(f64, f64, f64); 10] = [
        (0.0, 0.0, 0.0),
        (30.0, 0.0, 0.0),
        (-30.0, 0.0, 0.0),
        (0.0, 20.0, 0.0),
        (0.0, -20.0, 0.0),
        (0.0, 0.0, 35.0),
        (55.0, -15.0, 10.0),
        (-60.0, 25.0, -20.0),
        (15.0, 10.0, -40.0),
        (-75.0, 0.0, 5.0),
    ];

    /// The ten reference points seen by `camera` at the given angles (degrees), as a 106-point
    /// set (the other points unused).
    fn synthetic_landmarks(yaw: f64, pitch: f64, roll: f64, camera: Camera, at: Vector3<f64>) -> Vec<Point> {
        let rotation = rotation_from_angles(yaw.to_radians(), pitch.to_radians(), roll.to_radians());
        let mut points = vec![[0.0f32, 0.0]; 106];
        for (i, p) in REFERENCE_FACE {
            let [x, y] = camera.project(&(rotation * Vector3::from(p) + at)).unwrap();
            points[i] = [x as f32, y as f32];
        }
        points
    }

    #[test]
    fn angles_round_trip_through_the_rotation() {
        let r = rotation_from_angles(0.3, -0.2, 0.5);
        let pose = angles_from_rotation(&r);
        assert!((pose.yaw - 0.3f32.to_degrees()).abs() < 1e-3);
        assert!((pose.pitch + 0.2f32.to_degrees()).abs() < 1e-3);
        assert!((pose.roll - 0.5f32.to_degrees()).abs() < 1e-3);
    }

    fn model() -> Vec<Vector3<f64>> {
        REFERENCE_FACE.iter().map(|(_, p)| Vector3::from(*p)).collect()
    }

    fn observed(landmarks: &[Point]) -> Vec<[f64; 2]> {
        REFERENCE_FACE.iter().map(|(i, _)| [landmarks[*i][0] as f64, landmarks[*i][1] as f64]).collect()
    }

    #[test]
    fn known_poses_are_recovered_exactly_when_the_camera_is_known() {
        // A close wide-angle camera: strong perspective.
        let camera = Camera { focal: 640.0, cx: 320.0, cy: 240.0 };
        for &(yaw, pitch, roll) in &POSES {
            for at in [Vector3::new(0.0, 0.0, 4.0), Vector3::new(1.2, -0.6, 6.0)] {
                let landmarks = synthetic_landmarks(yaw, pitch, roll, camera, at);
                let fit = fit(&model(), &observed(&landmarks), camera).unwrap();
                let p = fit.pose;
                let error = [(p.yaw as f64 - yaw), (p.pitch as f64 - pitch), (p.roll as f64 - roll)];
                assert!(error.iter().all(|e| e.abs() < 0.01), "truth {yaw}/{pitch}/{roll} at {at:?}: got {p:?}");
                assert!(fit.rms_error < 0.01, "rms {}", fit.rms_error);
            }
        }
    }

    #[test]
    fn known_poses_are_recovered_within_a_degree_with_the_stand_in_camera() {
        // Photographed from about a metre with a 50 mm-like lens, anywhere in the frame: the
        // stand-in camera does not know the focal length and still gets within a degree. At
        // 60 cm or 2 m (distance 5 or 16) the wrong perspective costs up to 4°.
        let camera = Camera { focal: 1800.0, cx: 960.0, cy: 540.0 };
        let cases = [(Vector3::new(0.0, 0.0, 8.0), 1.0), (Vector3::new(1.5, -0.8, 8.0), 1.0)];
        let far_and_near = [(Vector3::new(0.0, 0.0, 5.0), 4.0), (Vector3::new(0.0, 0.0, 16.0), 4.0)];
        for &(yaw, pitch, roll) in &POSES {
            for (at, tolerance) in cases.iter().chain(&far_and_near) {
                let landmarks = synthetic_landmarks(yaw, pitch, roll, camera, *at);
                let p = estimate_head_pose(&landmarks, 1920, 1080).unwrap().pose;
                let error = [(p.yaw as f64 - yaw), (p.pitch as f64 - pitch), (p.roll as f64 - roll)];
                assert!(error.iter().all(|e| e.abs() < *tolerance), "truth {yaw}/{pitch}/{roll} at {at:?}: got {p:?}");
            }
        }
    }

    #[test]
    fn conventions_yaw_right_pitch_up_roll_clockwise() {
        let camera = Camera { focal: 400.0, cx: 200.0, cy: 200.0 };
        let at = Vector3::new(0.0, 0.0, 4.0);
        let fit = |y, p, r| estimate_head_pose(&synthetic_landmarks(y, p, r, camera, at), 400, 400).unwrap();
        let face_centre_x = |l: &Vec<Point>| (l[index::LEFT_EYE_OUTER][0] + l[index::RIGHT_EYE_OUTER][0]) / 2.0;
        // Yaw > 0: the nose tip moves towards the image's right of the eyes' midpoint.
        let turned = synthetic_landmarks(30.0, 0.0, 0.0, camera, at);
        assert!(turned[index::NOSE_TIP][0] > face_centre_x(&turned));
        assert!(fit(30.0, 0.0, 0.0).pose.yaw > 25.0);
        // Pitch > 0: the nose tip rises towards the eyes.
        let up = synthetic_landmarks(0.0, 20.0, 0.0, camera, at);
        let level = synthetic_landmarks(0.0, 0.0, 0.0, camera, at);
        let nose_below_eyes = |l: &Vec<Point>| l[index::NOSE_TIP][1] - l[index::LEFT_EYE_OUTER][1];
        assert!(nose_below_eyes(&up) < nose_below_eyes(&level));
        // Roll > 0: clockwise in the image, so the right eye sits lower than the left.
        let rolled = synthetic_landmarks(0.0, 0.0, 20.0, camera, at);
        assert!(rolled[index::RIGHT_EYE_OUTER][1] > rolled[index::LEFT_EYE_OUTER][1]);
    }

    #[test]
    fn degenerate_or_short_input_is_an_error() {
        assert_eq!(estimate_head_pose(&[[1.0, 1.0]; 5], 100, 100).unwrap_err(), PoseError::WrongPointCount(5));
        assert_eq!(estimate_head_pose(&[[3.0, 3.0]; 106], 100, 100).unwrap_err(), PoseError::Degenerate);
    }
}
