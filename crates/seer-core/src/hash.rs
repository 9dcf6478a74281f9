//! Series ids to embedding rows: FNV-1a, as the deepar model specifies.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// The embedding row of a series: its position in `known_ids` when listed there, else the
/// FNV-1a hash of the id's UTF-8 bytes modulo `cardinality`.
///
/// The result is always below `cardinality` (0 when the cardinality is 0), so it can index the
/// embedding table without a check: a listed position at or past `cardinality`, which only an
/// inconsistent config can produce, falls back to the hash. When an id is listed twice the first
/// position counts.
pub fn series_index(id: &str, cardinality: usize, known_ids: Option<&[String]>) -> usize {
    if cardinality == 0 {
        return 0;
    }
    let known = known_ids
        .and_then(|ids| ids.iter().position(|k| k == id))
        .filter(|&i| i < cardinality);
    // The remainder is below `cardinality`, which is a usize, so the cast back is lossless.
    known.unwrap_or_else(|| (fnv1a64(id.as_bytes()) % cardinality as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_reference_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn series_index_hashes_unknown_ids() {
        // 0xaf63dc4c8601ec8c % 10 = 12638187200555641996 % 10 = 6
        assert_eq!(series_index("a", 10, None), 6);
        // 0x85944171f73967e8 = 9625390261332436968; % 7 = 6
        assert_eq!(series_index("foobar", 7, None), 6);
        assert_eq!(series_index("foobar", 1, None), 0);
    }

    #[test]
    fn series_index_uses_known_position_first() {
        let ids = vec!["x".to_string(), "foobar".to_string(), "a".to_string()];
        assert_eq!(series_index("foobar", 7, Some(&ids)), 1);
        assert_eq!(series_index("a", 10, Some(&ids)), 2);
        // Not listed: the hash.
        assert_eq!(series_index("foobar", 7, Some(&ids[..1])), 6);
        assert_eq!(series_index("a", 10, Some(&[])), 6);
    }

    #[test]
    fn series_index_with_zero_cardinality_is_zero() {
        let ids = vec!["a".to_string(), "b".to_string()];
        assert_eq!(series_index("a", 0, None), 0);
        assert_eq!(series_index("b", 0, Some(&ids)), 0);
    }

    #[test]
    fn series_index_never_reaches_cardinality() {
        // "a" is listed at 2 but the table has 2 rows: hash instead (12638187200555641996 % 2 = 0).
        let ids = vec!["x".to_string(), "y".to_string(), "a".to_string()];
        assert_eq!(series_index("a", 2, Some(&ids)), 0);
        // Duplicates: the first listing wins.
        let dup = vec!["a".to_string(), "a".to_string()];
        assert_eq!(series_index("a", 5, Some(&dup)), 0);
    }
}
