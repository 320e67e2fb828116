//! Gateway API conformance as acceptance tests: every case of `../shared/conformance` (31
//! upstream tests, 260 request cases) through gwsync's real pipeline (a Git repository read by
//! `Source`, `admit`, `translate`) and the ALB evaluator.
//!
//! Each case runs twice: offline, on the translated desired state, and on moto, applied
//! through the real SDK and read back (`on_moto::*`), so that what AWS holds answers it.
//! One test per conformance folder; each runs every case of its folder and, on failure,
//! reports every failing case with its request, expectation, the evaluator's answer and the
//! rules of the listener. The harness is `conformance_support`. Run one folder with
//! `cargo test --test conformance httproute_matching -- --nocapture` to see its pass count
//! and the notes on refused or warned cases.

mod conformance_support;
mod support;

/// Two `#[test]`s per folder (offline, and applied to moto), and the list of folders for the
/// index check.
macro_rules! conformance_tests {
    ($($test:ident => $folder:literal,)*) => {
        /// The conformance folders the tests below run.
        const FOLDERS: &[&str] = &[$($folder),*];

        $(
            #[test]
            fn $test() {
                conformance_support::run($folder);
            }
        )*

        /// The same folders applied to moto and answered from what AWS holds.
        mod on_moto {
            $(
                #[test]
                fn $test() {
                    super::conformance_support::run_on_moto($folder);
                }
            )*
        }
    };
}

conformance_tests! {
    httproute_simple_same_namespace => "HTTPRouteSimpleSameNamespace",
    httproute_matching => "HTTPRouteMatching",
    httproute_matching_across_routes => "HTTPRouteMatchingAcrossRoutes",
    httproute_path_match_order => "HTTPRoutePathMatchOrder",
    httproute_exact_path_matching => "HTTPRouteExactPathMatching",
    httproute_header_matching => "HTTPRouteHeaderMatching",
    httproute_query_param_matching => "HTTPRouteQueryParamMatching",
    httproute_method_matching => "HTTPRouteMethodMatching",
    httproute_hostname_intersection => "HTTPRouteHostnameIntersection",
    httproute_listener_hostname_matching => "HTTPRouteListenerHostnameMatching",
    httproute_listener_port_matching => "HTTPRouteListenerPortMatching",
    httproute_cross_namespace => "HTTPRouteCrossNamespace",
    httproute_reference_grant => "HTTPRouteReferenceGrant",
    httproute_invalid_reference_grant => "HTTPRouteInvalidReferenceGrant",
    httproute_partially_invalid_via_invalid_reference_grant => "HTTPRoutePartiallyInvalidViaInvalidReferenceGrant",
    httproute_invalid_non_existent_backend_ref => "HTTPRouteInvalidNonExistentBackendRef",
    httproute_no_backend_refs => "HTTPRouteNoBackendRefs",
    httproute_redirect_host_and_status => "HTTPRouteRedirectHostAndStatus",
    httproute_redirect_path => "HTTPRouteRedirectPath",
    httproute_redirect_port => "HTTPRouteRedirectPort",
    httproute_redirect_scheme => "HTTPRouteRedirectScheme",
    httproute_redirect_port_and_scheme => "HTTPRouteRedirectPortAndScheme",
    httproute_rewrite_path => "HTTPRouteRewritePath",
    httproute_rewrite_host => "HTTPRouteRewriteHost",
    httproute_weight => "HTTPRouteWeight",
    httproute_multiple_gateways => "HTTPRouteMultipleGateways",
    httproute_https_listener => "HTTPRouteHTTPSListener",
    gateway_http_listener_isolation => "GatewayHTTPListenerIsolation",
    listenerset_http_routing => "ListenerSetHTTPRouting",
    listenerset_allowed_routes_namespaces => "ListenerSetAllowedRoutesNamespaces",
    listenerset_dual_parent_ref_independence => "ListenerSetDualParentRefIndependence",
}

/// All 31 folders of `index.yaml` have a test above, and they hold 260 cases.
#[test]
fn index_covers_every_folder_and_case() {
    conformance_support::check_index(FOLDERS, 31, 260);
}
