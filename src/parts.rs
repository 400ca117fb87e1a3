//! The passes over every entry after a scan (placing, detecting, tallying rules) split into
//! contiguous parts, one thread each. Once a scan has ended its reader threads are done, and on
//! a many-file input these passes were most of a check, on one core of the two CI has.
//!
//! Parts are contiguous and their results come back in order, so a caller that merges them in
//! that order gets what one pass would have: the output never depends on the thread count.

/// Below this many entries a part is not worth a thread (a spawn costs tens of microseconds, an
/// entry's pass well under one).
const ENTRIES_PER_PART: usize = 16 * 1024;

fn part_len(len: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let parts = (len / ENTRIES_PER_PART).clamp(1, cores);
    len.div_ceil(parts).max(1)
}

/// `work` over contiguous parts of `items`, given each part's offset; the results in order.
pub fn map<T: Sync, R: Send>(items: &[T], work: impl Fn(usize, &[T]) -> R + Sync) -> Vec<R> {
    let len = part_len(items.len());
    if len >= items.len() {
        return vec![work(0, items)];
    }
    on_threads(items.chunks(len), len, &work)
}

/// [`map`] over parts that `work` may change.
pub fn map_mut<T: Send, R: Send>(items: &mut [T], work: impl Fn(usize, &mut [T]) -> R + Sync) -> Vec<R> {
    let len = part_len(items.len());
    if len >= items.len() {
        return vec![work(0, items)];
    }
    on_threads(items.chunks_mut(len), len, &work)
}

/// One thread per part, each `len` items long but the last; a panic in one is re-raised here.
fn on_threads<P: Send, R: Send>(parts: impl Iterator<Item = P>, len: usize, work: &(impl Fn(usize, P) -> R + Sync)) -> Vec<R> {
    std::thread::scope(|threads| {
        let running: Vec<_> = parts.enumerate().map(|(index, part)| threads.spawn(move || work(index * len, part))).collect();
        running.into_iter().map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order() {
        for len in [0, 1, ENTRIES_PER_PART - 1, 2 * ENTRIES_PER_PART + 7, 9 * ENTRIES_PER_PART] {
            let items: Vec<usize> = (0..len).collect();
            let seen: Vec<usize> = map(&items, |offset, part| {
                assert!(part.iter().enumerate().all(|(i, &item)| item == offset + i), "offsets are where the part starts");
                part.to_vec()
            })
            .concat();
            assert_eq!(seen, items);
            let mut changed = items.clone();
            map_mut(&mut changed, |_, part| part.iter_mut().for_each(|item| *item += 1));
            assert!(changed.iter().zip(&items).all(|(a, b)| *a == b + 1));
        }
    }
}
