//! The behaviour suite: every scenario of `suite/scenarios` that a binding's capabilities
//! allow, run against that binding, as tests named `<binding>::<scenario>` (so a failure says
//! which binding and which promise). Each binding's fixture is `suite/fixtures/<binding>.rs`;
//! the bindings that talk to a server need `tests/servers/start`.
//!
//! Besides Dapr's conformance steps (init, the operations, create/get/list/delete, the input
//! firing, close), the scenarios are bindery's own: errors that name what is wrong, a server
//! that is down, redelivery after a nack (in order, or aside), runs resumed at a failure,
//! shutdown and crash safety. A binding's list below must be exactly what its capabilities
//! allow (`every_scenario_its_capabilities_allow_is_listed` checks it).

#[path = "suite/mod.rs"]
mod suite;

/// The crash scenario's consumer process: this binary run again, filtered to this test.
#[test]
fn child_consumer() {
    suite::crash::child_consumer();
}

/// Tests of `$fixture` for the scenarios named: `name` runs `scenarios::name`, and
/// `name = run(args)` runs `scenarios::run` with those arguments. Each holds the servers as it
/// needs.
macro_rules! scenario {
    (@run $f:ty; $scenario:ident) => { scenarios::$scenario::<$f>().await };
    (@run $f:ty; $scenario:ident = $run:ident($($arg:expr),*)) => {
        scenarios::$run::<$f>($($arg),*).await
    };
    ($f:ty; $($scenario:ident $(= $run:ident($($arg:expr),*))?)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let _servers = scenarios::servers(stringify!($scenario)).await;
            scenario!(@run $f; $scenario $(= $run($($arg),*))?);
        }
    )*};
}

/// The scenarios of each group, by what they need of a binding (`scenarios::Needs`).
macro_rules! group {
    ($f:ty; Aside) => {
        scenario!($f;
            a_nack_waits_aside_while_the_rest_go_on = nack_aside("5")
            a_nack_past_its_retries_is_requeued_aside_while_the_rest_go_on = nack_aside("0")
            a_run_s_failure_waits_aside_while_the_rest_go_on = runs_aside("5")
            a_run_s_failure_past_its_retries_is_requeued_aside = runs_aside("0"));
    };
    ($f:ty; Aliases) => { scenario!($f; every_alias_loads_the_same_binding); };
    ($f:ty; Required) => { scenario!($f; a_missing_required_field_is_an_error_naming_it); };
    ($f:ty; Output) => { scenario!($f; an_unknown_operation_names_the_real_ones);
        scenario!($f; after_shutdown_invoke_is_closed); };
    ($f:ty; Mistakes) => { scenario!($f; configuration_mistakes_are_named_with_a_fix); };
    ($f:ty; Store) => { scenario!($f; create_get_list_delete_round_trip); };
    ($f:ty; RequestField) => { scenario!($f; a_request_without_a_required_field_names_it); };
    ($f:ty; BadRequests) => { scenario!($f; a_bad_request_value_is_an_invalid_argument_naming_it); };
    ($f:ty; Close) => { scenario!($f; the_close_operation_closes_it_for_good); };
    ($f:ty; InOrder) => {
        scenario!($f; a_nack_is_retried_in_process_before_the_next_event = nack_in_order("5"));
        scenario!($f; a_nack_past_its_retries_comes_again_from_the_source_in_order = nack_in_order("0"));
    };
    ($f:ty; Down) => { scenario!($f; a_server_that_is_down_gives_a_clear_error_naming_the_component); };
    ($f:ty; RunsInOrder) => {
        scenario!($f; a_run_resumes_at_a_failure_retried_in_process = runs_in_order("5"));
        scenario!($f; a_run_resumes_at_a_failure_the_source_redelivers = runs_in_order("0"));
    };
    ($f:ty; SettlesMidRun) => {
        scenario!($f; a_stop_mid_run_settles_what_a_run_handler_handled = stop_mid_run(true));
        scenario!($f; a_stop_mid_run_settles_what_a_handler_handled = stop_mid_run(false));
    };
    ($f:ty; Conformance) => { scenario!($f; dapr_s_conformance_files_run_their_operations); };
    ($f:ty; Login) => { scenario!($f; a_wrong_password_fails_without_showing_it); };
    ($f:ty; Input) => { scenario!($f; an_event_reaches_the_handler_within_the_deadline); };
    ($f:ty; CrashSafe) => { scenario!($f; a_consumer_killed_mid_stream_loses_nothing); };
    ($f:ty; Restart) => { scenario!($f; a_server_restart_loses_nothing); };
    ($f:ty; TlsProxy) => { scenario!($f; tls_with_a_client_certificate); };
    ($f:ty; Redelivered) => { scenario!($f; nacked_events_come_again_to_the_next_runtime);
        scenario!($f; shutdown_leaves_unhandled_events_for_redelivery); };
    ($f:ty; Sql) => {
        scenario!($f;
            exec_and_query_answer_with_dapr_metadata
            params_that_are_not_a_json_array_are_refused
            a_syntax_error_is_the_server_s_and_not_retryable);
    };
}

/// Per binding (compiled with its feature): a module with init and the scenarios of each group
/// listed, and the check that the list is what the fixture's capabilities allow.
macro_rules! behaviour {
    ($($feature:literal $binding:ident: $($fixture:ident)::+ => [$($needs:ident),*];)*) => {$(
        #[cfg(feature = $feature)]
        mod $binding {
            use super::suite::scenarios;
            type Fixture = super::suite::fixtures::$($fixture)::+;

            scenario!(Fixture; init_lists_the_operations_and_directions);
            $(group!(Fixture; $needs);)*

            #[test]
            fn every_scenario_its_capabilities_allow_is_listed() {
                scenarios::check_listed::<Fixture>(&[$(stringify!($needs)),*]);
            }
        }
    )*};
}

behaviour! {
    "cron" cron: cron::Cron => [Required, Output, Input, Conformance];
    "http" http: http::Http => [Required, Output, BadRequests, Down, Conformance];
    "localstorage" localstorage: localstorage::LocalStorage => [Required, Output, Store, RequestField];
    "redis" redis: redis::Redis
        => [Required, Mistakes, Output, Store, RequestField, BadRequests, Down, Login, Conformance];
    "postgresql" postgresql: postgresql::Postgresql
        => [Aliases, Required, Mistakes, Output, RequestField, Close, Sql, Down, Login, Conformance];
    "mysql" mysql: mysql::Mysql => [Required, Mistakes, Output, RequestField, Close, Sql, Down, Login];
    "rabbitmq" rabbitmq: rabbitmq::Rabbitmq => [
        Required, Mistakes, Output, BadRequests, Down,
        Input, InOrder, Aside, Redelivered, SettlesMidRun, CrashSafe, Restart, TlsProxy, Conformance
    ];
    "mqtt" mqtt: mqtt::Mqtt => [
        Aliases, Required, Mistakes, Output, BadRequests, Down,
        Input, InOrder, RunsInOrder, Redelivered, SettlesMidRun, CrashSafe, Restart, TlsProxy,
        Conformance
    ];
    "aws-s3" aws_s3: aws::S3
        => [Required, Mistakes, Output, Store, RequestField, BadRequests, Down, Conformance];
    "aws-sqs" aws_sqs: aws::Sqs => [Required, Mistakes, Output, Down, Login, Input, CrashSafe];
    "aws-sns" aws_sns: aws::Sns => [Required, Mistakes, Output, Down];
    "aws-dynamodb" aws_dynamodb: aws::DynamoDb => [Required, Mistakes, Output, Down];
    "aws-kinesis" aws_kinesis: aws::Kinesis => [
        Required, Mistakes, Output, Down, Login,
        Input, InOrder, RunsInOrder, Redelivered, SettlesMidRun, CrashSafe
    ];
    "kafka" kafka: kafka::Kafka => [
        Required, Mistakes, Output, Down,
        Input, InOrder, RunsInOrder, Redelivered, SettlesMidRun, CrashSafe, Conformance
    ];
}
