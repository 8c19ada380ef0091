//! Advisory lock keys. The two-integer form keeps them apart from the event store's stream locks
//! (one 64-bit key each); the first integer names the purpose, the second the projection.

/// Held for the life of a live runner (session lock): one active runner per projection across
/// every process; the others stand by.
pub fn leader(name: &str) -> (i32, i32) {
    (0x5342_4c01, key(name))
}

/// Taken by every live batch and by the switch-over (transaction lock), so a switch-over never
/// lands in the middle of a batch.
pub fn batch(name: &str) -> (i32, i32) {
    (0x5342_4c02, key(name))
}

/// Held while a new generation is being built (session lock): one build per projection.
pub fn build(name: &str) -> (i32, i32) {
    (0x5342_4c03, key(name))
}

/// A stable 32-bit key for a name (FNV-1a), the same in every process and release.
fn key(name: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
}
