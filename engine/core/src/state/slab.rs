//! A fixed-capacity slab: stable `u32` slots, LIFO reuse of freed slots, no
//! allocation after construction. Slot reuse order is deterministic, so a
//! state rebuilt by `apply` lays out memory exactly as the one that decided.

/// Marks "no slot" in intrusive links.
pub const NIL: u32 = u32::MAX;

/// Items of type `T` in stable `u32` slots, at most a fixed capacity.
#[derive(Clone, Debug)]
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
    capacity: usize,
}

impl<T> Slab<T> {
    /// A slab that holds at most `capacity` items. Memory for the slots is
    /// reserved now, so inserts never allocate.
    pub fn with_capacity(capacity: usize) -> Slab<T> {
        assert!(
            capacity < NIL as usize,
            "slab capacity {capacity} does not fit u32 slots"
        );
        Slab {
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            len: 0,
            capacity,
        }
    }

    /// How many slots are occupied.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the slab holds its capacity, so inserts fail.
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// The most items it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Inserts and returns the slot, or gives the item back when full.
    pub fn insert(&mut self, item: T) -> Result<u32, T> {
        if self.is_full() {
            return Err(item);
        }
        self.len += 1;
        if let Some(slot) = self.free.pop() {
            let cell = &mut self.slots[slot as usize];
            assert!(cell.is_none(), "free list names occupied slot {slot}");
            *cell = Some(item);
            Ok(slot)
        } else {
            let slot = self.slots.len() as u32;
            self.slots.push(Some(item));
            Ok(slot)
        }
    }

    /// Takes the item out of `slot`, freeing the slot for reuse; `None` if
    /// the slot is empty or out of range.
    pub fn remove(&mut self, slot: u32) -> Option<T> {
        let item = self.slots.get_mut(slot as usize)?.take()?;
        self.len -= 1;
        self.free.push(slot);
        Some(item)
    }

    /// The item in `slot`, if occupied.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&T> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The item in `slot`, mutably, if occupied.
    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// Asks the CPU to load `slot`'s cache lines (a hint; see
    /// `prefetch.rs`). Out of range, it does nothing.
    #[inline]
    pub(crate) fn prefetch(&self, slot: u32) {
        if let Some(cell) = self.slots.get(slot as usize) {
            let first = (cell as *const Option<T>).cast::<u8>();
            super::prefetch::prefetch_line(first);
            // An item may straddle a line boundary: ask for its last byte's
            // line too (the same line when it does not).
            let last = first.wrapping_add(std::mem::size_of::<Option<T>>() - 1);
            super::prefetch::prefetch_line(last);
        }
    }

    /// Occupied slots in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|t| (i as u32, t)))
    }

    /// Appends (address, bytes) of the slot and free-list reservations.
    pub(crate) fn regions(&self, out: &mut Vec<(usize, usize)>) {
        out.push(capacity_region(&self.slots));
        out.push(capacity_region(&self.free));
    }

    /// Writes every slot once so the memory is faulted in before use.
    pub fn prefault(&mut self)
    where
        T: Clone,
    {
        // Reserved capacity is only address space until touched; fill it with
        // `None` and truncate back so later pushes land on resident pages.
        let used = self.slots.len();
        self.slots.resize(self.capacity, None);
        self.slots.truncate(used);
        let free_used = self.free.len();
        self.free.resize(self.capacity, 0);
        self.free.truncate(free_used);
    }
}

/// (address, bytes) of a boxed slice (a table allocated whole).
pub(crate) fn region<T>(v: &[T]) -> (usize, usize) {
    (v.as_ptr() as usize, std::mem::size_of_val(v))
}

/// (address, bytes) of a vector's capacity, used or not.
pub(crate) fn capacity_region<T>(v: &Vec<T>) -> (usize, usize) {
    (v.as_ptr() as usize, v.capacity() * std::mem::size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_freed_slots_lifo_and_respects_capacity() {
        let mut slab = Slab::with_capacity(3);
        let a = slab.insert('a').unwrap();
        let b = slab.insert('b').unwrap();
        let c = slab.insert('c').unwrap();
        assert_eq!(slab.insert('d'), Err('d'));
        assert_eq!(slab.remove(b), Some('b'));
        assert_eq!(slab.remove(b), None);
        assert_eq!(slab.remove(a), Some('a'));
        assert_eq!(slab.insert('e').unwrap(), a);
        assert_eq!(slab.insert('f').unwrap(), b);
        assert_eq!(slab.get(c), Some(&'c'));
        assert_eq!(slab.len(), 3);
        assert_eq!(slab.iter().map(|(_, v)| *v).collect::<String>(), "efc");
    }
}
