//! Sequence number comparisons modulo 2^32 (RFC 9293 3.4): `a < b` when
//! `b` is less than 2^31 ahead of `a`.

pub fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

pub fn le(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) <= 0
}

pub fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

pub fn ge(a: u32, b: u32) -> bool {
    le(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap() {
        assert!(lt(1, 2) && le(2, 2) && gt(3, 2) && ge(3, 3));
        assert!(lt(u32::MAX, 0) && gt(5, u32::MAX - 5));
        assert!(!lt(0, 0x8000_0001) && lt(0, 0x7fff_ffff));
    }
}
