//! Runs many small, independent pieces of file system work (links, folders, reads of store
//! entries) on a few threads, giving results in the order of the input.

/// Items each thread takes at least: a link, a folder or a small read costs a few microseconds,
/// a thread about as much as ten of them.
const ITEMS_PER_THREAD: usize = 16;

/// At most this many threads: the work waits on the file system more than on the CPU, and a
/// few threads already keep it busy.
const MAX_THREADS: usize = 4;

/// `f` of every item, in item order, computed by up to four threads, each taking a run of
/// consecutive items (one thread, the caller's, for fewer than 32 items or one core). A thread
/// stops at its first error; the first error in item order is returned.
pub fn map<T: Sync, R: Send, E: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores
        .min(MAX_THREADS)
        .min(items.len() / ITEMS_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let runs: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|run| scope.spawn(move || run.iter().map(f).collect::<Result<Vec<R>, E>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for run in runs {
            // A panic in a thread is a bug of lvm's, not an error of the input: passed on.
            let results = run
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            out.extend(results);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items() {
        for n in [0, 1, 31, 32, 33, 100, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let out = map(&items, |i| Ok::<_, ()>(i * 2)).unwrap();
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>(), "{n}");
        }
    }

    #[test]
    fn the_first_error_in_item_order_is_returned() {
        let items: Vec<usize> = (0..200).collect();
        let err = map(&items, |i| if i % 37 == 36 { Err(*i) } else { Ok(*i) }).unwrap_err();
        assert_eq!(err, 36);
    }

    #[test]
    fn the_work_is_shared_by_threads_when_there_is_enough() {
        let items: Vec<usize> = (0..64).collect();
        let ids = map(&items, |_| Ok::<_, ()>(std::thread::current().id())).unwrap();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(distinct.len(), cores.clamp(1, 4), "{distinct:?}");
    }
}
