"""The metric filters of ops.yaml against the log lines the function really writes.

The function's lines come from a test run of the real handler with the production JSON log
formatter: `request_log_lines_for_the_metric_filters` in tests/it/logs.rs writes them to
request-log-lines.jsonl in cargo's CARGO_TARGET_TMPDIR (target/tmp, or $CARGO_TARGET_DIR/tmp),
one {"case": ..., "line": ...} object a line; REQUEST_LOG_LINES overrides the path. So
scripts/test runs this right after the Rust test that writes them. Each filter pattern is
evaluated by cloudwatch_filter.py, which understands exactly the subset of CloudWatch's JSON
filter syntax that the template uses and rejects anything else.

The access log filters run against lines rendered from both front doors' access log formats
(template.yaml's HTTP API and REST API), with representative $context values for each kind of
answer: API Gateway's substitution is simple enough to reproduce, but these lines are not
captured from API Gateway itself.
"""

import json
import os
import pathlib
import sys
import unittest

from cfnlint.decode import cfn_yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import cloudwatch_filter as cw  # noqa: E402
from template_test import (  # noqa: E402
    ACCESS_CONTEXT, REST_ACCESS_CONTEXT, render_access_log, rest_access_log_format,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = cfn_yaml.load(str(ROOT / "ops.yaml"))["Resources"]  # the filters and alarms
TARGET_DIR = ROOT / os.environ.get("CARGO_TARGET_DIR", "target")
LINES_PATH = pathlib.Path(
    os.environ.get("REQUEST_LOG_LINES", TARGET_DIR / "tmp" / "request-log-lines.jsonl")
)

AUTH_CAUSES = ["missing", "malformed", "not_found", "wrong_secret", "expired", "insufficient_scope"]
CASES = ["200", "400", *(f"401-{c}" for c in AUTH_CAUSES[:-1]), "403-insufficient_scope", "503"]


def load_lines():
    if not LINES_PATH.is_file():
        raise AssertionError(
            f"{LINES_PATH} is missing: it holds the request log lines the function writes, captured "
            "by `cargo test --test handler` (scripts/test runs cargo test first). Run that, or "
            "point REQUEST_LOG_LINES at such a file."
        )
    lines = {}
    for number, text in enumerate(LINES_PATH.read_text().splitlines(), 1):
        if text.strip():
            record = json.loads(text)
            assert set(record) == {"case", "line"}, f"{LINES_PATH}:{number}: {record}"
            lines.setdefault(record["case"], []).append(record["line"])
    missing = [case for case in CASES if case not in lines]
    assert not missing, f"{LINES_PATH} lacks the cases {missing}"
    return lines


try:
    FUNCTION_LINES, LINES_ERROR = load_lines(), None
except AssertionError as error:
    FUNCTION_LINES, LINES_ERROR = {}, str(error)


class NeedsCapturedLines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if LINES_ERROR:
            raise AssertionError(LINES_ERROR)

# Kinds of answers, as the gateway's access log describes them ($context values).
ACCESS_CASES = {
    "200": {},
    "401": {"status": 401, "integration.status": 401},
    "429-throttled-by-the-gateway": {
        "status": 429, "responseLength": 33, "integrationStatus": "-", "integration.status": "-",
        "integrationLatency": "-", "integration.requestId": "-", "error.message": "Too Many Requests",
    },
    "500-the-function-failed": {
        "status": 500, "integrationStatus": 200, "integration.status": "-",
        "integrationErrorMessage": "The Lambda function returned an error.",
        "error.message": "Internal Server Error",
    },
    "503-the-function-answered": {"status": 503, "integration.status": 503},
}
ACCESS_LINES = {
    case: [render_access_log(TEMPLATE["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"],
                             **dict(ACCESS_CONTEXT, **context))]
    for case, context in ACCESS_CASES.items()
}
# The same answers from the REST API's format (FrontDoor RestApiWaf), and one only it gives: a
# WAF rate rule's 429, which never reached the integration.
REST_ACCESS_CASES = {
    **ACCESS_CASES,
    "429-waf-rate-rule": {
        "status": 429, "responseLength": 31, "integrationStatus": "-", "integration.status": "-",
        "integrationLatency": "-", "integration.requestId": "-", "error.message": "-",
        "wafResponseCode": "WAF_BLOCK",
    },
}
REST_ACCESS_LINES = {
    case: [render_access_log(rest_access_log_format(), **dict(REST_ACCESS_CONTEXT, **context))]
    for case, context in REST_ACCESS_CASES.items()
}
ACCESS_FORMATS = {"HttpApi": ACCESS_LINES, "RestApiWaf": REST_ACCESS_LINES}


def filters_on(group):
    """{metric name: (pattern, transformation)} of the metric filters on a log group."""
    found = {}
    for resource in RESOURCES.values():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        props = resource["Properties"]
        if props["LogGroupName"] != {"Ref": group}:
            continue
        (transformation,) = props["MetricTransformations"]
        found[transformation["MetricName"]] = (cw.Pattern(props["FilterPattern"]), transformation)
    return found


FUNCTION_FILTERS = filters_on("FunctionLogGroup")
ACCESS_FILTERS = filters_on("AccessLogGroup")


def matched(pattern, lines):
    return {case for case, texts in lines.items() for text in texts if pattern.matches(text)}


class FunctionLogFilters(NeedsCapturedLines):
    EXPECTED = {
        "AuthFailures": {f"401-{c}" for c in AUTH_CAUSES[:-1]} | {"403-insufficient_scope"},
        "ForgedTokens": {"401-not_found", "401-wrong_secret"},
        "BadRequests": {"400"},
        "ServerErrors": {"503"},
    }

    def assert_matches(self, metric, cases):
        pattern, _ = FUNCTION_FILTERS[metric]
        self.assertEqual(matched(pattern, FUNCTION_LINES), cases)

    def test_are_exactly_the_ones_specified_here(self):
        self.assertEqual(set(FUNCTION_FILTERS), set(self.EXPECTED))

    def test_auth_failures_count_every_401_and_the_403(self):
        self.assert_matches("AuthFailures", self.EXPECTED["AuthFailures"])

    def test_auth_failures_are_split_by_their_cause(self):
        _, transformation = FUNCTION_FILTERS["AuthFailures"]
        self.assertEqual(transformation["Dimensions"], [{"Key": "Cause", "Value": "$.auth"}])
        causes = {
            cw.field(text, "$.auth")[1]
            for case in self.EXPECTED["AuthFailures"]
            for text in FUNCTION_LINES[case]
        }
        self.assertEqual(causes, set(AUTH_CAUSES))

    def test_forged_tokens_count_only_well_formed_tokens_that_are_not_ours(self):
        # Both cost a strongly consistent read; malformed ones never reach DynamoDB, missing and
        # expired ones are what honest clients send by mistake.
        self.assert_matches("ForgedTokens", self.EXPECTED["ForgedTokens"])

    def test_bad_requests_count_the_400(self):
        self.assert_matches("BadRequests", self.EXPECTED["BadRequests"])

    def test_server_errors_count_the_503(self):
        self.assert_matches("ServerErrors", self.EXPECTED["ServerErrors"])

    def test_lines_other_than_the_request_line_never_count(self):
        # Warnings such as a dropped last_used_at write land in the same log group.
        for metric, (pattern, _) in FUNCTION_FILTERS.items():
            for case, texts in FUNCTION_LINES.items():
                for text in texts:
                    other = dict(json.loads(text), message="last_used_at write dropped", level="WARN")
                    self.assertFalse(pattern.matches(json.dumps(other)), f"{metric} counts {case}")


class CapturedLines(NeedsCapturedLines):
    def test_hold_every_case_the_filters_are_specified_for(self):
        self.assertEqual(set(FUNCTION_LINES), set(CASES))


class AccessLogFilters(unittest.TestCase):
    """Each filter on the lines of both front doors' formats: the same cases count alike, and the
    REST API's WAF 429 counts as a 429."""

    EXPECTED = {
        "GatewayRequests": set(REST_ACCESS_CASES),
        "GatewayThrottled": {"429-throttled-by-the-gateway", "429-waf-rate-rule"},
        "Gateway4xx": {"401", "429-throttled-by-the-gateway", "429-waf-rate-rule"},
        "Gateway5xx": {"500-the-function-failed", "503-the-function-answered"},
        "GatewayLatency": set(REST_ACCESS_CASES),
    }

    def assert_counts(self, metric):
        pattern, _ = ACCESS_FILTERS[metric]
        for door, lines in ACCESS_FORMATS.items():
            self.assertEqual(matched(pattern, lines), self.EXPECTED[metric] & set(lines), door)

    def test_are_exactly_the_ones_specified_here(self):
        self.assertEqual(set(ACCESS_FILTERS), set(self.EXPECTED))

    def test_gateway_requests_count_every_answer(self):
        self.assert_counts("GatewayRequests")

    def test_gateway_throttled_counts_the_gateways_429_and_the_wafs(self):
        self.assert_counts("GatewayThrottled")

    def test_gateway_5xx_counts_failures_of_and_answers_from_the_function(self):
        self.assert_counts("Gateway5xx")

    def test_gateway_4xx_counts_every_4xx_the_429s_too(self):
        self.assert_counts("Gateway4xx")

    def test_gateway_latency_takes_every_lines_response_latency_in_milliseconds(self):
        self.assert_counts("GatewayLatency")
        _, transformation = ACCESS_FILTERS["GatewayLatency"]
        self.assertEqual(transformation["MetricValue"], "$.responseLatency")
        self.assertEqual(transformation["Unit"], "Milliseconds")
        # No zeros for minutes without requests: they would drag the percentiles down.
        self.assertNotIn("DefaultValue", transformation)
        for lines in ACCESS_FORMATS.values():
            for texts in lines.values():
                for text in texts:
                    present, value = cw.field(text, "$.responseLatency")
                    self.assertTrue(present and isinstance(value, int), text)

    def test_both_formats_give_every_field_a_filter_reads_the_same_type(self):
        for case in ACCESS_CASES:
            http, rest = json.loads(ACCESS_LINES[case][0]), json.loads(REST_ACCESS_LINES[case][0])
            for field in ("status", "responseLatency"):
                self.assertIs(type(http[field]), type(rest[field]), (case, field))
                self.assertEqual(http[field], rest[field], (case, field))


NAMESPACE = {"Fn::Sub": "Aether/ApiTokens/${StackName}"}
# Metrics that carry a value from the line rather than a count of lines.
VALUE_METRICS = {"GatewayLatency": "$.responseLatency"}


def alarms():
    return {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def log_metrics_read_by(alarm):
    """(namespace, metric name) of the stack's own metrics an alarm reads."""
    if "MetricName" in alarm:
        read = [(alarm["Namespace"], alarm["MetricName"])]
    else:
        read = [(q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
                for q in alarm["Metrics"] if "MetricStat" in q]
    return [(json.dumps(ns), metric) for ns, metric in read if ns == NAMESPACE]


class AlarmsOnLogMetrics(unittest.TestCase):
    """An alarm on a metric from the logs fires on what its filter counts, so the filter's cases
    here are the alarm's too."""

    def test_every_one_reads_a_metric_a_filter_publishes(self):
        published = {
            (json.dumps(transformation["MetricNamespace"]), metric)
            for filters in (FUNCTION_FILTERS, ACCESS_FILTERS)
            for metric, (_, transformation) in filters.items()
        }
        read = [pair for alarm in alarms().values() for pair in log_metrics_read_by(alarm)]
        self.assertTrue(read)
        for pair in read:
            self.assertIn(pair, published)

    def test_the_gateway_throttle_alarm_counts_exactly_the_gateways_429s(self):
        # The function never answers 429 (openapi.yaml: the 429 is the gateway's own body), so
        # an access log line with status 429 is the gateway turning a caller away.
        throttled = (json.dumps(NAMESPACE), "GatewayThrottled")
        (alarm,) = [a for a in alarms().values() if log_metrics_read_by(a) == [throttled]]
        self.assertEqual(alarm["Statistic"], "Sum")
        pattern, _ = ACCESS_FILTERS["GatewayThrottled"]
        self.assertEqual(matched(pattern, ACCESS_LINES), {"429-throttled-by-the-gateway"})
        self.assertEqual(matched(pattern, REST_ACCESS_LINES), {"429-throttled-by-the-gateway", "429-waf-rate-rule"})


class EveryFilter(NeedsCapturedLines):
    ALL = [
        (metric, pattern, transformation, lines)
        for filters, lines in ((FUNCTION_FILTERS, FUNCTION_LINES), (ACCESS_FILTERS, ACCESS_LINES),
                               (ACCESS_FILTERS, REST_ACCESS_LINES))
        for metric, (pattern, transformation) in filters.items()
    ]

    def test_matches_some_line(self):
        self.assertTrue(self.ALL)
        for metric, pattern, _, lines in self.ALL:
            self.assertTrue(matched(pattern, lines), f"{metric}: {pattern.text} matches nothing")

    def test_compares_fields_only_with_literals_of_their_own_type(self):
        # So no verdict depends on whether CloudWatch would coerce "401" to 401.
        for metric, pattern, _, lines in self.ALL:
            for comparison in pattern.comparisons():
                for texts in lines.values():
                    for text in texts:
                        present, value = cw.field(text, comparison.selector)
                        if present:
                            self.assertEqual(
                                isinstance(value, str),
                                isinstance(comparison.literal, str),
                                f"{metric}: {comparison.selector} is {value!r} in {text}",
                            )

    def test_counts_one_a_matching_line(self):
        for metric, _, transformation, _ in self.ALL:
            if metric not in VALUE_METRICS:
                self.assertEqual(transformation["MetricValue"], "1", metric)
                self.assertEqual(transformation["Unit"], "Count", metric)

    def test_publishes_zeros_unless_it_has_dimensions(self):
        # CloudWatch refuses a default value on a filter with dimensions.
        for metric, _, transformation, _ in self.ALL:
            if metric in VALUE_METRICS:
                continue
            if "Dimensions" in transformation:
                self.assertNotIn("DefaultValue", transformation, metric)
            else:
                self.assertEqual(transformation.get("DefaultValue"), 0, metric)

    def test_has_dimensions_only_from_fields_present_on_every_match(self):
        for metric, pattern, transformation, lines in self.ALL:
            dimensions = transformation.get("Dimensions", [])
            self.assertLessEqual(len(dimensions), 3, metric)
            for dimension in dimensions:
                for texts in lines.values():
                    for text in (t for t in texts if pattern.matches(t)):
                        present, value = cw.field(text, dimension["Value"])
                        self.assertTrue(present and isinstance(value, str) and value, (metric, text))

    def test_publishes_to_the_stacks_own_namespace(self):
        for metric, _, transformation, _ in self.ALL:
            self.assertEqual(transformation["MetricNamespace"], NAMESPACE, metric)


class CloudWatchFilterSyntax(unittest.TestCase):
    """The evaluator itself, on CloudWatch's documented semantics."""

    LINE = json.dumps({"message": "request", "status": 401, "auth": "not_found", "duration_ms": 2.5,
                       "nested": {"code": "x"}, "flag": True, "nothing": None})

    def holds(self, pattern):
        return cw.Pattern(pattern).matches(self.LINE)

    def test_string_equality_is_exact_and_case_sensitive(self):
        self.assertTrue(self.holds('{ $.auth = "not_found" }'))
        self.assertFalse(self.holds('{ $.auth = "NOT_FOUND" }'))
        self.assertFalse(self.holds('{ $.auth = "not" }'))

    def test_numbers_compare_as_numbers(self):
        self.assertTrue(self.holds("{ $.status = 401 }"))
        self.assertTrue(self.holds("{ $.status >= 400 }"))
        self.assertFalse(self.holds("{ $.status >= 500 }"))
        self.assertTrue(self.holds("{ $.duration_ms > 2.4 }"))
        self.assertTrue(self.holds("{ $.duration_ms < 2.6 }"))
        self.assertTrue(self.holds("{ $.status != 200 }"))

    def test_an_absent_or_null_field_never_matches(self):
        for pattern in ('{ $.org = "x" }', '{ $.org != "x" }', "{ $.org > 0 }", '{ $.nothing = "x" }',
                        "{ $.nothing != 1 }"):
            self.assertFalse(self.holds(pattern), pattern)

    def test_a_string_and_a_number_never_equal(self):
        self.assertFalse(self.holds('{ $.status = "401" }'))
        self.assertFalse(cw.Pattern("{ $.status = 401 }").matches('{"status": "401"}'))
        self.assertFalse(self.holds("{ $.flag = 1 }"))

    def test_nested_fields_are_selected_by_path(self):
        self.assertTrue(self.holds('{ $.nested.code = "x" }'))
        self.assertFalse(self.holds('{ $.auth.code = "x" }'))

    def test_and_or_and_parentheses(self):
        self.assertTrue(self.holds('{ $.message = "request" && ($.status = 403 || $.status = 401) }'))
        self.assertFalse(self.holds('{ $.message = "request" && ($.status = 403 || $.status = 500) }'))
        self.assertTrue(self.holds('{ $.status = 500 || $.auth = "not_found" }'))
        self.assertTrue(self.holds('{ ($.status = 401) }'))

    def test_a_line_that_is_not_a_json_object_never_matches(self):
        pattern = cw.Pattern('{ $.message = "request" }')
        for line in ("request", "START RequestId: 1 Version: $LATEST", "[1, 2]", '"request"', ""):
            self.assertFalse(pattern.matches(line), line)

    def test_rejects_syntax_outside_the_subset(self):
        for pattern in (
            '$.message = "request"',  # no braces
            '{ $.message = "req*" }',  # wildcard
            "{ $.message = request }",  # unquoted string
            "{ $.org IS NULL }",
            "{ $.org NOT EXISTS }",
            "{ $.flag IS TRUE }",
            "{ $.list[0] = 1 }",
            "{ $.message = %req% }",
            '{ $.a = 1 && $.b = 2 || $.c = 3 }',  # mixed without parentheses
            '{ $.status > "401" }',  # ordering on a string
            "{ $.status = }",
            "{ ($.status = 1 }",
            "ERROR",
        ):
            with self.assertRaises(cw.UnsupportedPattern, msg=pattern):
                cw.Pattern(pattern)


if __name__ == "__main__":
    unittest.main()
