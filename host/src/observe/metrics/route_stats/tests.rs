//! Route totals as specifications: counters and histogram buckets read back per route.

use super::*;

#[test]
fn totals_are_read_from_the_counters_and_histograms() {
    let requests: Family<RequestLabels, Counter> = Family::default();
    let durations = Family::new_with_constructor(Buckets(&LATENCY_BUCKETS));
    let registry = registry(&requests, &durations);
    let count = |route: &str, method: &str, class: &str, n: u64| {
        requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status_class: class.into(),
            })
            .inc_by(n);
    };
    count("orders", "GET", "2xx", 7);
    count("orders", "POST", "2xx", 3);
    count("orders", "GET", "5xx", 2);
    count("a \"quoted\" id", "GET", "4xx", 1);
    let orders = durations.get_or_create_owned(&RouteLabels {
        route: "orders".into(),
    });
    orders.observe(0.0002);
    orders.observe(0.02);
    orders.observe(20.0);

    let totals = read(&registry);

    assert_eq!(totals.len(), 2);
    assert_eq!(totals[0].route, "a \"quoted\" id");
    assert_eq!(totals[0].status_classes, [0, 0, 0, 1, 0]);
    let orders = &totals[1];
    assert_eq!(orders.route, "orders");
    assert_eq!(orders.status_classes, [0, 10, 0, 0, 2]);
    assert_eq!(orders.latency_count, 3);
    assert!((orders.latency_sum_s - 20.0202).abs() < 1e-9);
    // 0.00025 is bucket 1, 0.025 bucket 7, and 20 s only in +Inf.
    assert_eq!(orders.latency_buckets[0], 0);
    assert_eq!(orders.latency_buckets[1], 1);
    assert_eq!(orders.latency_buckets[7], 2);
    assert_eq!(orders.latency_buckets[13], 2);
    assert_eq!(orders.latency_buckets[14], 3);
}
