//! Amounts of money held as whole paise and printed as JSON numbers.
//!
//! Keeping money in integer paise makes every sum and tax exact; only the
//! [`Display`](std::fmt::Display) impl turns it into rupees, with at most two
//! decimals and the same text `serde_json` prints for the equivalent `f64`
//! (`12.5`, `1234.56`, `30.0`), so readers that re-serialise see no change and
//! no line ever carries a float artefact such as `1234.5600000001`.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Mul};

/// A non-negative amount in paise (hundredths of a rupee).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(pub u64);

impl Money {
    /// `rate_per_mille / 1000` of this amount, rounded half up to the paisa.
    pub fn per_mille(self, rate_per_mille: u64) -> Money {
        Money((self.0 * rate_per_mille + 500) / 1000)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl Mul<u64> for Money {
    type Output = Money;
    fn mul(self, qty: u64) -> Money {
        Money(self.0 * qty)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::default(), Add::add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rupees, paise) = (self.0 / 100, self.0 % 100);
        match paise {
            0 => write!(f, "{rupees}.0"),
            p if p % 10 == 0 => write!(f, "{rupees}.{}", p / 10),
            p => write!(f, "{rupees}.{p:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_serde_json_prints_the_f64() {
        let small = 0..200_000;
        let large = (0..1_000).map(|i| 9_999_999_999 - i * 7_919);
        for paise in small.chain(large) {
            let want = serde_json::to_string(&(paise as f64 / 100.0)).unwrap();
            assert_eq!(Money(paise).to_string(), want, "{paise} paise");
        }
    }

    #[test]
    fn per_mille_rounds_half_up() {
        assert_eq!(Money(100_000).per_mille(25), Money(2_500));
        assert_eq!(Money(20).per_mille(25), Money(1)); // 0.5 paisa rounds up
        assert_eq!(Money(19).per_mille(25), Money(0)); // 0.475 paisa rounds down
        assert_eq!(Money(1_499).per_mille(1), Money(1));
    }
}
