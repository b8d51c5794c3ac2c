//! Money, exactly: token usage × a price sheet → integer micro-USD; micro-USD → whole credits.
//!
//! Prices are integer micro-USD per million tokens, one per usage bucket. A call's cost is
//! `ceil(Σ tokens_b × price_b / 1_000_000)`: the products are summed exactly (in `u128`) and
//! rounded up once, to the whole micro-USD. Credits are `ceil(cost / micro_usd_per_credit)`:
//! a call that costs anything costs at least one credit. No floats anywhere.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Micro-USD (1 USD = 1,000,000).
pub type MicroUsd = u64;
/// Whole credits.
pub type Credits = u64;

/// Tokens of one model call, in the buckets providers bill separately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    #[serde(default)]
    pub uncached_input: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_write: u64,
    #[serde(default)]
    pub output: u64,
    #[serde(default)]
    pub reasoning: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.uncached_input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write)
            .saturating_add(self.output)
            .saturating_add(self.reasoning)
    }
}

/// Micro-USD per million tokens of each bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceSheet {
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub uncached_input: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub cache_read: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub cache_write: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub output: MicroUsd,
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub reasoning: MicroUsd,
}

const PER: u128 = 1_000_000;

/// The largest amount a configured price or allowance may be (micro-USD: a million dollars;
/// credits, calls: a trillion): far beyond any real tier or price sheet, and far below where
/// sums and products of them in `u64`/`i64` could overflow.
pub const MAX_SETTING: u64 = 1_000_000_000_000;

/// `Err` naming `field` when `value` is above [`MAX_SETTING`].
pub fn check_setting(field: &'static str, value: u64) -> Result<()> {
    if value > MAX_SETTING {
        return Err(Error::validation(
            field,
            format!("must be at most {MAX_SETTING}"),
        ));
    }
    Ok(())
}

impl PriceSheet {
    /// Every price (micro-USD per million tokens) at most [`MAX_SETTING`].
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("price.uncached_input", self.uncached_input),
            ("price.cache_read", self.cache_read),
            ("price.cache_write", self.cache_write),
            ("price.output", self.output),
            ("price.reasoning", self.reasoning),
        ] {
            check_setting(field, v)?;
        }
        Ok(())
    }
}

/// The cost of a call: exact products, summed, rounded up once to the whole micro-USD.
pub fn cost(usage: &Usage, price: &PriceSheet) -> MicroUsd {
    let pairs = [
        (usage.uncached_input, price.uncached_input),
        (usage.cache_read, price.cache_read),
        (usage.cache_write, price.cache_write),
        (usage.output, price.output),
        (usage.reasoning, price.reasoning),
    ];
    let total: u128 = pairs
        .iter()
        .map(|(t, p)| u128::from(*t) * u128::from(*p))
        .sum();
    u64::try_from(total.div_ceil(PER)).unwrap_or(u64::MAX)
}

/// How micro-USD become credits (a tier's rate; [`DEFAULT_RATE`] until tiers set one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditRate {
    /// Micro-USD one credit buys; at least 1.
    pub micro_usd_per_credit: u64,
}

/// One credit is a tenth of a US cent.
pub const DEFAULT_RATE: CreditRate = CreditRate {
    micro_usd_per_credit: 1_000,
};

impl CreditRate {
    pub fn validate(self) -> Result<Self> {
        if self.micro_usd_per_credit == 0 {
            return Err(Error::validation(
                "micro_usd_per_credit",
                "must be at least 1",
            ));
        }
        check_setting("micro_usd_per_credit", self.micro_usd_per_credit)?;
        Ok(self)
    }

    /// Credits for a cost, rounded up to the whole credit.
    pub fn credits(self, cost: MicroUsd) -> Credits {
        cost.div_ceil(self.micro_usd_per_credit.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHEET: PriceSheet = PriceSheet {
        uncached_input: 2_500_000, // $2.50 / M
        cache_read: 1_250_000,
        cache_write: 3_750_000,
        output: 10_000_000,
        reasoning: 12_000_000,
    };

    #[test]
    fn each_bucket_is_priced_by_its_own_rate() {
        let one = |f: fn(&mut Usage)| {
            let mut u = Usage::default();
            f(&mut u);
            cost(&u, &SHEET)
        };
        // A million tokens of a bucket cost exactly its price.
        assert_eq!(one(|u| u.uncached_input = 1_000_000), 2_500_000);
        assert_eq!(one(|u| u.cache_read = 1_000_000), 1_250_000);
        assert_eq!(one(|u| u.cache_write = 1_000_000), 3_750_000);
        assert_eq!(one(|u| u.output = 1_000_000), 10_000_000);
        assert_eq!(one(|u| u.reasoning = 1_000_000), 12_000_000);
        // 1,234 input tokens at $2.50/M = 3,085 micro-USD exactly.
        assert_eq!(one(|u| u.uncached_input = 1_234), 3_085);
        // 1 token at $2.50/M = 2.5 micro-USD: rounded up to 3.
        assert_eq!(one(|u| u.uncached_input = 1), 3);
        assert_eq!(cost(&Usage::default(), &SHEET), 0);
    }

    #[test]
    fn buckets_are_summed_before_rounding() {
        // 1 input token (2.5) + 1 cache-read token (1.25) = 3.75 → 4, not 3 + 2 = 5.
        let u = Usage {
            uncached_input: 1,
            cache_read: 1,
            ..Default::default()
        };
        assert_eq!(cost(&u, &SHEET), 4);
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let u = Usage {
            output: u64::MAX,
            ..Default::default()
        };
        assert_eq!(cost(&u, &SHEET), u64::MAX, "saturates instead of wrapping");
    }

    #[test]
    fn credits_round_up_and_free_calls_cost_nothing() {
        assert_eq!(DEFAULT_RATE.credits(0), 0);
        assert_eq!(DEFAULT_RATE.credits(1), 1);
        assert_eq!(DEFAULT_RATE.credits(1_000), 1);
        assert_eq!(DEFAULT_RATE.credits(1_001), 2);
        assert!(
            CreditRate {
                micro_usd_per_credit: 0
            }
            .validate()
            .is_err()
        );
    }
}
