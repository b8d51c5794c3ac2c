//! Money on a backend: the balance conditions hold under concurrency, and a charge happens
//! once whatever is replayed. The domain's use cases over the backend's records.

use std::sync::Arc;

use recap_domain::access::Caller;
use recap_domain::clock::{SystemClock, SystemIds};
use recap_domain::credits::{self, Purchase, ReserveRequest};
use recap_domain::ids::{JobId, TenantId, UserId};
use recap_domain::money::{DEFAULT_RATE, Usage};
use recap_domain::records::Records;
use recap_domain::{Error, catalog, users};

use crate::Backend;

/// A tenant with one user holding `credits`, and the catalog seeded.
async fn funded(records: &dyn Records, credits: u64) -> (TenantId, UserId) {
    let caller = Caller {
        tenant: TenantId::from_uuid(uuid::Uuid::new_v4()),
        user: UserId::from_uuid(uuid::Uuid::new_v4()),
        email: None,
        platform_admin: false,
    };
    users::ensure(records, &SystemClock, &caller).await.unwrap();
    catalog::seed(records, &SystemClock).await.unwrap();
    let key = uuid::Uuid::new_v4().to_string();
    let purchase = Purchase {
        user_id: caller.user.to_string(),
        credits,
        amount_micro_usd: credits * 1_000,
    };
    credits::purchase(
        records,
        &SystemClock,
        &SystemIds,
        &caller.tenant,
        &caller.user,
        Some(&key),
        purchase,
    )
    .await
    .unwrap();
    (caller.tenant, caller.user)
}

/// gpt-4o-mini: 10,000 input tokens at $0.15/M + 1,000 output at $0.60/M = 2,100 micro-USD,
/// which is 3 credits at the default rate.
fn request(t: TenantId, u: UserId) -> ReserveRequest {
    ReserveRequest {
        job: JobId::from_uuid(uuid::Uuid::now_v7()),
        tenant: t,
        user: u,
        team: None,
        transcript: None,
        output_type: Some("one_pager".into()),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        input_tokens: 10_000,
        max_output_tokens: 1_000,
        rate: DEFAULT_RATE,
        split: false,
    }
}

const EACH: u64 = 3;

pub async fn concurrent_reserve_no_overdraft(b: &dyn Backend) {
    let records = b.records().await;
    let affordable = 37;
    let start = affordable * EACH + EACH - 1;
    let (t, u) = funded(records.as_ref(), start).await;
    let attempts = 1_000;
    let tasks: Vec<_> = (0..attempts)
        .map(|_| {
            let records = records.clone();
            tokio::spawn(async move {
                credits::reserve(records.as_ref(), &SystemClock, request(t, u)).await
            })
        })
        .collect();
    let mut reserved = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(job) => {
                assert_eq!(job.reserved_credits, EACH);
                reserved.push(job.id);
            }
            Err(Error::InsufficientCredits { needed, available }) => {
                assert_eq!(needed, EACH);
                assert!(available < EACH, "refused with {available} available");
                refused += 1;
            }
            Err(e) => panic!("unexpected: {e:?}"),
        }
    }
    assert_eq!(
        reserved.len() as u64,
        affordable,
        "exactly the affordable ones"
    );
    assert_eq!(refused, attempts - affordable as usize);
    let bal = credits::balance(records.as_ref(), &t, &u).await.unwrap();
    assert_eq!(
        (bal.available, bal.reserved, bal.used),
        (EACH - 1, affordable * EACH, 0)
    );

    // Settle each at less than the estimate: 2 credits used, 1 returned, per job.
    let actual = Usage {
        uncached_input: 10_000,
        output: 200,
        ..Usage::default()
    };
    for id in &reserved {
        let e = credits::settle(records.as_ref(), &SystemClock, &t, id, actual, 1)
            .await
            .unwrap();
        assert_eq!((e.cost_micro_usd, e.credits_charged), (1_620, 2));
    }
    let bal = credits::balance(records.as_ref(), &t, &u).await.unwrap();
    let report = credits::usage(records.as_ref(), &t, None, None, None)
        .await
        .unwrap();
    assert_eq!(report.calls, affordable);
    assert_eq!(
        report.credits, bal.used,
        "the ledger total is what was used"
    );
    assert_eq!(bal.reserved, 0);
    assert_eq!(bal.available + bal.used, start, "nothing made or lost");
}

pub async fn settle_charges_once(b: &dyn Backend) {
    let records = b.records().await;
    let (t, u) = funded(records.as_ref(), 10).await;
    let req = request(t, u);
    let job = credits::reserve(records.as_ref(), &SystemClock, req.clone())
        .await
        .unwrap();
    // The same reservation again (a retried request): reserved once.
    let again = credits::reserve(records.as_ref(), &SystemClock, req)
        .await
        .unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(
        credits::balance(records.as_ref(), &t, &u)
            .await
            .unwrap()
            .reserved,
        EACH
    );

    let actual = Usage {
        uncached_input: 10_000,
        output: 1_000,
        ..Usage::default()
    };
    // A crash after the provider answered and before settlement: the retry settles once;
    // duplicate deliveries after that change nothing.
    let settles: Vec<_> = (0..5)
        .map(|_| {
            let records = records.clone();
            tokio::spawn(async move {
                credits::settle(records.as_ref(), &SystemClock, &t, &job.id, actual, 2).await
            })
        })
        .collect();
    let mut entries = Vec::new();
    for s in settles {
        entries.push(s.await.unwrap().unwrap());
    }
    assert!(
        entries.windows(2).all(|w| w[0] == w[1]),
        "one entry, answered to every settle"
    );
    let bal = credits::balance(records.as_ref(), &t, &u).await.unwrap();
    assert_eq!(
        (bal.available, bal.reserved, bal.used),
        (10 - EACH, 0, EACH)
    );
    let report = credits::usage(records.as_ref(), &t, Some(&u), None, None)
        .await
        .unwrap();
    assert_eq!(
        (report.calls, report.credits, report.cost_micro_usd),
        (1, EACH, 2_100)
    );
    // A settled job cannot be released; a released one cannot be charged.
    assert!(
        !credits::release(records.as_ref(), &t, &job.id, credits::Call::Unused)
            .await
            .unwrap()
    );
    let other = credits::reserve(records.as_ref(), &SystemClock, request(t, u))
        .await
        .unwrap();
    assert!(
        credits::release(records.as_ref(), &t, &other.id, credits::Call::Unused)
            .await
            .unwrap()
    );
    assert!(
        !credits::release(records.as_ref(), &t, &other.id, credits::Call::Unused)
            .await
            .unwrap()
    );
    assert!(
        credits::settle(records.as_ref(), &SystemClock, &t, &other.id, actual, 1)
            .await
            .is_err()
    );
    let bal = credits::balance(records.as_ref(), &t, &u).await.unwrap();
    assert_eq!(
        (bal.available, bal.reserved, bal.used),
        (10 - EACH, 0, EACH)
    );
}

pub async fn purchases_are_idempotent(b: &dyn Backend) {
    let records: Arc<dyn Records> = b.records().await;
    let (t, u) = funded(records.as_ref(), 1).await;
    let buy = |credits: u64| Purchase {
        user_id: u.to_string(),
        credits,
        amount_micro_usd: credits * 1_000,
    };
    let first = credits::purchase(
        records.as_ref(),
        &SystemClock,
        &SystemIds,
        &t,
        &u,
        Some("k-1"),
        buy(50),
    )
    .await
    .unwrap();
    let replay = credits::purchase(
        records.as_ref(),
        &SystemClock,
        &SystemIds,
        &t,
        &u,
        Some("k-1"),
        buy(50),
    )
    .await
    .unwrap();
    assert_eq!(replay, first, "the first answer, replayed");
    let other = credits::purchase(
        records.as_ref(),
        &SystemClock,
        &SystemIds,
        &t,
        &u,
        Some("k-1"),
        buy(60),
    )
    .await;
    assert!(matches!(other, Err(Error::Conflict(_))), "{other:?}");
    let none = credits::purchase(
        records.as_ref(),
        &SystemClock,
        &SystemIds,
        &t,
        &u,
        None,
        buy(60),
    )
    .await;
    assert!(matches!(none, Err(Error::Validation { .. })), "{none:?}");
    assert_eq!(
        credits::balance(records.as_ref(), &t, &u)
            .await
            .unwrap()
            .available,
        51
    );
    let (list, _) = credits::billing_records(records.as_ref(), &t, 10, None)
        .await
        .unwrap();
    assert_eq!(list.len(), 2, "the funding purchase and k-1, once");
}
