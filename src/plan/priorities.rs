//! Stable listener rule priorities: which priority each desired rule gets on AWS.
//!
//! Translate numbers a listener's rules 1..N: that is their order, not their priorities.
//! Here the order is mapped onto the priorities the rules already have, so that a change to
//! one route costs one or two API calls instead of a renumbering of the listener:
//!
//! 1. **Keep.** The longest subsequence of the desired order whose observed priorities are
//!    strictly increasing keeps its priorities (the longest increasing subsequence; among
//!    several of that length, the one that keeps the earliest rules in desired order).
//! 2. **Place.** Every other desired rule (new, or existing but out of order) gets a free
//!    priority in the gap between its kept neighbours: evenly spread inside a gap, stepping
//!    by [`SPACING`] after the last kept rule (so a new listener gets 10, 20, 30...), to leave
//!    room for later inserts.
//! 3. **Renumber, locally.** When a gap has fewer free priorities than rules to place, the
//!    kept rule on one side of it gives up its priority and the gap widens to the next kept
//!    rule; this repeats until every gap has room. The released rules are placed (spread)
//!    with the others. Everything that moves goes into one `SetRulePriorities` per listener.
//!
//! A priority is *free* when no observed rule holds it: not a foreign rule (never touched),
//! and not an owned rule either, even one about to be deleted or moved, because stale rules
//! are deleted only after creates and moves, and AWS refuses duplicate priorities. So every
//! priority a plan gives (to a created or moved rule) is unused when the plan starts, and
//! creates and moves succeed in any order. (A rule that moves may land on its own current
//! priority when that fits: then it does not move at all.)
//!
//! Nothing here knows about AWS calls or the model: ids in, priorities out.

use std::collections::{BTreeMap, BTreeSet};

/// The lowest priority ALB accepts.
pub const MIN_PRIORITY: u32 = 1;
/// The highest priority ALB accepts.
pub const MAX_PRIORITY: u32 = 50_000;
/// The step between rules placed after the last kept rule (and on a new listener).
pub const SPACING: u32 = 10;

/// The priorities of one listener's desired rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The target priority of each desired rule, in desired order: strictly increasing.
    pub priorities: Vec<u32>,
    /// Existing rules whose priority changes, in desired order.
    pub moves: Vec<Move>,
    /// Whether some rule that was in order had to give up its priority for lack of room.
    pub renumbered: bool,
}

/// An existing rule that changes priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub id: String,
    pub from: u32,
    pub to: u32,
}

/// The listener cannot hold its rules: fewer free priorities than rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rules} rules need priorities but only {free} of 1..=50000 are free")]
pub struct NoRoom {
    pub rules: usize,
    pub free: usize,
}

/// Assigns priorities to one listener's desired rules.
///
/// `desired`: the rule ids in desired order (distinct). `observed`: owned rules on AWS, id to
/// priority (including rules that are no longer desired). `foreign`: priorities held by rules
/// gwsync does not own.
pub fn assign<S: AsRef<str>>(
    desired: &[S],
    observed: &BTreeMap<String, u32>,
    foreign: &BTreeSet<u32>,
) -> Result<Assignment, NoRoom> {
    let n = desired.len();
    let current: Vec<Option<u32>> = desired
        .iter()
        .map(|id| observed.get(id.as_ref()).copied())
        .collect();
    let held: BTreeSet<u32> = observed.values().chain(foreign.iter()).copied().collect();
    let slots = Slots { held: &held };

    // 1. Keep the longest run of rules that are already in order.
    let mut anchors = longest_increasing(&current);

    // 3. Widen gaps that lack room, releasing one kept neighbour at a time.
    let mut renumbered = false;
    while let Some(s) = (0..=anchors.len()).find(|&s| {
        let g = gap(&anchors, &current, n, s, s);
        g.need() > slots.free_between(g.lo, g.hi)
    }) {
        // Releasing the left anchor merges gaps s-1 and s; the right one, s and s+1.
        let slack = |first: usize, last: usize| {
            let g = gap(&anchors, &current, n, first, last);
            slots.free_between(g.lo, g.hi) as i64 - g.need() as i64
        };
        let left = (s > 0).then(|| slack(s - 1, s));
        let right = (s < anchors.len()).then(|| slack(s, s + 1));
        match (left, right) {
            (Some(l), Some(r)) if l > r => anchors.remove(s - 1),
            (_, Some(_)) => anchors.remove(s),
            (Some(_), None) => anchors.remove(s - 1),
            (None, None) => {
                return Err(NoRoom {
                    rules: n,
                    free: slots.free_between(0, MAX_PRIORITY + 1) as usize,
                });
            }
        };
        renumbered = true;
    }

    // 2. Place every rule between kept ones.
    let mut priorities = vec![0; n];
    for &a in &anchors {
        priorities[a] = current[a].expect("anchors exist");
    }
    for s in 0..=anchors.len() {
        let g = gap(&anchors, &current, n, s, s);
        place(&g, &current, &slots, &mut priorities);
    }

    let moves = desired
        .iter()
        .zip(&current)
        .zip(&priorities)
        .filter_map(|((id, cur), &to)| match cur {
            Some(from) if *from != to => Some(Move {
                id: id.as_ref().to_string(),
                from: *from,
                to,
            }),
            _ => None,
        })
        .collect();
    Ok(Assignment {
        priorities,
        moves,
        renumbered,
    })
}

/// Priorities held by observed rules.
struct Slots<'a> {
    held: &'a BTreeSet<u32>,
}

impl Slots<'_> {
    fn is_free(&self, p: u32) -> bool {
        (MIN_PRIORITY..=MAX_PRIORITY).contains(&p) && !self.held.contains(&p)
    }

    /// Free priorities strictly between `lo` and `hi`.
    fn free_between(&self, lo: u32, hi: u32) -> u64 {
        if hi <= lo + 1 {
            return 0;
        }
        let total = u64::from(hi - lo - 1);
        total - self.held.range(lo + 1..hi).count() as u64
    }

    /// The `count` highest free priorities strictly between `lo` and `hi`, highest first.
    fn highest_free(&self, lo: u32, hi: u32, count: usize) -> Vec<u32> {
        (lo + 1..hi)
            .rev()
            .filter(|&p| self.is_free(p))
            .take(count)
            .collect()
    }
}

/// The desired rules between two kept rules, and the priorities that bound them.
struct Gap {
    /// Desired positions to place: `first..end`.
    first: usize,
    end: usize,
    /// Exclusive bounds: the kept neighbours' priorities (0 and MAX + 1 at the ends).
    lo: u32,
    hi: u32,
}

impl Gap {
    fn need(&self) -> u64 {
        (self.end - self.first) as u64
    }

    /// Whether nothing bounds the gap from above: it runs to the end of the listener.
    fn is_last(&self) -> bool {
        self.hi == MAX_PRIORITY + 1
    }
}

/// The gap from after anchor `first_gap - 1` to before anchor `last_gap` (gap `s` lies between
/// anchors `s - 1` and `s`; asking for gaps `s..=s+1` skips anchor `s`).
fn gap(
    anchors: &[usize],
    current: &[Option<u32>],
    n: usize,
    first_gap: usize,
    last_gap: usize,
) -> Gap {
    let left = first_gap.checked_sub(1).map(|i| anchors[i]);
    let right = anchors.get(last_gap).copied();
    Gap {
        first: left.map_or(0, |i| i + 1),
        end: right.unwrap_or(n),
        lo: left.map_or(0, |i| current[i].expect("anchors exist")),
        hi: right.map_or(MAX_PRIORITY + 1, |i| current[i].expect("anchors exist")),
    }
}

/// Gives the gap's rules increasing priorities near their ideal spots. The caller made sure
/// the gap has at least as many free priorities as rules.
fn place(gap: &Gap, current: &[Option<u32>], slots: &Slots, priorities: &mut [u32]) {
    let m = gap.end - gap.first;
    if m == 0 {
        return;
    }
    let (lo, hi) = (u64::from(gap.lo), u64::from(gap.hi));
    let stepped_base = lo / u64::from(SPACING);
    let stepped = gap.is_last() && (stepped_base + m as u64) * u64::from(SPACING) < hi;
    let ideal = |k: u64| -> u32 {
        let p = if stepped {
            (stepped_base + k) * u64::from(SPACING)
        } else {
            lo + (hi - lo) * k / (m as u64 + 1)
        };
        p as u32
    };
    // The rules after this one need free priorities above it: the top `m` free ones bound
    // how high each rule may go.
    let top = slots.highest_free(gap.lo, gap.hi, m);
    let mut previous = gap.lo;
    for k in 1..=m {
        let i = gap.first + k - 1;
        let remaining = m - k;
        let lowest = previous + 1;
        let highest = if remaining == 0 {
            gap.hi - 1
        } else {
            top[remaining - 1] - 1
        };
        let usable = |p: u32| slots.is_free(p) || current[i] == Some(p);
        let target = ideal(k as u64).clamp(lowest, highest);
        let chosen = (0..=highest - lowest)
            .flat_map(|d| [target.checked_sub(d), target.checked_add(d)])
            .flatten()
            .find(|&p| (lowest..=highest).contains(&p) && usable(p))
            .expect("a gap with room has a free priority for each rule");
        priorities[i] = chosen;
        previous = chosen;
    }
}

/// Positions of the longest subsequence with strictly increasing priorities; among those of
/// that length, the lexicographically smallest list of positions (earlier rules are kept).
fn longest_increasing(current: &[Option<u32>]) -> Vec<usize> {
    let n = current.len();
    // longest[i]: the longest increasing subsequence that starts at position i.
    let mut longest = vec![0usize; n];
    for i in (0..n).rev() {
        let Some(p) = current[i] else { continue };
        longest[i] = 1
            + (i + 1..n)
                .filter(|&j| current[j].is_some_and(|q| q > p))
                .map(|j| longest[j])
                .max()
                .unwrap_or(0);
    }
    let mut wanted = longest.iter().copied().max().unwrap_or(0);
    let mut kept = Vec::with_capacity(wanted);
    let mut last: Option<u32> = None;
    for i in 0..n {
        if wanted == 0 {
            break;
        }
        if let Some(p) = current[i]
            && longest[i] == wanted
            && last.is_none_or(|l| p > l)
        {
            kept.push(i);
            last = Some(p);
            wanted -= 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn observed(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn foreign(ps: &[u32]) -> BTreeSet<u32> {
        ps.iter().copied().collect()
    }

    /// The guarantees every assignment keeps, whatever the input.
    fn check(
        desired: &[String],
        observed: &BTreeMap<String, u32>,
        foreign: &BTreeSet<u32>,
        a: &Assignment,
    ) {
        assert_eq!(a.priorities.len(), desired.len());
        assert!(
            a.priorities.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {:?}",
            a.priorities
        );
        assert!(
            a.priorities
                .iter()
                .all(|p| (MIN_PRIORITY..=MAX_PRIORITY).contains(p))
        );
        let held: BTreeSet<u32> = observed.values().chain(foreign).copied().collect();
        for (id, &p) in desired.iter().zip(&a.priorities) {
            if observed.get(id) != Some(&p) {
                assert!(!held.contains(&p), "{id} gets {p}, which is held");
            }
        }
        let moved: Vec<&String> = a.moves.iter().map(|m| &m.id).collect();
        let expected: Vec<&String> = desired
            .iter()
            .zip(&a.priorities)
            .filter(|(id, p)| observed.get(*id).is_some_and(|o| o != *p))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(moved, expected);
    }

    fn run(desired: &[&str], obs: &[(&str, u32)], fgn: &[u32]) -> Assignment {
        let (d, o, f) = (ids(desired), observed(obs), foreign(fgn));
        let a = assign(&d, &o, &f).expect("room");
        check(&d, &o, &f, &a);
        a
    }

    #[test]
    fn a_new_listener_is_spaced_by_ten() {
        let a = run(&["a", "b", "c"], &[], &[]);
        assert_eq!(a.priorities, vec![10, 20, 30]);
        assert!(a.moves.is_empty());
        assert!(!a.renumbered);
    }

    #[test]
    fn an_unchanged_listener_keeps_everything() {
        let a = run(&["a", "b", "c"], &[("a", 3), ("b", 7), ("c", 200)], &[]);
        assert_eq!(a.priorities, vec![3, 7, 200]);
        assert!(a.moves.is_empty());
    }

    #[test]
    fn insert_in_the_middle_takes_the_middle_of_the_gap() {
        let a = run(&["a", "x", "b"], &[("a", 10), ("b", 20)], &[]);
        assert_eq!(a.priorities, vec![10, 15, 20]);
        assert!(a.moves.is_empty());
    }

    #[test]
    fn insert_at_the_front_and_the_back() {
        let a = run(&["x", "a", "b"], &[("a", 10), ("b", 20)], &[]);
        assert_eq!(a.priorities, vec![5, 10, 20]);
        assert!(a.moves.is_empty());
        let a = run(&["a", "b", "x", "y"], &[("a", 10), ("b", 20)], &[]);
        assert_eq!(a.priorities, vec![10, 20, 30, 40]);
        assert!(a.moves.is_empty());
        // Not aligned: the next multiple of ten.
        let a = run(&["a", "x"], &[("a", 13)], &[]);
        assert_eq!(a.priorities, vec![13, 20]);
    }

    #[test]
    fn insert_at_the_front_of_priority_one_moves_one_rule() {
        let a = run(&["x", "a", "b"], &[("a", 1), ("b", 20)], &[]);
        assert!(a.renumbered);
        assert_eq!(a.moves.len(), 1, "{a:?}");
        assert_eq!(a.moves[0].id, "a");
        assert_eq!(a.priorities[2], 20);
    }

    #[test]
    fn insert_between_adjacent_priorities_moves_only_what_it_must() {
        let a = run(
            &["a", "x", "b", "c"],
            &[("a", 10), ("b", 11), ("c", 20)],
            &[],
        );
        assert!(a.renumbered);
        // No room between 10 and 11: a gives up 10 (the side with more room), and a and x
        // spread below 11.
        assert_eq!(a.priorities, vec![3, 7, 11, 20]);
        assert_eq!(
            a.moves,
            vec![Move {
                id: "a".into(),
                from: 10,
                to: 3
            }]
        );
    }

    #[test]
    fn a_dense_run_widens_towards_the_side_with_more_room() {
        // Room below: only a moves.
        let a = run(
            &["a", "x", "b", "c", "d"],
            &[("a", 10), ("b", 11), ("c", 12), ("d", 13)],
            &[],
        );
        assert_eq!(a.priorities, vec![3, 7, 11, 12, 13]);
        assert_eq!(a.moves.len(), 1);
        // Room above: only d moves.
        let a = run(
            &["a", "b", "c", "x", "d", "e"],
            &[("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 50)],
            &[],
        );
        assert!(a.renumbered);
        assert_eq!(a.priorities, vec![1, 2, 3, 18, 34, 50]);
        assert_eq!(a.moves.len(), 1);
        assert_eq!(a.moves[0].id, "d");
    }

    #[test]
    fn foreign_rules_are_never_reused() {
        // The middle of 10..20 is held by a foreign rule.
        let a = run(&["a", "x", "b"], &[("a", 10), ("b", 20)], &[15]);
        assert_eq!(a.priorities, vec![10, 14, 20]);
        // A foreign rule at the next step after the last kept rule.
        let a = run(&["a", "x"], &[("a", 10)], &[20]);
        assert_eq!(a.priorities, vec![10, 19]);
        // Foreign rules filling a gap force a renumber around them.
        let a = run(&["a", "x", "b"], &[("a", 10), ("b", 14)], &[11, 12, 13]);
        assert!(a.renumbered);
        assert!(a.priorities[1] > 14 || a.priorities[1] < 10);
        assert_eq!(a.moves.len(), 1);
    }

    #[test]
    fn stale_owned_rules_still_block_their_priority() {
        // "old" is about to be deleted, after the create: its priority is not free yet.
        let a = run(&["a", "x", "b"], &[("a", 10), ("old", 15), ("b", 20)], &[]);
        assert_ne!(a.priorities[1], 15);
        assert!(a.moves.is_empty());
    }

    #[test]
    fn a_swap_moves_one_rule() {
        let a = run(&["b", "a"], &[("a", 10), ("b", 20)], &[]);
        assert_eq!(a.moves.len(), 1);
        assert!(!a.renumbered);
        // The earlier rule in desired order keeps its priority.
        assert_eq!(a.priorities, vec![20, 30]);
        assert_eq!(a.moves[0].id, "a");
    }

    #[test]
    fn reordering_keeps_the_longest_increasing_run() {
        // Observed 10..60; desired moves f to the front: a..e keep, f moves.
        let obs = [
            ("a", 10),
            ("b", 20),
            ("c", 30),
            ("d", 40),
            ("e", 50),
            ("f", 60),
        ];
        let a = run(&["f", "a", "b", "c", "d", "e"], &obs, &[]);
        assert_eq!(a.moves.len(), 1);
        assert_eq!(a.moves[0].id, "f");
        assert_eq!(a.priorities[0], 5);
        // Reverse order: one kept, five move.
        let a = run(&["f", "e", "d", "c", "b", "a"], &obs, &[]);
        assert_eq!(a.moves.len(), 5);
    }

    #[test]
    fn lis_tie_breaking_is_deterministic_and_keeps_earlier_rules() {
        assert_eq!(
            longest_increasing(&[Some(20), Some(10), None, Some(30), Some(15)]),
            vec![0, 3]
        );
        assert_eq!(
            longest_increasing(&[Some(5), Some(1), Some(2), Some(3)]),
            vec![1, 2, 3]
        );
        assert_eq!(longest_increasing(&[None, None]), Vec::<usize>::new());
    }

    #[test]
    fn the_top_of_the_range_is_used_when_stepping_does_not_fit() {
        let a = run(&["a", "x", "y"], &[("a", 49_990)], &[]);
        assert_eq!(a.priorities[0], 49_990);
        assert!(a.priorities[2] <= MAX_PRIORITY);
        assert!(a.moves.is_empty());
    }

    #[test]
    fn a_full_listener_is_refused() {
        let every: BTreeSet<u32> = (MIN_PRIORITY..=MAX_PRIORITY).collect();
        let err = assign(&ids(&["x"]), &BTreeMap::new(), &every).unwrap_err();
        assert_eq!(err, NoRoom { rules: 1, free: 0 });
    }

    /// Adding one rule at any position of any listener costs no more than one priority call,
    /// and never touches a rule that can stay.
    #[test]
    fn one_insert_costs_at_most_one_move_call() {
        let layouts: Vec<(Vec<u32>, Vec<u32>)> = vec![
            (vec![10, 20, 30, 40], vec![]),
            (vec![10, 11, 12, 40], vec![]),
            (vec![1, 2, 3], vec![]),
            (vec![1, 2, 3], vec![4, 5, 6]),
            (vec![10, 20], vec![11, 12, 13, 14, 15, 16, 17, 18, 19]),
            (vec![49_998, 49_999, 50_000], vec![]),
            (vec![5, 9, 49_999], vec![6, 7, 8, 50_000]),
        ];
        for (priorities, fgn) in layouts {
            let names: Vec<String> = (0..priorities.len()).map(|i| format!("r{i}")).collect();
            let obs: BTreeMap<String, u32> = names
                .iter()
                .cloned()
                .zip(priorities.iter().copied())
                .collect();
            let fgn: BTreeSet<u32> = fgn.into_iter().collect();
            for at in 0..=names.len() {
                let mut desired = names.clone();
                desired.insert(at, "new".to_string());
                let a = assign(&desired, &obs, &fgn).expect("room");
                check(&desired, &obs, &fgn, &a);
                if !a.renumbered {
                    assert!(a.moves.is_empty(), "{priorities:?} at {at}: {a:?}");
                }
            }
        }
    }

    /// A small deterministic generator: no dependency for property tests.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % below
        }
    }

    #[test]
    fn random_listeners_keep_the_guarantees_and_are_stable() {
        let mut rng = Lcg(7);
        for _ in 0..500 {
            let n = rng.next(12) as usize;
            let mut used = BTreeSet::new();
            let mut obs = BTreeMap::new();
            for i in 0..n {
                if rng.next(3) > 0 {
                    let mut p = 1 + rng.next(60) as u32;
                    while !used.insert(p) {
                        p += 1;
                    }
                    obs.insert(format!("r{i}"), p);
                }
            }
            let mut fgn = BTreeSet::new();
            for _ in 0..rng.next(20) {
                let p = 1 + rng.next(60) as u32;
                if !used.contains(&p) {
                    fgn.insert(p);
                }
            }
            let mut desired: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
            // Shuffle a little, and drop some.
            for _ in 0..rng.next(3) {
                let (i, j) = (rng.next(n.max(1) as u64), rng.next(n.max(1) as u64));
                if n > 0 {
                    desired.swap(i as usize, j as usize);
                }
            }
            desired.retain(|_| rng.next(5) > 0);
            let a = assign(&desired, &obs, &fgn).expect("room");
            check(&desired, &obs, &fgn, &a);
            let longest = longest_increasing(
                &desired
                    .iter()
                    .map(|d| obs.get(d).copied())
                    .collect::<Vec<_>>(),
            );
            if !a.renumbered {
                let kept = desired.len()
                    - a.moves.len()
                    - desired.iter().filter(|d| !obs.contains_key(*d)).count();
                assert_eq!(kept, longest.len());
            }
            // Applied, the same desired order asks for nothing more.
            let after: BTreeMap<String, u32> = desired
                .iter()
                .cloned()
                .zip(a.priorities.iter().copied())
                .collect();
            let again = assign(&desired, &after, &fgn).expect("room");
            assert_eq!(again.priorities, a.priorities);
            assert!(again.moves.is_empty());
        }
    }
}
