//! WIT `state`: counters, rate limits and key/values that outlive a request, in the plugin's own
//! namespace of the manifest's store (in process or Redis). The calls are async: a Redis round
//! trip yields the plugin's call instead of holding a worker thread.

use crate::contract::portcullis::plugin::state;
use crate::plugin::store::InstanceState;

impl state::Host for InstanceState {
    async fn increment(
        &mut self,
        key: String,
        delta: i64,
        window_ms: u64,
    ) -> Result<i64, state::StateError> {
        let result = self.state.increment(&key, delta, window_ms).await;
        result.map_err(wit_state_error)
    }

    async fn rate_limit(
        &mut self,
        key: String,
        algorithm: state::Algorithm,
        limit: u32,
        period_ms: u64,
        cost: u32,
    ) -> Result<state::RateDecision, state::StateError> {
        let algorithm = match algorithm {
            state::Algorithm::TokenBucket => crate::state::Algorithm::TokenBucket,
            state::Algorithm::SlidingWindow => crate::state::Algorithm::SlidingWindow,
        };
        let decision = self
            .state
            .rate_limit(&key, algorithm, limit, period_ms, cost)
            .await
            .map_err(wit_state_error)?;
        Ok(state::RateDecision {
            allowed: decision.allowed,
            limit: decision.limit,
            remaining: decision.remaining,
            reset_ms: decision.reset_ms,
            retry_after_ms: decision.retry_after_ms,
        })
    }

    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, state::StateError> {
        self.state.get(&key).await.map_err(wit_state_error)
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> Result<(), state::StateError> {
        let result = self.state.set(&key, value, ttl_ms).await;
        result.map_err(wit_state_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), state::StateError> {
        self.state.delete(&key).await.map_err(wit_state_error)
    }
}

fn wit_state_error(error: crate::state::StateError) -> state::StateError {
    match error {
        crate::state::StateError::Unavailable(reason) => state::StateError::Unavailable(reason),
        crate::state::StateError::Invalid(reason) => state::StateError::Invalid(reason),
    }
}
