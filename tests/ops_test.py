"""Rules of ops.yaml, the operations every template uses as a nested application: log groups,
metrics from the logs, alarms (the canary's rollback alarms too), the alarm topic and the
dashboard.

ops.yaml is plain CloudFormation with conditions. `deployed(values)` resolves it as
CloudFormation would for a set of parameter values: resources whose Condition fails are gone,
Fn::If, Ref, Fn::Sub and Fn::Join are evaluated, and what only AWS knows (an ARN, a value passed
by the parent such as {"Ref": "ListApiTokensFunction"}) stays a recognizable placeholder. The
parents' tests (`ParentUsesOps`) pass the values each template really passes, for each of its
front doors, and check that every alarm that then exists reads a metric that exists there.
"""

import json
import pathlib
import re
import unittest

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPS = cfn_yaml.load(str(ROOT / "ops.yaml"))
OPS_PARAMETERS = OPS["Parameters"]
OPS_CONDITIONS = OPS["Conditions"]
PSEUDO = {"AWS::Region", "AWS::StackName", "AWS::Partition", "AWS::AccountId", "AWS::URLSuffix"}

def condition_holds_in(conditions, name, values):
    """Evaluates the condition `name` of a template's `conditions` for these parameter `values`."""

    def scalar(node):
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return str(values[node["Ref"]])
        assert isinstance(node, (str, int)), f"unsupported in a condition: {node}"
        return str(node)

    def holds(node):
        (function, arguments), = node.items()
        if function == "Condition":
            return holds(conditions[arguments])
        if function == "Fn::Equals":
            return scalar(arguments[0]) == scalar(arguments[1])
        if function == "Fn::Not":
            return not holds(arguments[0])
        if function == "Fn::And":
            return all(map(holds, arguments))
        if function == "Fn::Or":
            return any(map(holds, arguments))
        raise AssertionError(f"unsupported condition function {function}")

    return holds(conditions[name])


# Values a parent passes, with placeholders for what the parent resolves at deploy time.
SAMPLE = {
    "StackName": {"Ref": "AWS::StackName"},
    "FunctionName": {"Ref": "Function"},
    "FunctionVersion": {"Fn::GetAtt": ["Function", "Version.Version"]},
    "FunctionLogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}/api-tokens"},
    "TableName": {"Ref": "Table"},
    "WebAclMetricName": {"Fn::Sub": "${AWS::StackName}-waf"},
}
COMBINATIONS = [
    dict(FrontDoor=door, WafManagedRules=managed, RollbackAlarms=rollback, AlarmEmail=email)
    for door in ("HttpApi", "RestApiWaf")
    for managed in ("true", "false")
    for rollback in ("true", "false")
    for email in ("", "ops@example.com")
]
NAMESPACE = "Aether/ApiTokens/<AWS::StackName>"


def placeholder(node):
    """How a parent's value looks inside a string of ops.yaml: <Name> or <Name.Attribute>."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return f"<{node['Ref']}>"
    if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
        return "<" + ".".join(node["Fn::GetAtt"]) + ">"
    if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", r"<\1>", node["Fn::Sub"])
    return str(node)


class Deployed:
    """ops.yaml as CloudFormation would deploy it with these parameter values (defaults else)."""

    def __init__(self, **values):
        self.values = {k: spec["Default"] for k, spec in OPS_PARAMETERS.items() if "Default" in spec}
        self.values.update(SAMPLE)
        self.values.update(values)
        missing = set(OPS_PARAMETERS) - set(self.values)
        assert not missing, f"no value for {missing}"
        self.conditions = {name: self.holds(name) for name in OPS_CONDITIONS}
        self.resources = {
            name: self.resolve(resource)
            for name, resource in OPS["Resources"].items()
            if resource.get("Condition") is None or self.conditions[resource["Condition"]]
        }
        self.outputs = {
            name: self.resolve(output["Value"])
            for name, output in OPS.get("Outputs", {}).items()
            if output.get("Condition") is None or self.conditions[output["Condition"]]
        }

    def holds(self, name):
        return condition_holds_in(OPS_CONDITIONS, name, self.values)

    NO_VALUE = object()

    def substitute(self, text):
        def one(match):
            name = match.group(1)
            if name in self.values:
                value = self.values[name]
                return value if isinstance(value, str) else placeholder(value)
            target = name.split(".")[0]
            assert name in PSEUDO or target in OPS["Resources"], f"unknown ${{{name}}}"
            if target in OPS["Resources"] and name not in PSEUDO:
                assert target in self.resource_names(), f"${{{name}}} refers to a resource that is gone"
            return f"<{name}>"
        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resource_names(self):
        return {
            name for name, resource in OPS["Resources"].items()
            if resource.get("Condition") is None or self.conditions[resource["Condition"]]
        }

    def resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            name = node["Ref"]
            if name == "AWS::NoValue":
                return self.NO_VALUE
            if name in self.values:
                return self.values[name]
            assert name in PSEUDO or name in self.resource_names(), f"Ref {name}: gone or unknown"
            return f"<{name}>"
        if set(node) == {"Fn::GetAtt"}:
            target, attribute = node["Fn::GetAtt"]
            assert target in self.resource_names(), f"GetAtt {target}: gone or unknown"
            return f"<{target}.{attribute}>"
        if set(node) == {"Fn::If"}:
            condition, yes, no = node["Fn::If"]
            return self.resolve(yes if self.conditions[condition] else no)
        if set(node) == {"Fn::Sub"}:
            assert isinstance(node["Fn::Sub"], str), node
            return self.substitute(node["Fn::Sub"])
        if set(node) == {"Fn::Join"}:
            separator, parts = node["Fn::Join"]
            return separator.join(self.resolve(parts))
        assert not any(key.startswith("Fn::") for key in node), f"unsupported: {node}"
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not self.NO_VALUE}

    def of_type(self, kind):
        return {n: r["Properties"] for n, r in self.resources.items() if r["Type"] == kind}

    def alarms(self):
        return self.of_type("AWS::CloudWatch::Alarm")

    def filters(self):
        """{(namespace, metric): log group logical id} of the metric filters."""
        found = {}
        for props in self.of_type("AWS::Logs::MetricFilter").values():
            (transformation,) = props["MetricTransformations"]
            key = (transformation["MetricNamespace"], transformation["MetricName"])
            found[key] = props["LogGroupName"].strip("<>")
        return found

    def dashboard(self):
        (props,) = self.of_type("AWS::CloudWatch::Dashboard").values()
        return json.loads(props["DashboardBody"])


def metrics_of(alarm):
    """[(namespace, metric name, dimensions as a dict, statistic)] an alarm reads."""
    def dimensions(ds):
        return {d["Name"]: d["Value"] for d in ds or []}

    if "MetricName" in alarm:
        statistic = alarm.get("Statistic", alarm.get("ExtendedStatistic"))
        return [(alarm["Namespace"], alarm["MetricName"], dimensions(alarm.get("Dimensions")), statistic)]
    return [
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"],
         dimensions(q["MetricStat"]["Metric"].get("Dimensions")), q["MetricStat"]["Stat"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
    ]


def expression(alarm):
    (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData", True) and "Expression" in q]
    return returned["Expression"]


ROLLBACK_OUTPUTS = ("NewVersionErrorsAlarm", "CanaryGateway5xxAlarm")
DEFAULT = Deployed()
WAF = Deployed(FrontDoor="RestApiWaf")


def alarm_on(metric, namespace=NAMESPACE, deployed=DEFAULT):
    """The one alarm reading that metric, the rollback alarms aside."""
    rollback = {deployed.outputs[name].strip("<>") for name in ROLLBACK_OUTPUTS if name in deployed.outputs}
    found = [
        (name, alarm) for name, alarm in deployed.alarms().items()
        if name not in rollback and any(m[:2] == (namespace, metric) for m in metrics_of(alarm))
    ]
    assert len(found) == 1, f"expected one alarm on {namespace} {metric}, found {[n for n, _ in found]}"
    return found[0][1]


# The function's own time limits: all DynamoDB work of a request ends after 2.5 s (each attempt
# after 0.8 s), so every answer comes within 3 s, far inside the 10 s Timeout.
STORE_DEADLINE_MS = 2500
DYNAMODB_OPERATIONS = {"GetItem", "Query", "UpdateItem"}
FUNCTION = {"FunctionName": {"Ref": "Function"}}
TABLE = {"Ref": "Table"}
# The rules of the parents' web ACL, by metric name (template_test.py checks the web ACL).
WAF_RATE_RULES = {"ip-rate", "org-rate"}
WAF_MANAGED_RULES = {"ip-reputation", "known-bad-inputs"}


class AlarmTestCase(unittest.TestCase):
    def assert_fires_at_one(self, alarm):
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
        self.assertEqual(alarm["Threshold"], 1)


class Alarms(AlarmTestCase):
    def test_fire_on_any_function_error(self):
        alarm = alarm_on("Errors", "AWS/Lambda")
        self.assertEqual(metrics_of(alarm), [("AWS/Lambda", "Errors", FUNCTION, "Sum")])
        self.assert_fires_at_one(alarm)

    def test_fire_on_function_throttles(self):
        alarm = alarm_on("Throttles", "AWS/Lambda")
        self.assertEqual(metrics_of(alarm), [("AWS/Lambda", "Throttles", FUNCTION, "Sum")])
        self.assert_fires_at_one(alarm)

    def test_fire_when_duration_p99_nears_the_store_deadline(self):
        alarm = alarm_on("Duration", "AWS/Lambda")
        self.assertEqual(metrics_of(alarm), [("AWS/Lambda", "Duration", FUNCTION, "p99")])
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
        # Before requests are cut off at the deadline (and long before the 10 s Timeout).
        self.assertLess(alarm["Threshold"], STORE_DEADLINE_MS)
        self.assertGreaterEqual(alarm["Threshold"], STORE_DEADLINE_MS / 2)

    def test_fire_on_5xx_of_the_front_door_from_its_access_log(self):
        # Not AWS/ApiGateway: its dimensions differ by front door (ApiId, ApiName), and naming
        # the API would close a cycle through the deployment group.
        alarm = alarm_on("Gateway5xx")
        self.assertEqual(
            sorted(metrics_of(alarm)),
            [(NAMESPACE, "Gateway5xx", {}, "Sum"), (NAMESPACE, "GatewayRequests", {}, "Sum")],
        )
        self.assertIn("IF(", expression(alarm))
        self.assertEqual(alarm["Threshold"], 1)

    def test_fire_on_dynamodb_throttling_of_any_operation_the_function_calls(self):
        self.assert_covers_every_operation(alarm_on("ThrottledRequests", "AWS/DynamoDB"), "ThrottledRequests")

    def test_fire_on_dynamodb_system_errors_of_any_operation_the_function_calls(self):
        self.assert_covers_every_operation(alarm_on("SystemErrors", "AWS/DynamoDB"), "SystemErrors")

    def assert_covers_every_operation(self, alarm, metric):
        metrics = metrics_of(alarm)
        self.assertEqual({m[:2] for m in metrics}, {("AWS/DynamoDB", metric)})
        self.assertEqual({m[2]["Operation"] for m in metrics}, DYNAMODB_OPERATIONS)
        self.assertTrue(all(m[2]["TableName"] == TABLE for m in metrics))
        self.assertTrue(all("FILL(" in term for term in expression(alarm).split("+")), expression(alarm))

    def test_fire_on_a_spike_of_forged_tokens(self):
        alarm = alarm_on("ForgedTokens")
        self.assertEqual(metrics_of(alarm), [(NAMESPACE, "ForgedTokens", {}, "Sum")])
        self.assertEqual(alarm["Threshold"], DEFAULT.values["CredentialStuffingThreshold"])
        self.assertEqual(OPS["Resources"]["CredentialStuffingAlarm"]["Properties"]["Threshold"],
                         {"Ref": "CredentialStuffingThreshold"})
        self.assertEqual(alarm["Period"], 60)

    def test_fire_on_the_front_doors_429s(self):
        # GatewayThrottled counts access log lines with status 429: the gateway's throttle or a
        # WAF rate rule, since the function never answers 429 (metric_filters_test.py checks
        # the filter on both front doors' lines).
        for deployed in (DEFAULT, WAF):
            alarm = alarm_on("GatewayThrottled", deployed=deployed)
            self.assertEqual(metrics_of(alarm), [(NAMESPACE, "GatewayThrottled", {}, "Sum")])
            self.assertEqual(alarm["Period"], 60)
            self.assertEqual(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
            # Sustained turning away, not the odd request of a burst: more than one a minute, in
            # most minutes of a few.
            self.assertGreater(alarm["Threshold"], 1)
            self.assertGreater(alarm["EvaluationPeriods"], 1)
            self.assertGreater(alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"] / 2)

    def test_the_429_alarm_names_both_causes_and_where_to_look(self):
        description = alarm_on("GatewayThrottled")["AlarmDescription"]
        for words in ("ThrottlingRateLimit", "shared", "one client flooding", "WAF rate-based rule",
                      "wafResponseCode", "cannot take AWS WAF", "FrontDoor RestApiWaf"):
            self.assertIn(words, description)

    def test_never_fire_for_lack_of_data(self):
        for combination in COMBINATIONS:
            for name, alarm in Deployed(**combination).alarms().items():
                self.assertEqual(alarm["TreatMissingData"], "notBreaching", name)

    def test_each_say_what_to_check_first(self):
        for name, alarm in WAF.alarms().items():
            self.assertIn("First check:", alarm["AlarmDescription"], name)
            self.assertLessEqual(len(alarm["AlarmDescription"]), 1024, name)

    def test_are_named_after_the_parent_stack(self):
        for name, alarm in WAF.alarms().items():
            self.assertRegex(alarm["AlarmName"], r"^<AWS::StackName>-[a-z0-9-]+$", name)


class WafAlarms(AlarmTestCase):
    def waf_alarms(self, deployed):
        return {
            m[2]["Rule"]: (name, alarm)
            for name, alarm in deployed.alarms().items()
            for m in metrics_of(alarm) if m[0] == "AWS/WAFV2"
        }

    def test_one_per_rule_of_the_web_acl_with_the_waf(self):
        self.assertEqual(set(self.waf_alarms(WAF)), WAF_RATE_RULES | WAF_MANAGED_RULES)
        without_managed = Deployed(FrontDoor="RestApiWaf", WafManagedRules="false")
        self.assertEqual(set(self.waf_alarms(without_managed)), WAF_RATE_RULES)

    def test_none_without_the_waf(self):
        for managed in ("true", "false"):
            self.assertEqual(self.waf_alarms(Deployed(FrontDoor="HttpApi", WafManagedRules=managed)), {})

    def test_read_blocked_requests_of_the_parents_web_acl_in_its_region(self):
        for rule, (name, alarm) in self.waf_alarms(WAF).items():
            (metric,) = metrics_of(alarm)
            self.assertEqual(metric[:2], ("AWS/WAFV2", "BlockedRequests"), name)
            self.assertEqual(metric[2], {"WebACL": SAMPLE["WebAclMetricName"], "Rule": rule,
                                         "Region": "<AWS::Region>"}, name)
            self.assertEqual(metric[3], "Sum")
            self.assertGreater(alarm["Threshold"], 1, name)
            self.assertGreater(alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"] / 2, name)

    def test_say_which_rule_to_look_for_in_the_waf_log(self):
        for rule, (name, alarm) in self.waf_alarms(WAF).items():
            self.assertIn(f"terminatingRuleId {rule}", alarm["AlarmDescription"], name)
            self.assertIn("WAF log", alarm["AlarmDescription"], name)


class RollbackAlarms(AlarmTestCase):
    def rollback_alarms(self, deployed=DEFAULT):
        return [deployed.alarms()[deployed.outputs[name].strip("<>")] for name in ROLLBACK_OUTPUTS]

    def test_are_outputs_for_the_deployment_preference(self):
        self.assertEqual(
            {name: DEFAULT.outputs[name] for name in ROLLBACK_OUTPUTS},
            {"NewVersionErrorsAlarm": "<NewVersionErrorsAlarm>",
             "CanaryGateway5xxAlarm": "<CanaryGateway5xxAlarm>"},
        )

    def test_exist_only_where_a_canary_deploys(self):
        without = Deployed(RollbackAlarms="false")
        for name in ROLLBACK_OUTPUTS:
            self.assertNotIn(name, without.alarms())
            self.assertNotIn(name, without.outputs)

    def test_watch_the_new_versions_errors_and_the_apis_5xx(self):
        read = {m[1] for alarm in self.rollback_alarms() for m in metrics_of(alarm)}
        self.assertEqual(read, {"Errors", "Gateway5xx", "GatewayRequests"})

    def test_the_errors_alarm_counts_only_the_version_being_deployed(self):
        (alarm,) = [a for a in self.rollback_alarms() if metrics_of(a)[0][1] == "Errors"]
        (metric,) = metrics_of(alarm)
        self.assertEqual(metric[2], {
            "FunctionName": {"Ref": "Function"},
            "Resource": "<Function>:live",
            "ExecutedVersion": SAMPLE["FunctionVersion"],
        })
        self.assert_fires_at_one(alarm)

    def test_the_5xx_alarm_reads_the_access_log(self):
        # An alarm that names the API would close a cycle CloudFormation refuses: the API
        # integrates the alias, whose update policy names the deployment group, which names its
        # alarms. The access log's Gateway5xx and GatewayRequests are the API's own answers.
        (alarm,) = [a for a in self.rollback_alarms() if metrics_of(a)[0][1] != "Errors"]
        self.assertEqual([m[0] for m in metrics_of(alarm)], [NAMESPACE, NAMESPACE])
        self.assertIn("IF(", expression(alarm))


class Independence(unittest.TestCase):
    def test_nothing_here_takes_the_api_the_alias_or_the_deployment_group(self):
        # The parents pass names, the function, its version and the table; never the API (the
        # parent's deployment group names the rollback alarms here, and the API integrates the
        # alias whose update waits for that group).
        for name in OPS_PARAMETERS:
            self.assertNotRegex(name, r"Api(Id|Name)?$|Alias|Deployment", name)


class AlarmNotifications(unittest.TestCase):
    def test_every_alarm_notifies_the_topic_if_there_is_one(self):
        for email, actions in (("", None), ("ops@example.com", ["<AlarmTopic>"])):
            deployed = Deployed(FrontDoor="RestApiWaf", AlarmEmail=email)
            for name, alarm in deployed.alarms().items():
                self.assertEqual(alarm.get("AlarmActions"), actions, name)
                self.assertEqual(alarm.get("OKActions"), actions, name)

    def test_the_topic_exists_only_with_an_email_address_and_mails_it(self):
        self.assertNotIn("AlarmTopic", DEFAULT.resources)
        deployed = Deployed(AlarmEmail="ops@example.com")
        self.assertEqual(
            deployed.resources["AlarmTopic"]["Properties"]["Subscription"],
            [{"Protocol": "email", "Endpoint": "ops@example.com"}],
        )


class LogGroups(unittest.TestCase):
    def groups(self, deployed):
        return deployed.of_type("AWS::Logs::LogGroup")

    def test_every_one_keeps_logs_for_the_retention_parameter(self):
        for name, resource in OPS["Resources"].items():
            if resource["Type"] == "AWS::Logs::LogGroup":
                self.assertEqual(resource["Properties"]["RetentionInDays"], {"Ref": "LogRetentionInDays"}, name)
        self.assertEqual(OPS_PARAMETERS["LogRetentionInDays"]["Default"], 30)

    def test_function_log_takes_the_parents_name_access_log_the_stacks(self):
        groups = self.groups(DEFAULT)
        self.assertEqual(groups["FunctionLogGroup"]["LogGroupName"], SAMPLE["FunctionLogGroupName"])
        self.assertEqual(groups["AccessLogGroup"]["LogGroupName"],
                         "/aws/vendedlogs/apigateway/<AWS::StackName>/access")
        self.assertEqual(DEFAULT.outputs["AccessLogGroupArn"], "<AccessLogGroup.Arn>")

    def test_the_waf_log_exists_with_the_waf_under_the_name_waf_requires(self):
        self.assertNotIn("WafLogGroup", self.groups(DEFAULT))
        self.assertNotIn("WafLogGroupArn", DEFAULT.outputs)
        name = self.groups(WAF)["WafLogGroup"]["LogGroupName"]
        self.assertTrue(name.startswith("aws-waf-logs-"), name)
        # WAF's LoggingConfiguration takes the group's ARN without GetAtt's trailing ":*".
        self.assertEqual(
            WAF.outputs["WafLogGroupArn"],
            "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:<WafLogGroup>",
        )


def dashboard_metrics(deployed, title_word):
    """{(namespace, metric, dimensions as tuple pairs, stat)} graphed by widgets whose title has
    the word."""
    found = set()
    widgets = [
        w for w in deployed.dashboard()["widgets"]
        if title_word.lower() in w["properties"].get("title", "").lower()
    ]
    assert widgets, f"no widget titled with {title_word!r}"
    for widget in widgets:
        default_stat = widget["properties"].get("stat", "Average")
        for entry in widget["properties"].get("metrics", []):
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            names = [e for e in entry if isinstance(e, str)]
            namespace, metric, *dims = names
            pairs = tuple(zip(dims[::2], dims[1::2]))
            found.add((namespace, metric, pairs, options.get("stat", default_stat)))
    return found


class Dashboard(unittest.TestCase):
    FUNCTION = (("FunctionName", "<Function>"),)

    def assert_shows(self, title_word, *metrics, deployed=DEFAULT):
        shown = dashboard_metrics(deployed, title_word)
        for metric in metrics:
            self.assertIn(metric, shown)

    def test_is_valid_json_for_every_combination_and_lists_exactly_the_alarms_there(self):
        for combination in COMBINATIONS:
            deployed = Deployed(**combination)
            (widget,) = [w for w in deployed.dashboard()["widgets"] if w["type"] == "alarm"]
            self.assertEqual(
                sorted(widget["properties"]["alarms"]),
                sorted(f"<{name}.Arn>" for name in deployed.alarms()),
                combination,
            )

    def test_is_one_dashboard_per_stack_and_region(self):
        (props,) = DEFAULT.of_type("AWS::CloudWatch::Dashboard").values()
        self.assertEqual(props["DashboardName"], "<AWS::StackName>-<AWS::Region>")

    def test_shows_requests_and_429s(self):
        self.assert_shows("Requests", (NAMESPACE, "GatewayRequests", (), "Sum"),
                          (NAMESPACE, "GatewayThrottled", (), "Sum"))

    def test_shows_4xx_by_cause(self):
        self.assert_shows(
            "4xx",
            (NAMESPACE, "Gateway4xx", (), "Sum"),
            (NAMESPACE, "BadRequests", (), "Sum"),
            (NAMESPACE, "GatewayThrottled", (), "Sum"),
            *((NAMESPACE, "AuthFailures", (("Cause", cause),), "Sum") for cause in
              ("missing", "malformed", "not_found", "wrong_secret", "expired", "insufficient_scope")),
        )

    def test_shows_5xx_by_cause(self):
        self.assert_shows(
            "5xx",
            (NAMESPACE, "Gateway5xx", (), "Sum"),
            (NAMESPACE, "ServerErrors", (), "Sum"),
            ("AWS/Lambda", "Errors", self.FUNCTION, "Sum"),
            ("AWS/Lambda", "Throttles", self.FUNCTION, "Sum"),
        )

    def test_shows_latency_p50_and_p99(self):
        self.assert_shows(
            "Latency",
            (NAMESPACE, "GatewayLatency", (), "p50"),
            (NAMESPACE, "GatewayLatency", (), "p99"),
        )

    def test_shows_duration(self):
        self.assert_shows(
            "Duration",
            ("AWS/Lambda", "Duration", self.FUNCTION, "p50"),
            ("AWS/Lambda", "Duration", self.FUNCTION, "p99"),
        )

    def test_shows_concurrent_executions(self):
        self.assert_shows("Concurrent", ("AWS/Lambda", "ConcurrentExecutions", self.FUNCTION, "Maximum"))

    def test_shows_throttles_of_gateway_lambda_and_dynamodb(self):
        table = (("TableName", "<Table>"),)
        self.assert_shows(
            "Throttles",
            (NAMESPACE, "GatewayThrottled", (), "Sum"),
            ("AWS/Lambda", "Throttles", self.FUNCTION, "Sum"),
            *(("AWS/DynamoDB", "ThrottledRequests", table + (("Operation", op),), "Sum") for op in
              sorted(DYNAMODB_OPERATIONS)),
        )

    def test_shows_dynamodb_consumed_reads(self):
        self.assert_shows(
            "DynamoDB", ("AWS/DynamoDB", "ConsumedReadCapacityUnits", (("TableName", "<Table>"),), "Sum"),
        )

    def test_shows_the_wafs_blocks_by_rule_only_with_the_waf(self):
        acl = ("WebACL", "<AWS::StackName>-waf")
        region = ("Region", "<AWS::Region>")
        self.assert_shows(
            "WAF",
            *(("AWS/WAFV2", "BlockedRequests", (acl, ("Rule", rule), region), "Sum")
              for rule in sorted(WAF_RATE_RULES | WAF_MANAGED_RULES | {"ALL"})),
            deployed=WAF,
        )
        for combination in COMBINATIONS:
            if combination["FrontDoor"] != "RestApiWaf":
                for widget in Deployed(**combination).dashboard()["widgets"]:
                    self.assertNotIn("AWS/WAFV2", json.dumps(widget), combination)

    def test_every_widget_is_in_the_stacks_region(self):
        for widget in WAF.dashboard()["widgets"]:
            if widget["type"] == "metric":
                self.assertEqual(widget["properties"]["region"], "<AWS::Region>")


# The metrics AWS publishes that alarms here may read, by what must exist for them: the function
# (classic or Managed Instances, both Lambda functions), the table, the web ACL.
LAMBDA_METRICS = {"Errors", "Throttles", "Duration"}
DYNAMODB_METRICS = {"ThrottledRequests", "SystemErrors"}


class ParentUsesOps:
    """Rules for a template that uses ops.yaml: a mixin with `template` (the parent, loaded),
    `function` and `table` (as the parent refers to them), `front_doors` (parent parameter
    sets, every front door and WAF choice it offers), `rollback` (whether its function deploys
    through CodeDeploy), `web_acl_rules(parameters)` ({rule metric name} of its web ACL, empty
    without one) and `resources_for(parameters)` (its resources whose conditions then hold)."""

    def ops(self):
        (found,) = [r for r in self.template["Resources"].values()
                    if r["Type"] == "AWS::Serverless::Application"]
        self.assertEqual(found["Properties"]["Location"], "ops.yaml")
        return found["Properties"]["Parameters"]

    def passed(self, **parameters):
        """Ops' parameter values as this parent passes them, its own parameters resolved."""
        values = {k: str(spec.get("Default", "")) for k, spec in self.template["Parameters"].items()}
        values.update(parameters)
        passed = {}
        for name, node in self.ops().items():
            if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in values:
                passed[name] = values[node["Ref"]]
            else:
                passed[name] = node
        return passed

    def test_passes_every_parameter_ops_takes(self):
        self.assertLessEqual(set(self.ops()), set(OPS_PARAMETERS))
        required = {k for k, spec in OPS_PARAMETERS.items() if "Default" not in spec}
        self.assertLessEqual(required, set(self.ops()))
        for name in ("LogRetentionInDays", "AlarmEmail", "CredentialStuffingThreshold"):
            self.assertEqual(self.ops()[name], {"Ref": name})
            self.assertEqual(self.template["Parameters"][name]["Default"], OPS_PARAMETERS[name]["Default"])

    def test_names_the_stack_the_function_its_version_and_the_table(self):
        ops = self.ops()
        self.assertEqual(ops["StackName"], {"Ref": "AWS::StackName"})
        self.assertEqual(ops["FunctionName"], {"Ref": self.function})
        self.assertEqual(ops["FunctionVersion"], {"Fn::GetAtt": [self.function, "Version.Version"]})
        self.assertEqual(ops["TableName"], self.table)
        self.assertEqual(ops["RollbackAlarms"], "true" if self.rollback else "false")

    def test_the_function_logs_to_the_group_ops_creates(self):
        props = self.template["Resources"][self.function]["Properties"]
        self.assertEqual(props["LoggingConfig"]["LogGroup"], self.ops()["FunctionLogGroupName"])

    def test_every_alarm_reads_a_metric_that_exists_for_each_front_door(self):
        for parameters in self.front_doors:
            passed = self.passed(**parameters)
            door = parameters.get("FrontDoor", "HttpApi")
            self.assertEqual(passed["FrontDoor"], door)
            deployed = Deployed(**passed)
            filters = deployed.filters()
            rules = self.web_acl_rules(parameters)
            self.assertTrue(deployed.alarms())
            for name, alarm in deployed.alarms().items():
                for namespace, metric, dimensions, _ in metrics_of(alarm):
                    where = (door, name, metric)
                    if namespace == NAMESPACE:
                        self.assertIn((namespace, metric), filters, where)
                        self.assertIn(filters[(namespace, metric)], {"FunctionLogGroup", "AccessLogGroup"})
                    elif namespace == "AWS/Lambda":
                        self.assertIn(metric, LAMBDA_METRICS, where)
                        self.assertEqual(dimensions["FunctionName"], {"Ref": self.function}, where)
                    elif namespace == "AWS/DynamoDB":
                        self.assertIn(metric, DYNAMODB_METRICS, where)
                        # The table this parent names (test_names_the_stack_...), as passed.
                        self.assertEqual(dimensions["TableName"], passed["TableName"], where)
                    elif namespace == "AWS/WAFV2":
                        self.assertIn(dimensions["Rule"], rules, (where, parameters))
                        self.assertEqual(dimensions["WebACL"], self.ops()["WebAclMetricName"], where)
                    else:
                        self.fail(f"{where}: unknown namespace {namespace}")
            rollback = {n for n in ROLLBACK_OUTPUTS if n in deployed.outputs}
            self.assertEqual(bool(rollback), self.rollback)

    def test_each_front_door_writes_the_access_log_the_filters_read(self):
        # So the access log metrics the alarms read exist whichever front door is deployed.
        for parameters in self.front_doors:
            apis = {
                name: r["Properties"] for name, r in self.resources_for(parameters).items()
                if r["Type"] in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api")
            }
            self.assertEqual(len(apis), 1, parameters)
            for props in apis.values():
                settings = props.get("AccessLogSettings") or props.get("AccessLogSetting")
                self.assertEqual(settings["DestinationArn"],
                                 {"Fn::GetAtt": ["Ops", "Outputs.AccessLogGroupArn"]}, parameters)
                self.assertRegex(settings["Format"], r'"status":\$context\.status[,}]')
                self.assertRegex(settings["Format"], r'"responseLatency":\$context\.responseLatency[,}]')

    def test_shows_its_dashboard(self):
        self.assertEqual(self.template["Outputs"]["DashboardUrl"]["Value"],
                         {"Fn::GetAtt": ["Ops", "Outputs.DashboardUrl"]})


if __name__ == "__main__":
    unittest.main()
