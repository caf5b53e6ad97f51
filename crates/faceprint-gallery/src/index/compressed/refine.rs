//! The middle stage: the Hamming shortlist re-scored against the query's unquantised rotated
//! vector. Hamming distance quantises both sides; scoring a stored code against the float query
//! (`Σ q_i · (±1)`) quantises only the stored side, so it ranks the shortlist closer to the
//! true order at the cost of one table lookup per code byte, and only the best of it needs the
//! float vectors (2 KiB each, fetched from all over memory).

/// For each code byte position, the sum of the query's coordinates over the set bits of every
/// byte value: a code's score is the sum of one entry per byte.
#[derive(Debug)]
pub(crate) struct ByteTable {
    /// `bytes × 256` sums.
    sums: Vec<f32>,
}

impl ByteTable {
    /// `rotated` is the query after centring and rotation (`64 × words` values).
    pub(crate) fn new(rotated: &[f32]) -> Self {
        let mut sums = vec![0.0f32; rotated.len() / 8 * 256];
        for (table, coordinates) in sums.chunks_exact_mut(256).zip(rotated.chunks_exact(8)) {
            for value in 1..256usize {
                // The sum for `value` is that of `value` without its lowest bit, plus that bit's.
                let lowest = value.trailing_zeros() as usize;
                table[value] = table[value & (value - 1)] + coordinates[lowest];
            }
        }
        Self { sums }
    }

    /// `Σ` of the query's coordinates where the code's bit is set (word `w`, bit `b` is
    /// coordinate `64w + b`): larger is closer.
    #[inline]
    pub(crate) fn score(&self, code: impl Iterator<Item = u64>) -> f32 {
        let mut total = 0.0f32;
        let mut tables = self.sums.chunks_exact(256);
        for word in code {
            for byte in word.to_le_bytes() {
                total += tables.next().map_or(0.0, |t| t[byte as usize]);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_is_the_sum_over_set_bits() {
        let rotated: Vec<f32> = (0..128).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let table = ByteTable::new(&rotated);
        let code = [0x8000_0000_0000_0401u64, 0xffff_0000_0000_00f0];
        let direct: f32 = (0..128).filter(|&i| code[i / 64] >> (i % 64) & 1 == 1).map(|i| rotated[i]).sum();
        assert_eq!(table.score(code.iter().copied()), direct);
        assert_eq!(table.score([0u64, 0].into_iter()), 0.0);
    }
}
