//! A request frame as it waits to be written: the encoded bytes, and the record batches that
//! go between them, lent by their batches rather than copied in, so that a Produce request is
//! written with one gathering write (`writev`) straight from the batch buffers.
//!
//! A frame is `head[..cuts[0]]`, `lent[0]`, `head[cuts[0]..cuts[1]]`, `lent[1]`, ...,
//! `head[cuts[n-1]..]`. The connection hands every written frame back, and the sender returns
//! each lent buffer to its batch (found by the frame's correlation id); a connection that
//! fails gives its unwritten frames back the same way.
//!
//! Threads: sender thread only.

use std::io::IoSlice;

/// One request frame, size prefix included.
#[derive(Debug, Default)]
pub(crate) struct Frame {
    head: Vec<u8>,
    /// Where in `head` each lent buffer goes, ascending.
    cuts: Vec<usize>,
    lent: Vec<Vec<u8>>,
    /// The request's correlation id (to find the batches its lent buffers belong to).
    pub(crate) corr: i32,
}

impl Frame {
    /// A frame of `head` alone.
    pub(crate) fn whole(head: Vec<u8>, corr: i32) -> Frame {
        Frame { head, cuts: Vec::new(), lent: Vec::new(), corr }
    }

    /// A frame of `head` with `lent[i]` inserted at `cuts[i]` (ascending, within `head`).
    pub(crate) fn gathered(head: Vec<u8>, cuts: Vec<usize>, lent: Vec<Vec<u8>>, corr: i32) -> Frame {
        assert_eq!(cuts.len(), lent.len(), "a cut per lent buffer");
        assert!(cuts.windows(2).all(|w| w[0] <= w[1]) && cuts.last().is_none_or(|&c| c <= head.len()));
        Frame { head, cuts, lent, corr }
    }

    /// Bytes on the wire.
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.lent.iter().map(Vec::len).sum::<usize>()
    }

    /// The pieces in wire order (empty ones left out), without allocating.
    fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        // Piece 2i is the head up to cut i, piece 2i+1 lent buffer i, the last the head's rest.
        let n = 2 * self.cuts.len() + 1;
        (0..n)
            .map(move |k| {
                let i = k / 2;
                if k % 2 == 1 {
                    &self.lent[i][..]
                } else {
                    let from = if i == 0 { 0 } else { self.cuts[i - 1] };
                    let to = self.cuts.get(i).copied().unwrap_or(self.head.len());
                    &self.head[from..to]
                }
            })
            .filter(|p| !p.is_empty())
    }

    /// The pieces after the first `skip` bytes, the first of them cut where `skip` ends.
    fn pieces_from(&self, mut skip: usize) -> impl Iterator<Item = &[u8]> {
        self.pieces().filter_map(move |p| {
            if skip >= p.len() {
                skip -= p.len();
                None
            } else {
                let rest = &p[skip..];
                skip = 0;
                Some(rest)
            }
        })
    }

    /// Appends the pieces after the first `skip` bytes to `slices`, while it has fewer than
    /// `max`; returns whether all of them went in.
    pub(crate) fn slices<'a>(&'a self, skip: usize, slices: &mut Vec<IoSlice<'a>>, max: usize) -> bool {
        for p in self.pieces_from(skip) {
            if slices.len() >= max {
                return false;
            }
            slices.push(IoSlice::new(p));
        }
        true
    }

    /// The rest of the piece that byte `pos` is in (empty at the end): for writers that take
    /// one slice at a time (TLS).
    #[cfg(any(feature = "tls", test))]
    pub(crate) fn piece_at(&self, pos: usize) -> &[u8] {
        self.pieces_from(pos).next().unwrap_or(&[])
    }

    /// The whole frame in one buffer (tests, and writers without gathering).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.pieces().flat_map(|p| p.iter().copied()).collect()
    }

    /// The encoded bytes (for reuse) and the lent buffers, in the order they were lent.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Vec<Vec<u8>>) {
        (self.head, self.lent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        // "HEAD" + [b1] + "MID" + [b2] + "END"
        let head = b"HEADMIDEND".to_vec();
        Frame::gathered(head, vec![4, 7], vec![b"batch-one".to_vec(), b"two".to_vec()], 9)
    }

    #[test]
    fn pieces_interleave_the_head_and_the_lent_buffers() {
        let f = frame();
        assert_eq!(f.to_vec(), b"HEADbatch-oneMIDtwoEND");
        assert_eq!(f.len(), 22);
        let whole = Frame::whole(b"abc".to_vec(), 1);
        assert_eq!((whole.to_vec(), whole.len()), (b"abc".to_vec(), 3));
        // A buffer lent at the very start or end leaves no empty piece.
        let edge = Frame::gathered(b"xy".to_vec(), vec![0, 2], vec![b"A".to_vec(), b"B".to_vec()], 2);
        assert_eq!(edge.to_vec(), b"AxyB");
        let mut s = Vec::new();
        assert!(edge.slices(0, &mut s, 8));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn slices_skip_what_was_written_and_stop_at_the_limit() {
        let f = frame();
        let mut s = Vec::new();
        assert!(f.slices(6, &mut s, 64));
        let joined: Vec<u8> = s.iter().flat_map(|x| x.iter().copied()).collect();
        assert_eq!(joined, b"tch-oneMIDtwoEND");
        assert_eq!(s.len(), 4);
        let mut s = Vec::new();
        assert!(!f.slices(0, &mut s, 2), "two of five pieces");
        assert_eq!(s.len(), 2);
        let mut s = Vec::new();
        assert!(f.slices(22, &mut s, 64) && s.is_empty(), "all written");
    }

    #[test]
    fn piece_at_gives_the_rest_of_one_piece() {
        let f = frame();
        assert_eq!(f.piece_at(0), b"HEAD");
        assert_eq!(f.piece_at(5), b"atch-one");
        assert_eq!(f.piece_at(13), b"MID");
        assert_eq!(f.piece_at(21), b"D");
        assert_eq!(f.piece_at(22), b"");
        let (head, lent) = f.into_parts();
        assert_eq!(head, b"HEADMIDEND");
        assert_eq!(lent, vec![b"batch-one".to_vec(), b"two".to_vec()]);
    }
}
