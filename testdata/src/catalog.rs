//! The fixed tables invoices are drawn from: stores, items, cities, streets.
//!
//! [`TARGET_STORE`] is kept apart from [`OTHER_STORES`] so that the fixture
//! generator can place it on exactly the records it chooses and nowhere else.
//! A few item descriptions carry a double quote, an ampersand or a non-ASCII
//! letter so that every reader of the data exercises JSON string escaping.

use crate::money::Money;

/// The store whose records the examples filter on.
pub const TARGET_STORE: &str = "STR7188";

/// Every other store; never contains [`TARGET_STORE`].
pub const OTHER_STORES: [&str; 19] = [
    "STR1534", "STR2629", "STR8513", "STR6162", "STR5485", "STR3197", "STR9441", "STR4417", "STR2087", "STR6630",
    "STR1259", "STR8876", "STR3702", "STR5921", "STR7043", "STR9315", "STR2468", "STR6809", "STR4150",
];

/// A product on sale, at one fixed price.
#[derive(Debug)]
pub struct Item {
    /// `ItemCode`.
    pub code: &'static str,
    /// `ItemDescription`, verbatim (escaped only when written).
    pub description: &'static str,
    /// `ItemPrice` for one unit.
    pub price: Money,
}

const fn item(code: &'static str, description: &'static str, paise: u64) -> Item {
    Item { code, description, price: Money(paise) }
}

/// The product catalogue.
pub const ITEMS: &[Item] = &[
    item("458", "Wine glass", 164_400),
    item("283", "Portable Lamps", 223_600),
    item("498", "Carving knifes", 142_500),
    item("523", "Oil-lamp clock", 136_200),
    item("726", "Decanters", 59_900),
    item("217", "Bath towel set", 89_950),
    item("361", "Dinner plates (set of 6)", 74_900),
    item("145", "Steel tiffin box", 34_975),
    item("612", "Pressure cooker 5L", 249_900),
    item("804", "Bed sheet, double", 119_900),
    item("390", "Ceramic mugs", 29_950),
    item("277", "Wall clock", 64_900),
    item("936", "Non-stick tawa", 89_900),
    item("158", "Spice rack", 45_000),
    item("705", "Cushion covers", 39_999),
    item("842", "Table runner", 24_950),
    item("119", "Glass tumblers", 19_900),
    item("564", "Floor mat", 34_900),
    item("681", "LED bulb 9W", 9_900),
    item("733", "Extension board", 54_900),
    item("920", "Curtain rods", 79_900),
    item("305", "Water bottle 1L", 27_500),
    item("472", "Storage baskets", 64_950),
    item("648", "Cutlery stand", 42_000),
    item("889", "Photo frame 8\"x10\"", 34_999),
    item("214", "Monitor stand 24\"", 189_900),
    item("537", "Salt & pepper set", 29_900),
    item("796", "Pots & pans combo", 399_900),
    item("351", "Café coffee mugs", 49_900),
    item("468", "Crème brûlée ramekins", 69_950),
    item("982", "Diya set \u{2013} brass", 59_900),
    item("127", "Masala dabba (मसाला)", 75_000),
];

/// A delivery city, its state, and the first PIN code of its range.
#[derive(Debug)]
pub struct City {
    /// `City`.
    pub name: &'static str,
    /// `State`.
    pub state: &'static str,
    /// Lowest six-digit PIN code in the city; deliveries add 1..=99.
    pub pin_base: u32,
}

const fn city(name: &'static str, state: &'static str, pin_base: u32) -> City {
    City { name, state, pin_base }
}

/// Cities that home deliveries go to.
pub const CITIES: &[City] = &[
    city("Bengaluru", "Karnataka", 560_000),
    city("Mysuru", "Karnataka", 570_000),
    city("Mumbai", "Maharashtra", 400_000),
    city("Pune", "Maharashtra", 411_000),
    city("Nagpur", "Maharashtra", 440_000),
    city("New Delhi", "Delhi", 110_000),
    city("Chennai", "Tamil Nadu", 600_000),
    city("Coimbatore", "Tamil Nadu", 641_000),
    city("Hyderabad", "Telangana", 500_000),
    city("Visakhapatnam", "Andhra Pradesh", 530_000),
    city("Kolkata", "West Bengal", 700_000),
    city("Ahmedabad", "Gujarat", 380_000),
    city("Surat", "Gujarat", 395_000),
    city("Jaipur", "Rajasthan", 302_000),
    city("Lucknow", "Uttar Pradesh", 226_000),
    city("Kochi", "Kerala", 682_000),
    city("Thiruvananthapuram", "Kerala", 695_000),
    city("Bhopal", "Madhya Pradesh", 462_000),
    city("Indore", "Madhya Pradesh", 452_000),
    city("Chandigarh", "Chandigarh", 160_000),
    city("Patna", "Bihar", 800_000),
    city("Bhubaneswar", "Odisha", 751_000),
    city("Guwahati", "Assam", 781_000),
];

/// Street names for `AddressLine`, which is written as "HOUSE, STREET".
pub const STREETS: &[&str] = &[
    "MG Road",
    "Brigade Road",
    "Station Road",
    "Nehru Nagar",
    "Gandhi Marg",
    "Lake View Colony",
    "Park Street",
    "Sector 14",
    "Anna Salai",
    "Linking Road",
    "Civil Lines",
    "Residency Road",
    "100 Feet Road, Indiranagar",
    "Shivaji Nagar",
    "Old Airport Road",
    "Jubilee Hills Road No. 36",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn stores_are_unique_and_exclude_the_target() {
        let unique: HashSet<_> = OTHER_STORES.iter().collect();
        assert_eq!(unique.len(), OTHER_STORES.len());
        assert!(!OTHER_STORES.contains(&TARGET_STORE));
    }

    #[test]
    fn item_codes_are_unique() {
        let unique: HashSet<_> = ITEMS.iter().map(|i| i.code).collect();
        assert_eq!(unique.len(), ITEMS.len());
    }

    #[test]
    fn some_descriptions_need_escaping_or_are_not_ascii() {
        let descriptions = || ITEMS.iter().map(|i| i.description);
        assert!(descriptions().any(|d| d.contains('"')));
        assert!(descriptions().any(|d| d.contains('&')));
        assert!(descriptions().any(|d| !d.is_ascii()));
    }
}
