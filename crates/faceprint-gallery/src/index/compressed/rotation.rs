//! Sign codes: a faceprint becomes one bit per dimension after centring and a fixed random
//! rotation, so that Hamming distance between codes tracks the angle between the vectors.
//!
//! The rotation is a randomised Hadamard transform (`H·D₃·H·D₂·H·D₁`, `Dᵢ` fixed random signs):
//! it spreads every direction over all dimensions, as a dense random orthogonal matrix would,
//! in O(d log d) instead of O(d²), and it is plain float arithmetic in a fixed order, so codes
//! are bit-identical on every platform. Without it, the sign bits of an embedding's few
//! high-variance dimensions would count as much as those of its many quiet ones.

/// Rounds of sign flip + Hadamard transform. One round leaves a visible structure (each output
/// is a ±sum of all inputs with the same magnitude pattern); three are the usual choice.
const ROUNDS: usize = 3;
/// Seed of the sign flips: any fixed value; changing it changes every saved code.
const SEED: u64 = 0x6661_6365_7072_696e;

/// SplitMix64: a tiny, well-mixed generator, enough for fixed sign patterns.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 8-point transform (the first three butterfly stages), unrolled: those stages are too
/// short for the compiler to vectorise as loops.
#[inline(always)]
fn hadamard8(b: &mut [f32]) {
    let (a0, a1, a2, a3) = (b[0] + b[1], b[0] - b[1], b[2] + b[3], b[2] - b[3]);
    let (a4, a5, a6, a7) = (b[4] + b[5], b[4] - b[5], b[6] + b[7], b[6] - b[7]);
    let (c0, c1, c2, c3) = (a0 + a2, a1 + a3, a0 - a2, a1 - a3);
    let (c4, c5, c6, c7) = (a4 + a6, a5 + a7, a4 - a6, a5 - a7);
    b.copy_from_slice(&[c0 + c4, c1 + c5, c2 + c6, c3 + c7, c0 - c4, c1 - c5, c2 - c6, c3 - c7]);
}

/// In-place unnormalised fast Walsh–Hadamard transform; `x.len()` is a power of two, at least 8.
fn hadamard(x: &mut [f32]) {
    let n = x.len();
    x.chunks_exact_mut(8).for_each(hadamard8);
    let mut half = 8;
    while half < n {
        for block in x.chunks_exact_mut(2 * half) {
            let (left, right) = block.split_at_mut(half);
            for (a, b) in left.iter_mut().zip(right.iter_mut()) {
                let (u, v) = (*a, *b);
                *a = u + v;
                *b = u - v;
            }
        }
        half *= 2;
    }
}

/// Maps vectors of `dims` dimensions to sign codes of `bits()` bits (`dims` rounded up to a
/// power of two, at least 64).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SignCoder {
    dims: usize,
    padded: usize,
    /// `ROUNDS × padded` factors of ±1.
    signs: Vec<f32>,
}

impl SignCoder {
    pub(crate) fn new(dims: usize) -> Self {
        let padded = dims.next_power_of_two().max(64);
        let mut state = SEED;
        let mut signs = Vec::with_capacity(ROUNDS * padded);
        while signs.len() < ROUNDS * padded {
            let word = splitmix64(&mut state);
            signs.extend((0..64).map(|bit| if word >> bit & 1 == 1 { -1.0 } else { 1.0 }));
        }
        signs.truncate(ROUNDS * padded);
        Self { dims, padded, signs }
    }

    /// 64-bit words per code.
    pub(crate) fn words(&self) -> usize {
        self.padded / 64
    }

    /// A buffer for [`SignCoder::encode`].
    pub(crate) fn scratch(&self) -> Vec<f32> {
        vec![0.0; self.padded]
    }

    /// The code of `vector − centre`, written to `out` (`words()` long), using `x` (from
    /// [`SignCoder::scratch`]) as working space. A zero coordinate counts as negative.
    pub(crate) fn encode(&self, vector: &[f32], centre: &[f32], x: &mut [f32], out: &mut [u64]) {
        debug_assert_eq!(vector.len(), self.dims);
        x.fill(0.0);
        for ((x, v), c) in x.iter_mut().zip(vector).zip(centre) {
            *x = v - c;
        }
        for signs in self.signs.chunks_exact(self.padded) {
            x.iter_mut().zip(signs).for_each(|(x, s)| *x *= s);
            hadamard(x);
        }
        for (word, values) in out.iter_mut().zip(x.chunks_exact(64)) {
            *word = values.iter().enumerate().fold(0u64, |w, (bit, &v)| w | (u64::from(v > 0.0) << bit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadamard_is_orthogonal_up_to_scale() {
        let mut x: Vec<f32> = (0..16).map(|i| i as f32 - 3.0).collect();
        let norm: f32 = x.iter().map(|v| v * v).sum();
        hadamard(&mut x);
        let rotated: f32 = x.iter().map(|v| v * v).sum();
        assert!((rotated / 16.0 - norm).abs() < 1e-3);
        // The transform is its own inverse up to n.
        hadamard(&mut x);
        assert_eq!(x, (0..16).map(|i| 16.0 * (i as f32 - 3.0)).collect::<Vec<_>>());
        // Against the definition: H[i][j] = (−1)^popcount(i & j).
        let y: Vec<f32> = (0..16).map(|i| ((i * 7) % 5) as f32).collect();
        let mut fast = y.clone();
        hadamard(&mut fast);
        for (i, value) in fast.iter().enumerate() {
            let direct: f32 =
                y.iter().enumerate().map(|(j, v)| if (i & j).count_ones() % 2 == 0 { *v } else { -v }).sum();
            assert_eq!(*value, direct);
        }
    }

    #[test]
    fn hamming_distance_tracks_the_angle() {
        // For a random rotation, P(bit differs) = angle / π.
        let dims = 512;
        let coder = SignCoder::new(dims);
        let centre = vec![0.0; dims];
        let mut state = 7;
        let mut gaussian = || {
            let u = (splitmix64(&mut state) >> 11) as f32 / (1u64 << 53) as f32 + 1e-9;
            let v = (splitmix64(&mut state) >> 11) as f32 / (1u64 << 53) as f32;
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        };
        let a: Vec<f32> = (0..dims).map(|_| gaussian()).collect();
        let noise: Vec<f32> = (0..dims).map(|_| gaussian()).collect();
        for mix in [0.2f32, 1.0, 3.0] {
            let b: Vec<f32> = a.iter().zip(&noise).map(|(x, n)| x + mix * n).collect();
            let cos = a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
                / (a.iter().map(|x| x * x).sum::<f32>() * b.iter().map(|x| x * x).sum::<f32>()).sqrt();
            let (mut ca, mut cb) = (vec![0; 8], vec![0; 8]);
            let mut scratch = coder.scratch();
            coder.encode(&a, &centre, &mut scratch, &mut ca);
            coder.encode(&b, &centre, &mut scratch, &mut cb);
            let hamming: u32 = ca.iter().zip(&cb).map(|(x, y)| (x ^ y).count_ones()).sum();
            let expected = cos.clamp(-1.0, 1.0).acos() / std::f32::consts::PI * 512.0;
            assert!((hamming as f32 - expected).abs() < 40.0, "cos {cos}: {hamming} bits vs {expected}");
        }
    }

    #[test]
    fn small_dimensions_pad_to_one_word() {
        let coder = SignCoder::new(3);
        assert_eq!(coder.words(), 1);
        let mut code = [0u64];
        coder.encode(&[1.0, 0.0, 0.0], &[0.0; 3], &mut coder.scratch(), &mut code);
        assert_ne!(code[0], 0);
    }
}
