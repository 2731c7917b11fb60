//! The invoice model and the seeded generator that produces invoices.
//!
//! A [`Generator`] owns an [`Rng`], the next invoice number and a clock, so
//! one generator threaded through several files keeps invoice numbers unique
//! (they strictly increase) and creation times ordered across all of them.
//! Amounts are derived, never drawn: the line items fix the taxable amount and
//! everything else follows from it, which keeps every record self-consistent.
//! Turning an [`Invoice`] into text is the job of [`crate::json`].

use crate::catalog::{CITIES, City, ITEMS, Item, OTHER_STORES, STREETS, TARGET_STORE};
use crate::money::Money;
use crate::rng::Rng;

/// First invoice number minus one; numbers then rise by 1..=40 per record.
const INVOICE_NUMBER_BASE: u64 = 25_000_000;
/// `CreatedTime` of a generator's clock before its first record
/// (2020-05-20T18:40:00Z); each record moves it on by 1 to 30 seconds.
const CLOCK_BASE_MS: u64 = 1_590_000_000_000;
/// Central GST: 2.5 %.
const CGST_PER_MILLE: u64 = 25;
/// State GST: 2.5 %.
const SGST_PER_MILLE: u64 = 25;
/// Cess: 0.1 %.
const CESS_PER_MILLE: u64 = 1;
/// Most line items an invoice can have.
const MAX_LINE_ITEMS: u64 = 6;
/// In the bench input one record in this many is from [`TARGET_STORE`].
const BENCH_TARGET_ONE_IN: u64 = 20;

/// One sale.
#[derive(Debug, Clone)]
pub struct Invoice {
    /// `InvoiceNumber`, written as a string of digits.
    pub number: u64,
    /// `CreatedTime`, epoch milliseconds.
    pub created_ms: u64,
    /// `StoreID`.
    pub store: &'static str,
    /// `PosID` is "POS" followed by this.
    pub pos: u64,
    /// `CashierID` is "OAS" followed by this.
    pub cashier: u64,
    /// `CustomerType` PRIME when true, NONPRIME otherwise.
    pub prime: bool,
    /// `CustomerCardNo`, written as a string of digits.
    pub card_no: u64,
    /// `PaymentMethod` CARD when true, CASH otherwise.
    pub paid_by_card: bool,
    /// Present exactly when `DeliveryType` is HOME-DELIVERY.
    pub delivery: Option<Address>,
    /// `InvoiceLineItems`, 1 to 6 distinct products.
    pub items: Vec<LineItem>,
}

/// `DeliveryAddress` of a home delivery.
#[derive(Debug, Clone)]
pub struct Address {
    /// `AddressLine`.
    pub line: String,
    /// `City` and `State`.
    pub city: &'static City,
    /// `PinCode`, six digits.
    pub pin: u32,
    /// `ContactNumber`, ten digits.
    pub contact: u64,
}

/// One entry of `InvoiceLineItems`.
#[derive(Debug, Clone)]
pub struct LineItem {
    /// The product: `ItemCode`, `ItemDescription`, `ItemPrice`.
    pub item: &'static Item,
    /// `ItemQty`.
    pub qty: u64,
}

impl LineItem {
    /// `TotalValue`: price times quantity.
    pub fn total(&self) -> Money {
        self.item.price * self.qty
    }
}

impl Invoice {
    /// `TaxableAmount`: the sum of the line totals.
    pub fn taxable(&self) -> Money {
        self.items.iter().map(LineItem::total).sum()
    }

    /// `CGST`.
    pub fn cgst(&self) -> Money {
        self.taxable().per_mille(CGST_PER_MILLE)
    }

    /// `SGST`.
    pub fn sgst(&self) -> Money {
        self.taxable().per_mille(SGST_PER_MILLE)
    }

    /// `CESS`.
    pub fn cess(&self) -> Money {
        self.taxable().per_mille(CESS_PER_MILLE)
    }

    /// `TotalAmount`: taxable amount plus all taxes.
    pub fn total(&self) -> Money {
        self.taxable() + self.cgst() + self.sgst() + self.cess()
    }
}

/// Seeded source of invoices; equal seeds give equal sequences.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    last_number: u64,
    clock_ms: u64,
}

impl Generator {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { rng: Rng::new(seed), last_number: INVOICE_NUMBER_BASE, clock_ms: CLOCK_BASE_MS }
    }

    /// Stores for `records` invoices in a row, exactly `target` of them
    /// [`TARGET_STORE`] at shuffled positions and the rest other stores.
    pub fn fixture_stores(&mut self, records: usize, target: usize) -> Vec<&'static str> {
        let mask = self.rng.mask(records, target);
        mask.into_iter().map(|hit| if hit { TARGET_STORE } else { self.other_store() }).collect()
    }

    /// A store for the bench input: [`TARGET_STORE`] about one time in 20.
    pub fn bench_store(&mut self) -> &'static str {
        if self.rng.below(BENCH_TARGET_ONE_IN) == 0 { TARGET_STORE } else { self.other_store() }
    }

    fn other_store(&mut self) -> &'static str {
        let &store = self.rng.pick(&OTHER_STORES);
        store
    }

    /// The next invoice, from `store`.
    pub fn invoice(&mut self, store: &'static str) -> Invoice {
        self.last_number += self.rng.between(1, 40);
        self.clock_ms += self.rng.between(1_000, 30_000);
        let rng = &mut self.rng;
        Invoice {
            number: self.last_number,
            created_ms: self.clock_ms,
            store,
            pos: rng.between(100, 999),
            cashier: rng.between(100, 999),
            prime: rng.percent(40),
            card_no: rng.between(1_000_000_000, 9_999_999_999),
            paid_by_card: rng.percent(65),
            delivery: rng.percent(30).then(|| address(rng)),
            items: line_items(rng),
        }
    }
}

fn address(rng: &mut Rng) -> Address {
    let line = format!("{}, {}", rng.between(1, 999), rng.pick(STREETS));
    let city = rng.pick(CITIES);
    let pin = city.pin_base + rng.between(1, 99) as u32;
    let contact = rng.between(6_000_000_000, 9_999_999_999);
    Address { line, city, pin, contact }
}

/// 1 to 6 line items, no product twice.
fn line_items(rng: &mut Rng) -> Vec<LineItem> {
    let count = rng.between(1, MAX_LINE_ITEMS) as usize;
    let mut items: Vec<LineItem> = Vec::with_capacity(count);
    while items.len() < count {
        let item = rng.pick(ITEMS);
        if items.iter().all(|l| !std::ptr::eq(l.item, item)) {
            items.push(LineItem { item, qty: rng.between(1, 5) });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoices(seed: u64, n: usize) -> Vec<Invoice> {
        let mut generator = Generator::new(seed);
        (0..n).map(|_| generator.invoice("STR1534")).collect()
    }

    #[test]
    fn numbers_and_times_strictly_increase() {
        let all = invoices(1, 1_000);
        assert!(all.windows(2).all(|w| w[0].number < w[1].number));
        assert!(all.windows(2).all(|w| w[0].created_ms < w[1].created_ms));
    }

    #[test]
    fn line_items_are_one_to_six_distinct_products() {
        for invoice in invoices(2, 1_000) {
            assert!((1..=6).contains(&invoice.items.len()));
            let mut codes: Vec<_> = invoice.items.iter().map(|l| l.item.code).collect();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), invoice.items.len());
        }
    }

    #[test]
    fn fixture_stores_place_the_target_exactly() {
        let mut generator = Generator::new(3);
        let stores = generator.fixture_stores(400, 53);
        assert_eq!(stores.len(), 400);
        assert_eq!(stores.iter().filter(|&&s| s == TARGET_STORE).count(), 53);
    }

    #[test]
    fn bench_store_is_the_target_about_one_time_in_twenty() {
        let mut generator = Generator::new(4);
        let hits = (0..100_000).filter(|_| generator.bench_store() == TARGET_STORE).count();
        assert!((4_500..=5_500).contains(&hits), "{hits} of 100000");
    }
}
