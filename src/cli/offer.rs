//! The retention-offer economics flags, shared by `train` (the threshold policy) and `report`
//! (the profit chart).

use super::CliError;
use crate::evaluation::ThresholdPolicy;

#[derive(clap::Args, Debug, Clone)]
pub struct OfferArgs {
    /// Cost of one retention offer; with --customer-value, thresholds and charts maximise profit.
    #[arg(long, requires = "customer_value")]
    pub offer_cost: Option<f64>,
    /// Value of keeping one customer who would have churned.
    #[arg(long, requires = "offer_cost")]
    pub customer_value: Option<f64>,
    /// Probability that a churner who gets the offer stays.
    #[arg(long, default_value_t = 1.0)]
    pub offer_acceptance: f64,
}

impl OfferArgs {
    /// Profit-optimal when the economics are given (and make sense), F1-optimal otherwise.
    pub fn policy(&self) -> Result<ThresholdPolicy, CliError> {
        let (Some(offer_cost), Some(customer_value)) = (self.offer_cost, self.customer_value) else {
            return Ok(ThresholdPolicy::F1);
        };
        let offer_acceptance = self.offer_acceptance;
        if !(offer_cost >= 0.0 && customer_value > 0.0 && (0.0..=1.0).contains(&offer_acceptance)) {
            return Err(CliError::Usage(
                "--offer-cost must be >= 0, --customer-value > 0 and --offer-acceptance within 0..1".into(),
            ));
        }
        Ok(ThresholdPolicy::Profit { offer_cost, customer_value, offer_acceptance })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cost: Option<f64>, value: Option<f64>, acceptance: f64) -> OfferArgs {
        OfferArgs { offer_cost: cost, customer_value: value, offer_acceptance: acceptance }
    }

    #[test]
    fn economics_choose_the_policy_and_nonsense_is_refused() {
        assert!(matches!(args(None, None, 1.0).policy(), Ok(ThresholdPolicy::F1)));
        assert!(matches!(args(Some(10.0), Some(500.0), 0.3).policy(), Ok(ThresholdPolicy::Profit { .. })));
        for bad in
            [args(Some(-1.0), Some(500.0), 1.0), args(Some(1.0), Some(0.0), 1.0), args(Some(1.0), Some(5.0), 1.5)]
        {
            assert!(matches!(bad.policy(), Err(CliError::Usage(_))), "{bad:?}");
        }
        assert!(args(Some(f64::NAN), Some(5.0), 1.0).policy().is_err());
    }
}
