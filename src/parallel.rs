//! Runs many small, independent pieces of file system work (links, folders, reads of store
//! entries) on a few threads, giving results in the order of the input.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Items each thread takes at least: a link, a folder or a small read costs a few microseconds,
/// a thread about as much as ten of them.
const ITEMS_PER_THREAD: usize = 16;

/// At most this many threads: the work waits on the file system more than on the CPU, and a
/// few threads already keep it busy.
const MAX_THREADS: usize = 4;

/// `f` of every item, in item order, computed by up to four threads, each taking a run of
/// consecutive items (the calling thread alone for fewer than 32 items or on one core). The
/// first error in item order is returned; once one is met, the threads take no new items.
pub fn map<T: Sync, R: Send, E: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let threads = if items.len() < 2 * ITEMS_PER_THREAD {
        1
    } else {
        cores().min(MAX_THREADS).min(items.len() / ITEMS_PER_THREAD)
    };
    map_on(threads, items, f)
}

/// The cores this process may use, asked once (on Linux the answer reads cgroup files).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// [`map`] on `threads` threads (at least one). A run whose thread cannot be started (a
/// process limit) is done by the calling thread instead.
fn map_on<T: Sync, R: Send, E: Send>(
    threads: usize,
    items: &[T],
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    if threads <= 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    let f = &f;
    let failed = AtomicBool::new(false);
    let failed = &failed;
    // One run: its results, and the error it stopped at, if any. A run stops early, with no
    // error, once another has failed.
    let run = move |part: &[T]| -> (Vec<R>, Option<E>) {
        let mut done = Vec::with_capacity(part.len());
        for item in part {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match f(item) {
                Ok(result) => done.push(result),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return (done, Some(e));
                }
            }
        }
        (done, None)
    };
    let parts: Vec<&[T]> = items.chunks(items.len().div_ceil(threads)).collect();
    let outcomes: Vec<(Vec<R>, Option<E>)> = std::thread::scope(|scope| {
        let started: Vec<_> = parts
            .iter()
            .map(|part| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, move || run(part))
                    .map_err(|_| *part)
            })
            .collect();
        started
            .into_iter()
            .map(|thread| match thread {
                // A panic in a thread is a bug of lvm's, not an error of the input: passed on.
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(part) => run(part),
            })
            .collect()
    });
    // In item order: a run's error is the first unless an earlier run stopped early, whose
    // remaining items are then done here, in order, to find out.
    let mut out = Vec::with_capacity(items.len());
    for (part, (done, error)) in parts.into_iter().zip(outcomes) {
        let rest = &part[done.len()..];
        out.extend(done);
        if let Some(e) = error {
            return Err(e);
        }
        for item in rest {
            out.push(f(item)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items() {
        for threads in [1, 2, 4] {
            for n in [0, 1, 31, 32, 33, 100, 1000] {
                let items: Vec<usize> = (0..n).collect();
                let out = map_on(threads, &items, |i| Ok::<_, ()>(i * 2)).unwrap();
                let expected: Vec<usize> = items.iter().map(|i| i * 2).collect();
                assert_eq!(out, expected, "{threads} threads, {n} items");
            }
        }
        let items: Vec<usize> = (0..500).collect();
        assert_eq!(map(&items, |i| Ok::<_, ()>(*i)).unwrap(), items);
    }

    #[test]
    fn the_first_error_in_item_order_is_returned_even_when_a_later_one_comes_first() {
        // Four runs of 50: the first run fails last (after a wait), the third at once.
        let items: Vec<usize> = (0..200).collect();
        let err = map_on(4, &items, |i| match *i {
            10 => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                Err(*i)
            }
            120 => Err(*i),
            i => Ok(i),
        })
        .unwrap_err();
        assert_eq!(err, 10);
    }

    #[test]
    fn the_work_is_shared_by_the_threads_asked_for() {
        let items: Vec<usize> = (0..64).collect();
        let ids = map_on(4, &items, |_| Ok::<_, ()>(std::thread::current().id())).unwrap();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 4, "{distinct:?}");
        let alone = map_on(1, &items, |_| Ok::<_, ()>(std::thread::current().id())).unwrap();
        assert!(alone.iter().all(|id| *id == std::thread::current().id()));
    }

    #[test]
    #[should_panic(expected = "a bug")]
    fn a_panic_in_a_thread_reaches_the_caller() {
        let items: Vec<usize> = (0..64).collect();
        let _ = map_on(2, &items, |i| {
            if *i == 40 {
                panic!("a bug");
            }
            Ok::<_, ()>(*i)
        });
    }
}
