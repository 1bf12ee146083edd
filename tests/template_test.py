"""Rules of template.yaml that cfn-lint and `sam validate --lint` do not check.

Run by scripts/test with the project's virtual environment: cfn-lint provides the YAML loader
that understands CloudFormation's short-form functions such as !Ref and !GetAtt, and
aws-sam-translator (from aws-sam-cli) turns the template into the CloudFormation that SAM would
deploy, offline, so that rules about what SAM generates (the alias, the deployment group, the
X-Ray policy) are checked on what CloudFormation would really receive.
"""

import functools
import json
import logging
import pathlib
import re
import sys
import unittest
import urllib.parse

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ops_test import ROLLBACK_OUTPUTS, ParentUsesOps, condition_holds_in  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE.get("Parameters", {})
CONDITIONS = TEMPLATE.get("Conditions", {})
logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its metrics nag on every transform


def transformed(**parameters):
    """The template as SAM's transform turns it into CloudFormation, for these parameter values."""
    return json.loads(_transformed(json.dumps(parameters, sort_keys=True)))


@functools.lru_cache(maxsize=None)
def _transformed(parameters):
    template = json.loads(json.dumps(TEMPLATE))  # a plain copy SAM may change
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key"  # as `sam validate` does
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    output = translator.translate(
        template, parameter_values=json.loads(parameters), get_managed_policy_map=lambda: {}
    )
    return json.dumps(output)


def condition_holds(name, **parameters):
    """Evaluates one of the template's Conditions for these parameter values (defaults else)."""
    values = {key: str(spec.get("Default", "")) for key, spec in PARAMETERS.items()}
    values.update({key: str(value) for key, value in parameters.items()})
    return condition_holds_in(CONDITIONS, name, values)


def of_type(kind):
    found = [(name, r) for name, r in RESOURCES.items() if r["Type"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


TABLE_NAME, TABLE = of_type("AWS::DynamoDB::Table")
FUNCTION_NAME, FUNCTION = of_type("AWS::Serverless::Function")
PROPS = FUNCTION["Properties"]
API_NAME, API = of_type("AWS::Serverless::HttpApi")
API_PROPS = API.get("Properties", {})

# DynamoDB serves at most 3,000 read units a second from one partition; one org is one partition,
# and a forged but well-formed token costs one strongly consistent GetItem: one read unit.
PARTITION_READS_PER_SECOND = 3000


class Function(unittest.TestCase):
    def test_runs_the_cargo_lambda_bootstrap_on_al2023_arm64(self):
        self.assertEqual(PROPS["Runtime"], "provided.al2023")
        self.assertEqual(PROPS["Architectures"], ["arm64"])
        self.assertEqual(PROPS["Handler"], "bootstrap")
        self.assertEqual(FUNCTION["Metadata"]["BuildMethod"], "rust-cargolambda")
        self.assertEqual(FUNCTION["Metadata"]["BuildProperties"]["Binary"], "api-tokens")

    def test_has_the_memory_size_the_benchmark_chose_and_a_short_timeout(self):
        # benches/README.md: 128 MB's cost per request, a fifth of its warm p99.
        self.assertEqual(PROPS["MemorySize"], 512)
        self.assertLessEqual(PROPS["Timeout"], 10)

    def test_logs_json(self):
        self.assertEqual(PROPS["LoggingConfig"]["LogFormat"], "JSON")

    def test_reads_the_table_name_from_the_table(self):
        self.assertEqual(PROPS["Environment"]["Variables"], {"TABLE_NAME": {"Ref": TABLE_NAME}})

    def test_may_only_get_query_and_update_that_table(self):
        policies = PROPS["Policies"]
        self.assertEqual(len(policies), 1, "no managed or extra policies")
        statements = [s for s in policies[0]["Statement"] if "Fn::If" not in s]
        self.assertEqual(len(statements), 2)
        actions = set()
        for statement in statements:
            self.assertEqual(statement["Effect"], "Allow")
            self.assertEqual(statement["Resource"], {"Fn::GetAtt": [TABLE_NAME, "Arn"]})
            actions.update(statement["Action"])
        self.assertEqual(actions, {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"})
        self.assertNotIn("*", str(policies))
        self.assertNotIn("Role", PROPS)

    def test_has_no_events_the_front_doors_route_to_it(self):
        # SAM would give an event's permission no condition; each front door's routes and
        # permission are its own, under its condition (FrontDoors below).
        self.assertNotIn("Events", PROPS)


# What the function's one UpdateItem names (src/dynamo.rs, `record_use`): the key and last_used_at. The
# Rust test dynamo::tests::the_last_used_at_write_names_only_attributes_the_templates_let_the_role_update
# reads them from the request the code builds and checks them against both templates.
UPDATE_ITEM_ATTRIBUTES = {"org_id", "id", "last_used_at"}
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def statements_of(props):
    """The statements of a function's one inline policy, conditional ones as written."""
    (policy,) = props["Policies"]
    return policy["Statement"]


def statement_with_action(props, action):
    found = [
        s for s in statements_of(props)
        if "Fn::If" not in s and action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert len(found) == 1, f"expected one statement allowing {action}, found {found}"
    return found[0]


def conditional_statement(props):
    """(condition name, statement if it holds) of the one Fn::If among the statements."""
    (conditional,) = [s for s in statements_of(props) if "Fn::If" in s]
    condition, statement, otherwise = conditional["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}, otherwise
    return condition, statement


class PermissionRules:
    """Rules of the role's statements that hold in both templates: a mixin, with the function's
    properties in `props` and its table's ARN as written in `table`
    (template_managed_instances_test.py runs them on its own function)."""

    props = PROPS
    table = {"Fn::GetAtt": [TABLE_NAME, "Arn"]}

    def test_reads_are_a_statement_of_their_own_without_updates(self):
        statement = statement_with_action(self.props, "dynamodb:GetItem")
        self.assertEqual(sorted(statement["Action"]), ["dynamodb:GetItem", "dynamodb:Query"])
        self.assertEqual(statement["Resource"], self.table)
        self.assertNotIn("Condition", statement)

    def test_update_item_is_alone_in_its_statement(self):
        statement = statement_with_action(self.props, "dynamodb:UpdateItem")
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        self.assertEqual(actions, ["dynamodb:UpdateItem"])
        self.assertEqual(statement["Effect"], "Allow")
        self.assertEqual(statement["Resource"], self.table)

    def test_update_item_may_name_only_the_key_and_last_used_at(self):
        condition = statement_with_action(self.props, "dynamodb:UpdateItem")["Condition"]
        attributes = condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]
        self.assertEqual(len(attributes), len(set(attributes)))
        self.assertEqual(set(attributes), UPDATE_ITEM_ATTRIBUTES)

    def test_update_item_may_return_nothing(self):
        condition = statement_with_action(self.props, "dynamodb:UpdateItem")["Condition"]
        self.assertEqual(condition["StringEqualsIfExists"], {"dynamodb:ReturnValues": "NONE"})
        self.assertEqual(set(condition), {"ForAllValues:StringEquals", "StringEqualsIfExists"})

    def test_kms_decrypt_only_of_the_given_key_and_only_with_one(self):
        condition, statement = conditional_statement(self.props)
        self.assertEqual(condition, "HasTableKmsKey")
        self.assertEqual(statement["Effect"], "Allow")
        self.assertEqual(statement["Action"], "kms:Decrypt")
        self.assertEqual(statement["Resource"], {"Ref": "TableKmsKeyArn"})

    def test_kms_decrypt_only_through_dynamodb(self):
        _, statement = conditional_statement(self.props)
        self.assertEqual(
            statement["Condition"],
            {"StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}}},
        )


class Permissions(PermissionRules, unittest.TestCase):
    def test_no_kms_permission_by_default(self):
        self.assertEqual(PARAMETERS["TableKmsKeyArn"]["Default"], "")
        self.assertFalse(condition_holds("HasTableKmsKey"))
        self.assertTrue(condition_holds("HasTableKmsKey", TableKmsKeyArn=KMS_KEY_ARN))

    def test_the_deployed_role_carries_the_conditions(self):
        _, role = function_in(transformed())
        (policy,) = role["Policies"]
        (update,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Sid") == "RecordLastUsedAt"]
        self.assertEqual(update["Action"], ["dynamodb:UpdateItem"])
        self.assertEqual(set(update["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]),
                         UPDATE_ITEM_ATTRIBUTES)


def function_in(template):
    """The AWS::Lambda::Function and its role in a transformed template."""
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 1, functions
    role = resources[functions[0]["Properties"]["Role"]["Fn::GetAtt"][0]]
    return functions[0]["Properties"], role["Properties"]


class ReservedConcurrency(unittest.TestCase):
    def test_is_set_only_under_its_condition(self):
        self.assertEqual(
            PROPS["ReservedConcurrentExecutions"],
            {"Fn::If": [
                "HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}
            ]},
        )

    def test_is_none_by_default(self):
        self.assertEqual(PARAMETERS["ReservedConcurrency"]["Default"], "")
        self.assertFalse(condition_holds("HasReservedConcurrency"))

    def test_zero_means_none_rather_than_a_disabled_function(self):
        self.assertFalse(condition_holds("HasReservedConcurrency", ReservedConcurrency="0"))

    def test_a_positive_number_reserves_that_many(self):
        self.assertTrue(condition_holds("HasReservedConcurrency", ReservedConcurrency="20"))

    def test_accepts_only_empty_or_a_whole_number(self):
        pattern = re.compile(PARAMETERS["ReservedConcurrency"]["AllowedPattern"])
        for good in ("", "0", "1", "20", "1000"):
            self.assertTrue(pattern.fullmatch(good), good)
        for bad in ("-1", "2.5", " 5", "five", "05"):
            self.assertFalse(pattern.fullmatch(bad), bad)


class Tracing(unittest.TestCase):
    # SAM attaches AWSXrayWriteOnlyAccess (AWSXRayDaemonWriteAccess in China and GovCloud).
    XRAY_POLICY = re.compile(r"arn:aws:iam::aws:policy/AWSX[Rr]ay\w+")

    def test_follows_the_tracing_parameter(self):
        self.assertEqual(PROPS["Tracing"], {"Ref": "Tracing"})
        self.assertEqual(set(PARAMETERS["Tracing"]["AllowedValues"]), {"Disabled", "Active"})

    def test_is_off_by_default_with_no_x_ray_permission(self):
        self.assertEqual(PARAMETERS["Tracing"]["Default"], "Disabled")
        function, role = function_in(transformed())
        self.assertNotIn("TracingConfig", function)
        self.assertIsNone(self.XRAY_POLICY.search(json.dumps(role)))

    def test_active_traces_and_may_write_to_x_ray(self):
        function, role = function_in(transformed(Tracing="Active"))
        self.assertEqual(function["TracingConfig"], {"Mode": {"Ref": "Tracing"}})
        self.assertRegex(json.dumps(role["ManagedPolicyArns"]), self.XRAY_POLICY)


def references(node):
    """Logical ids a piece of template refers to, as CloudFormation orders resources by them."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found.update(name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(value, list):
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def dependency_cycle(template):
    """A cycle of resources that CloudFormation would refuse, or None. An UpdatePolicy counts:
    CloudFormation resolves its references too (the alias's CodeDeployLambdaAliasUpdate names
    the deployment group)."""
    resources = template["Resources"]
    edges = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        referenced = references(resource.get("Properties", {}))
        referenced |= references(resource.get("UpdatePolicy", {}))
        edges[name] = {n for n in referenced | set(depends_on) if n in resources}
    state = {}

    def visit(name, path):
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[name] = "done"
        return None

    for name in sorted(resources):
        if name not in state and (cycle := visit(name, [name])):
            return cycle
    return None


# CodeDeploy's predefined deployment configurations for Lambda.
CODEDEPLOY_LAMBDA_CONFIGS = {
    f"CodeDeployDefault.Lambda{name}"
    for name in [
        "AllAtOnce",
        *(f"Canary10Percent{m}Minutes" for m in (5, 10, 15, 30)),
        *(f"Linear10PercentEvery{m}Minute{'s' if m > 1 else ''}" for m in (1, 2, 3, 10)),
    ]
}


def of_type_in(template, kind):
    found = [(n, r) for n, r in template["Resources"].items() if r["Type"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


class GradualDeployment(unittest.TestCase):
    def test_publishes_the_live_alias_on_any_change_of_the_function(self):
        self.assertEqual(PROPS["AutoPublishAlias"], "live")
        self.assertIs(PROPS["AutoPublishAliasAllProperties"], True)

    def test_a_change_of_log_level_or_tracing_alone_also_publishes_a_version(self):
        # SAM names versions by a hash of the function's properties with parameters unresolved,
        # so a new LogLevel alone would keep the old version (and its old log level) behind the
        # alias. The version's Description carries those parameters; changing it replaces the
        # version, that is, publishes a new one.
        _, version = of_type_in(transformed(), "AWS::Lambda::Version")
        description = references(version["Properties"]["Description"])
        self.assertLessEqual({"LogLevel", "Tracing"}, description)

    def test_deploys_a_canary_by_default(self):
        self.assertEqual(PROPS["DeploymentPreference"]["Type"], {"Ref": "DeploymentType"})
        self.assertEqual(PARAMETERS["DeploymentType"]["Default"], "Canary10Percent5Minutes")

    def test_can_deploy_all_at_once_on_request(self):
        self.assertIn("AllAtOnce", PARAMETERS["DeploymentType"]["AllowedValues"])

    def test_every_deployment_type_names_a_codedeploy_configuration(self):
        for value in PARAMETERS["DeploymentType"]["AllowedValues"]:
            _, group = of_type_in(transformed(DeploymentType=value), "AWS::CodeDeploy::DeploymentGroup")
            text, variables = group["Properties"]["DeploymentConfigName"]["Fn::Sub"]
            self.assertEqual(variables, {"ConfigName": value})
            self.assertIn(text.replace("${ConfigName}", value), CODEDEPLOY_LAMBDA_CONFIGS)

    def test_either_api_integrates_the_alias_not_the_function(self):
        template = transformed()
        alias, _ = of_type_in(template, "AWS::Lambda::Alias")
        for kind in ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi"):
            _, api = of_type_in(template, kind)
            integrations = [
                operation["x-amazon-apigateway-integration"]
                for path in api["Properties"]["Body"]["paths"].values()
                for operation in path.values()
            ]
            self.assertGreaterEqual(len(integrations), 2, kind)
            for integration in integrations:
                self.assertEqual(integration["type"], "aws_proxy")
                self.assertIn(alias, references(integration["uri"]))
                self.assertNotIn(FUNCTION_NAME, references(integration["uri"]))

    def test_only_the_alias_may_be_invoked_by_the_api(self):
        template = transformed()
        alias, _ = of_type_in(template, "AWS::Lambda::Alias")
        permissions = [
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Permission"
        ]
        self.assertTrue(permissions)
        for permission in permissions:
            self.assertEqual(permission["FunctionName"], {"Ref": alias})


class UsesOps(ParentUsesOps, unittest.TestCase):
    template = TEMPLATE
    function = FUNCTION_NAME
    table = {"Ref": TABLE_NAME}
    front_doors = [{}, {"FrontDoor": "RestApiWaf"}, {"FrontDoor": "RestApiWaf", "WafManagedRules": "false"}]
    rollback = True

    def web_acl_rules(self, parameters):
        if not condition_holds("IsRestApiWaf", **parameters):
            return set()
        acl = if_resolved(RESOURCES["WebAcl"]["Properties"], **parameters)
        return {r["VisibilityConfig"]["MetricName"] for r in acl["Rules"]}

    def resources_for(self, parameters):
        return {n: r for n, r in RESOURCES.items()
                if "Condition" not in r or condition_holds(r["Condition"], **parameters)}

    def test_passes_the_front_door_and_the_managed_rules_choice(self):
        self.assertEqual(self.ops()["FrontDoor"], {"Ref": "FrontDoor"})
        self.assertEqual(self.ops()["WafManagedRules"], {"Ref": "WafManagedRules"})


class RollbackAlarms(unittest.TestCase):
    def test_are_the_rollback_alarms_of_ops(self):
        self.assertEqual(PROPS["DeploymentPreference"]["Alarms"], [
            {"Fn::GetAtt": ["Ops", f"Outputs.{name}"]} for name in ROLLBACK_OUTPUTS
        ])

    def test_the_errors_alarm_follows_each_new_version_once_deployed(self):
        template = transformed()
        version, _ = of_type_in(template, "AWS::Lambda::Version")
        ops = template["Resources"]["Ops"]["Properties"]["Parameters"]
        self.assertEqual(ops["FunctionVersion"], {"Fn::GetAtt": [version, "Version"]})

    def test_the_deployment_group_watches_them(self):
        _, group = of_type_in(transformed(), "AWS::CodeDeploy::DeploymentGroup")
        self.assertEqual(group["Properties"]["AlarmConfiguration"], {"Enabled": True, "Alarms": [
            {"Name": {"Fn::GetAtt": ["Ops", f"Outputs.{name}"]}} for name in ROLLBACK_OUTPUTS
        ]})


class DependencyCycles(unittest.TestCase):
    def test_cloudformation_would_find_no_cycle_in_the_deployed_template(self):
        for parameters in ({}, {"AlarmEmail": "ops@example.com", "ReservedConcurrency": "5"}):
            self.assertIsNone(dependency_cycle(transformed(**parameters)))

    def test_the_cycle_check_counts_an_update_policy(self):
        template = {
            "Resources": {
                "Api": {"Type": "A", "Properties": {"Target": {"Ref": "Alias"}}},
                "Alias": {"Type": "B", "UpdatePolicy": {"Group": {"Ref": "Group"}}},
                "Group": {"Type": "C", "Properties": {"Alarms": [{"Ref": "Alarm"}]}},
                "Alarm": {"Type": "D", "Properties": {"Api": {"Fn::Sub": "${Api}"}}},
            }
        }
        self.assertEqual(dependency_cycle(template), ["Alarm", "Api", "Alias", "Group", "Alarm"])


class Throttling(unittest.TestCase):
    def test_every_route_is_throttled_by_the_rate_and_burst_parameters(self):
        settings = API_PROPS["DefaultRouteSettings"]
        self.assertEqual(settings["ThrottlingRateLimit"], {"Ref": "ThrottlingRateLimit"})
        self.assertEqual(settings["ThrottlingBurstLimit"], {"Ref": "ThrottlingBurstLimit"})

    def test_the_deployed_stage_carries_the_throttles(self):
        stages = [
            r for r in transformed()["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"
        ]
        self.assertEqual(len(stages), 1)
        settings = stages[0]["Properties"]["DefaultRouteSettings"]
        self.assertEqual(settings["ThrottlingRateLimit"], {"Ref": "ThrottlingRateLimit"})
        self.assertEqual(settings["ThrottlingBurstLimit"], {"Ref": "ThrottlingBurstLimit"})

    def test_the_rest_apis_stage_is_throttled_by_the_same_parameters_on_every_method(self):
        _, stage = of_type_in(transformed(), "AWS::ApiGateway::Stage")
        self.assertEqual(stage["Properties"]["MethodSettings"], [{
            "ResourcePath": "/*", "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        }])

    def test_default_limits_keep_a_flood_on_one_org_far_below_its_partition_read_limit(self):
        rate = PARAMETERS["ThrottlingRateLimit"]
        burst = PARAMETERS["ThrottlingBurstLimit"]
        self.assertEqual((rate["Type"], burst["Type"]), ("Number", "Number"))
        self.assertGreaterEqual(int(rate["MinValue"]), 1)
        self.assertGreaterEqual(int(burst["MinValue"]), 1)
        # Even the whole burst and a second at the full rate, all forged tokens aimed at one org,
        # leave most of that partition's reads to its real users.
        flood = int(rate["Default"]) + int(burst["Default"])
        self.assertLessEqual(flood, PARTITION_READS_PER_SECOND / 10)


# What CloudWatch Logs accepts as RetentionInDays.
RETENTION_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653}


def render_access_log(format_string, **context):
    """One access log line as API Gateway writes it: each $context variable replaced by its value."""
    def value(match):
        name = match.group(1)
        assert name in context, f"give a value for $context.{name}"
        return str(context[name])
    return re.sub(r"\$context\.([A-Za-z0-9_.]*[A-Za-z0-9_])", value, format_string)


# A request the function answered 200, as the gateway's $context describes it.
ACCESS_CONTEXT = {
    "requestId": "Kp3oZgQ7IAMEVxw=",
    "identity.sourceIp": "203.0.113.7",
    "requestTime": "29/Nov/2026:01:02:03 +0000",
    "httpMethod": "GET",
    "routeKey": "GET /api/v1/organizations/{orgID}/api-tokens",
    "path": "/api/v1/organizations/2489e9ad-2ee2-8e00-8ec9-32d5f69181c0/api-tokens",
    "protocol": "HTTP/1.1",
    "status": 200,
    "responseLength": 1834,
    "responseLatency": 23,
    "integrationStatus": 200,
    "integration.status": 200,
    "integrationErrorMessage": "-",
    "integrationLatency": 21,
    "integration.requestId": "8f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
    "error.message": "-",
}


class Logs(unittest.TestCase):
    def test_function_logs_to_the_group_ops_creates(self):
        # ops.yaml's FunctionLogGroup takes this name (UsesOps checks that it is passed).
        self.assertEqual(PROPS["LoggingConfig"]["LogGroup"],
                         {"Fn::Sub": "/aws/lambda/${AWS::StackName}/api-tokens"})

    def test_api_writes_access_logs_to_the_group_ops_creates(self):
        self.assertEqual(API_PROPS["AccessLogSettings"]["DestinationArn"],
                         {"Fn::GetAtt": ["Ops", "Outputs.AccessLogGroupArn"]})

    def test_logs_are_kept_30_days_by_default(self):
        self.assertEqual(int(PARAMETERS["LogRetentionInDays"]["Default"]), 30)

    def test_retention_parameter_offers_only_what_cloudwatch_accepts(self):
        allowed = {int(days) for days in PARAMETERS["LogRetentionInDays"]["AllowedValues"]}
        self.assertLessEqual(allowed, RETENTION_DAYS)
        self.assertIn(30, allowed)

    def test_access_log_lines_are_json_with_what_an_operator_needs(self):
        line = json.loads(render_access_log(API_PROPS["AccessLogSettings"]["Format"], **ACCESS_CONTEXT))
        fields = {
            "requestId": "Kp3oZgQ7IAMEVxw=",
            "ip": "203.0.113.7",
            "routeKey": "GET /api/v1/organizations/{orgID}/api-tokens",
            "status": 200,
            "responseLength": "1834",
            "integrationStatus": "200",
            "integrationError": "-",
            "responseLatency": 23,
            "integrationLatency": "21",
            # The Lambda request id: the function's own log line names it as request_id.
            "integrationRequestId": "8f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
        }
        self.assertEqual({key: line.get(key) for key in fields}, fields)

    def test_access_log_status_is_a_json_number_so_filters_can_compare_it(self):
        for status in (200, 429, 503):
            context = dict(ACCESS_CONTEXT, status=status)
            line = json.loads(render_access_log(API_PROPS["AccessLogSettings"]["Format"], **context))
            self.assertIs(type(line["status"]), int)


# The same request as ACCESS_CONTEXT, as the REST API's $context describes it: no routeKey but a
# resource path, the stage in the path, and the WAF's verdict.
REST_ACCESS_CONTEXT = {
    **{k: v for k, v in ACCESS_CONTEXT.items() if k != "routeKey"},
    "resourcePath": "/api/v1/organizations/{orgID}/api-tokens",
    "path": "/prod/api/v1/organizations/2489e9ad-2ee2-8e00-8ec9-32d5f69181c0/api-tokens",
    "wafResponseCode": "WAF_ALLOW",
}
REST_API_NAME, REST_API = of_type("AWS::Serverless::Api")
REST_API_PROPS = REST_API["Properties"]
ROUTE = "/api/v1/organizations/{orgID}/api-tokens"


def rest_access_log_format():
    return REST_API_PROPS["AccessLogSetting"]["Format"]


def deployed(template, condition_values):
    """The resources of a transformed template whose Condition holds for these parameters."""
    return {
        name: r for name, r in template["Resources"].items()
        if "Condition" not in r or condition_holds(r["Condition"], **condition_values)
    }


def if_resolved(node, **parameters):
    """A node with every Fn::If resolved for these parameters, AWS::NoValue dropped."""
    if isinstance(node, list):
        items = [if_resolved(item, **parameters) for item in node]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            condition, yes, no = node["Fn::If"]
            return if_resolved(yes if condition_holds(condition, **parameters) else no, **parameters)
        return {key: if_resolved(value, **parameters) for key, value in node.items()}
    return node


def web_acl(**parameters):
    """The web ACL's properties for these parameters (RestApiWaf), Fn::If resolved."""
    return if_resolved(RESOURCES["WebAcl"]["Properties"], FrontDoor="RestApiWaf", **parameters)


def rule(name, **parameters):
    (found,) = [r for r in web_acl(**parameters)["Rules"] if r["Name"] == name]
    return found


class FrontDoors(unittest.TestCase):
    KINDS = {
        "HttpApi": {"AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"},
        "RestApiWaf": {"AWS::ApiGateway::RestApi", "AWS::ApiGateway::Stage", "AWS::ApiGateway::Deployment",
                       "AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation",
                       "AWS::WAFv2::LoggingConfiguration"},
    }

    def test_http_api_by_default(self):
        self.assertEqual(PARAMETERS["FrontDoor"]["Default"], "HttpApi")
        self.assertEqual(set(PARAMETERS["FrontDoor"]["AllowedValues"]), set(self.KINDS))

    def test_each_front_door_deploys_its_resources_and_not_the_others(self):
        template = transformed()
        for door, kinds in self.KINDS.items():
            resources = deployed(template, {"FrontDoor": door})
            present = {r["Type"] for r in resources.values()}
            self.assertLessEqual(kinds, present, door)
            for other, other_kinds in self.KINDS.items():
                if other != door:
                    self.assertFalse(present & other_kinds, (door, other))
            permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
            self.assertEqual(len(permissions), 1, door)

    def test_each_permission_lets_only_its_own_api_invoke_the_alias(self):
        template = transformed()
        alias, _ = of_type_in(template, "AWS::Lambda::Alias")
        for door, api in (("HttpApi", "HttpApi"), ("RestApiWaf", REST_API_NAME)):
            (permission,) = [r for r in deployed(template, {"FrontDoor": door}).values()
                             if r["Type"] == "AWS::Lambda::Permission"]
            props = permission["Properties"]
            self.assertEqual(props["FunctionName"], {"Ref": alias})
            self.assertEqual(props["Principal"], "apigateway.amazonaws.com")
            self.assertEqual(props["SourceArn"], {"Fn::Sub": "arn:${AWS::Partition}:execute-api:"
                                                  "${AWS::Region}:${AWS::AccountId}:${" + api + "}/*"})

    def test_the_http_api_sends_the_route_and_every_other_path_and_method(self):
        paths = API_PROPS["DefinitionBody"]["paths"]
        self.assertEqual(set(paths), {ROUTE, "$default"})
        self.assertEqual(set(paths[ROUTE]), {"get"})
        self.assertIs(paths["$default"]["x-amazon-apigateway-any-method"]["isDefaultRoute"], True)
        for operation in (paths[ROUTE]["get"], paths["$default"]["x-amazon-apigateway-any-method"]):
            self.assertEqual(operation["x-amazon-apigateway-integration"]["payloadFormatVersion"], "2.0")

    def test_the_rest_api_sends_the_route_and_every_other_path_and_method(self):
        # Any method on the route (the function answers 405), /{proxy+} and / for other paths
        # (404): the gateway's own "Missing Authentication Token" 403 never happens.
        paths = REST_API_PROPS["DefinitionBody"]["paths"]
        self.assertEqual(set(paths), {ROUTE, "/{proxy+}", "/"})
        for path in paths.values():
            self.assertEqual(set(path), {"x-amazon-apigateway-any-method"})
        self.assertEqual(REST_API_PROPS["EndpointConfiguration"], {"Type": "REGIONAL"})

    def test_the_api_url_is_the_chosen_front_doors(self):
        value = transformed()["Outputs"]["ApiUrl"]["Value"]
        condition, http, rest = value["Fn::If"]
        self.assertEqual(condition, "IsHttpApi")
        self.assertIn("${HttpApi}", http["Fn::Sub"])
        self.assertTrue(rest["Fn::Sub"].endswith("/${" + REST_API_NAME + "prodStage}"), rest)

    def test_the_rest_api_traces_with_x_ray_when_tracing_is_active(self):
        _, stage = of_type_in(transformed(), "AWS::ApiGateway::Stage")
        self.assertEqual(stage["Properties"]["TracingEnabled"], {"Fn::If": ["IsTracingActive", True, False]})
        self.assertTrue(condition_holds("IsTracingActive", Tracing="Active"))
        self.assertFalse(condition_holds("IsTracingActive"))

    def test_the_rest_api_writes_its_access_log_to_the_group_ops_creates(self):
        _, stage = of_type_in(transformed(), "AWS::ApiGateway::Stage")
        self.assertEqual(stage["Properties"]["AccessLogSetting"]["DestinationArn"],
                         {"Fn::GetAtt": ["Ops", "Outputs.AccessLogGroupArn"]})

    def test_the_rest_apis_access_log_has_the_http_apis_fields(self):
        http = json.loads(render_access_log(API_PROPS["AccessLogSettings"]["Format"], **ACCESS_CONTEXT))
        rest = json.loads(render_access_log(rest_access_log_format(), **REST_ACCESS_CONTEXT))
        self.assertEqual(set(rest) - set(http), {"wafResponseCode"})
        self.assertEqual(set(http) - set(rest), set())
        for key in http:
            if key != "path":  # the REST API's has the stage
                self.assertEqual(rest[key], http[key], key)
        self.assertIs(type(rest["status"]), int)
        self.assertIs(type(rest["responseLatency"]), int)

    def test_the_rest_api_waits_for_the_account_logs_role_it_needs(self):
        # A REST API stage with an access log needs the account's CloudWatch role; the stage
        # comes after the ApiGatewayAccount the RestApi's description names.
        self.assertIn("ApiGatewayAccount", references(REST_API_PROPS["Description"]))
        self.assertEqual(REST_API_PROPS["Description"]["Fn::If"][0], "SetsApiGatewayLogsRole")
        self.assertTrue(condition_holds("SetsApiGatewayLogsRole", FrontDoor="RestApiWaf"))
        self.assertFalse(condition_holds("SetsApiGatewayLogsRole"))
        self.assertFalse(condition_holds("SetsApiGatewayLogsRole", FrontDoor="RestApiWaf",
                                         ApiGatewayLogsRole="false"))
        for name in ("ApiGatewayAccount", "ApiGatewayLogsRoleForAccount"):
            self.assertEqual(RESOURCES[name]["DeletionPolicy"], "Retain", name)
        role = RESOURCES["ApiGatewayLogsRoleForAccount"]["Properties"]
        self.assertEqual(role["ManagedPolicyArns"], [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/"
                                                      "service-role/AmazonAPIGatewayPushToCloudWatchLogs"}])


# AWS WAF's bounds: a rate-based rule's limit is at least 10, its window one of these seconds.
WAF_MIN_LIMIT = 10
WAF_WINDOWS = {60, 120, 300, 600}
LIST_PATHS = [
    "/prod/api/v1/organizations/2489e9ad-2ee2-8e00-8ec9-32d5f69181c0/api-tokens",
    "/prod/api/v1/organizations/2489E9AD-2EE2-8E00-8EC9-32D5F69181C0/api-tokens",
    "/prod/api/v1/organizations/2489e9ad%2D2ee2-8e00-8ec9-32d5f69181c0/api-tokens",
    "/prod/api/v1/organizations/2489e9ad-2ee2-8e00-8ec9-32d5f69181c0/api%2Dtokens",
]


def waf_transform(text, transformations):
    """A URI path through WAF's text transformations (the two used here), in priority order."""
    for step in sorted(transformations, key=lambda s: s["Priority"]):
        if step["Type"] == "URL_DECODE":
            text = urllib.parse.unquote(text)
        elif step["Type"] == "LOWERCASE":
            text = text.lower()
        else:
            raise AssertionError(f"unmodelled transformation {step['Type']}")
    return text


class WebAcl(unittest.TestCase):
    def test_is_regional_allows_by_default_and_publishes_metrics_under_the_name_ops_reads(self):
        acl = web_acl()
        self.assertEqual(acl["Scope"], "REGIONAL")
        self.assertEqual(acl["DefaultAction"], {"Allow": {}})
        self.assertEqual(acl["VisibilityConfig"]["MetricName"],
                         RESOURCES["Ops"]["Properties"]["Parameters"]["WebAclMetricName"])
        for r in acl["Rules"]:
            self.assertEqual(r["VisibilityConfig"]["MetricName"], r["Name"])
            self.assertIs(r["VisibilityConfig"]["CloudWatchMetricsEnabled"], True)

    def test_is_on_the_rest_apis_stage(self):
        template = transformed()
        _, association = of_type_in(template, "AWS::WAFv2::WebACLAssociation")
        stage, _ = of_type_in(template, "AWS::ApiGateway::Stage")
        props = association["Properties"]
        self.assertEqual(props["WebACLArn"], {"Fn::GetAtt": ["WebAcl", "Arn"]})
        self.assertEqual(props["ResourceArn"], {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}"
                                                "::/restapis/${" + REST_API_NAME + "}/stages/${" + stage + "}"})
        _, acl = of_type_in(template, "AWS::WAFv2::WebACL")
        self.assertEqual(acl["Condition"], "IsRestApiWaf")

    def test_has_both_rate_rules_and_the_managed_groups_in_order(self):
        self.assertEqual([(r["Priority"], r["Name"]) for r in web_acl()["Rules"]],
                         [(0, "ip-reputation"), (1, "known-bad-inputs"), (2, "ip-rate"), (3, "org-rate")])
        self.assertEqual([r["Name"] for r in web_acl(WafManagedRules="false")["Rules"]], ["ip-rate", "org-rate"])
        self.assertEqual(PARAMETERS["WafManagedRules"]["Default"], "true")

    def test_the_managed_groups_are_amazons_ip_reputation_and_known_bad_inputs_unaltered(self):
        for name, group in (("ip-reputation", "AWSManagedRulesAmazonIpReputationList"),
                            ("known-bad-inputs", "AWSManagedRulesKnownBadInputsRuleSet")):
            r = rule(name)
            self.assertEqual(r["Statement"], {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}})
            self.assertEqual(r["OverrideAction"], {"None": {}})  # their own block actions

    def test_the_per_ip_rule_counts_each_source_address_with_its_parameters(self):
        statement = rule("ip-rate")["Statement"]["RateBasedStatement"]
        self.assertEqual(statement, {"AggregateKeyType": "IP", "Limit": {"Ref": "WafIpRateLimit"},
                                     "EvaluationWindowSec": {"Ref": "WafIpRateWindow"}})

    def test_the_per_org_rule_counts_the_list_routes_path_with_its_parameters(self):
        statement = rule("org-rate")["Statement"]["RateBasedStatement"]
        self.assertEqual(statement["AggregateKeyType"], "CUSTOM_KEYS")
        (key,) = statement["CustomKeys"]
        self.assertEqual(set(key), {"UriPath"})
        self.assertEqual(statement["Limit"], {"Ref": "WafOrgRateLimit"})
        self.assertEqual(statement["EvaluationWindowSec"], {"Ref": "WafOrgRateWindow"})

    def test_the_org_key_is_one_for_every_spelling_of_an_org_the_function_accepts(self):
        # The function takes the org id in any case and percent-encoded: one org, one key.
        statement = rule("org-rate")["Statement"]["RateBasedStatement"]
        transformations = statement["CustomKeys"][0]["UriPath"]["TextTransformations"]
        keys = {waf_transform(path, transformations) for path in LIST_PATHS}
        self.assertEqual(len(keys), 1, keys)

    def test_every_request_to_the_list_route_is_counted_by_the_org_rule(self):
        # The key, the URI path, is on every request; the scope-down lets every spelling of the
        # list route through, with or without the stage, and no other path of the function's.
        scope = rule("org-rate")["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["ByteMatchStatement"]
        self.assertEqual(scope["FieldToMatch"], {"UriPath": {}})
        self.assertEqual(scope["PositionalConstraint"], "ENDS_WITH")

        def in_scope(path):
            return waf_transform(path, scope["TextTransformations"]).endswith(scope["SearchString"])

        for path in LIST_PATHS + [p.replace("/prod", "", 1) for p in LIST_PATHS]:
            self.assertTrue(in_scope(path), path)
        for path in ("/prod/api/v1/organizations/x/api-tokens/", "/prod/", "/prod/api/v1/unknown"):
            self.assertFalse(in_scope(path), path)

    def test_rate_rules_answer_429_with_the_gateways_own_body(self):
        bodies = web_acl()["CustomResponseBodies"]
        for name in ("ip-rate", "org-rate"):
            response = rule(name)["Action"]["Block"]["CustomResponse"]
            self.assertEqual(response["ResponseCode"], 429)
            body = bodies[response["CustomResponseBodyKey"]]
            self.assertEqual(body["ContentType"], "APPLICATION_JSON")
            self.assertEqual(json.loads(body["Content"]), {"message": "Too Many Requests"})

    def test_limits_and_windows_are_parameters_within_wafs_bounds(self):
        for limit, window in (("WafIpRateLimit", "WafIpRateWindow"), ("WafOrgRateLimit", "WafOrgRateWindow")):
            self.assertEqual(PARAMETERS[limit]["Type"], "Number")
            self.assertGreaterEqual(PARAMETERS[limit]["MinValue"], WAF_MIN_LIMIT)
            self.assertGreaterEqual(PARAMETERS[limit]["Default"], PARAMETERS[limit]["MinValue"])
            self.assertEqual(set(PARAMETERS[window]["AllowedValues"]), WAF_WINDOWS)
            self.assertIn(PARAMETERS[window]["Default"], WAF_WINDOWS)

    def test_default_limits_leave_most_of_the_shared_stage_rate_to_other_clients_and_orgs(self):
        # Per second on average over their windows: one address at most a tenth of the stage's
        # rate, one org (its forged tokens included) at most a tenth, far below its partition.
        stage_rate = PARAMETERS["ThrottlingRateLimit"]["Default"]
        for limit, window in (("WafIpRateLimit", "WafIpRateWindow"), ("WafOrgRateLimit", "WafOrgRateWindow")):
            per_second = PARAMETERS[limit]["Default"] / PARAMETERS[window]["Default"]
            self.assertLessEqual(per_second, stage_rate / 10, limit)
            self.assertLessEqual(per_second, PARTITION_READS_PER_SECOND / 100, limit)

    def test_fits_the_web_acls_default_capacity(self):
        # A rough bound, not WAF's own count (which only a deployment gives): the managed groups'
        # published 25 and 200 capacity units, and a generous 50 for each rate rule with its
        # key, transformations and scope-down, against the web ACL's default 1,500.
        rules = web_acl()["Rules"]
        managed = {"ip-reputation": 25, "known-bad-inputs": 200}
        estimate = sum(managed.get(r["Name"], 50) for r in rules)
        self.assertEqual(len(rules), 4)
        self.assertLessEqual(estimate, 1500)


class TransformedRestApiWafStack(unittest.TestCase):
    """What the issue asks of the REST API + WAF stack, read from the CloudFormation SAM's
    transform gives, with FrontDoor RestApiWaf: the web ACL, its association with the stage, both
    rate-based rules and the redaction of authorization."""

    def setUp(self):
        self.resources = deployed(transformed(FrontDoor="RestApiWaf"), {"FrontDoor": "RestApiWaf"})

    def one(self, kind):
        (found,) = [(n, r["Properties"]) for n, r in self.resources.items() if r["Type"] == kind]
        return found

    def test_has_the_web_acl_on_the_stage_with_both_rate_rules_and_the_redaction(self):
        acl_name, acl = self.one("AWS::WAFv2::WebACL")
        self.assertEqual(acl["Scope"], "REGIONAL")
        _, association = self.one("AWS::WAFv2::WebACLAssociation")
        stage, _ = self.one("AWS::ApiGateway::Stage")
        self.assertEqual(association["WebACLArn"], {"Fn::GetAtt": [acl_name, "Arn"]})
        self.assertIn(stage, references(association["ResourceArn"]))
        rules = if_resolved(acl["Rules"], FrontDoor="RestApiWaf")
        rate = {r["Name"]: r["Statement"]["RateBasedStatement"] for r in rules
                if "RateBasedStatement" in r["Statement"]}
        self.assertEqual(set(rate), {"ip-rate", "org-rate"})
        self.assertEqual(rate["ip-rate"]["AggregateKeyType"], "IP")
        self.assertEqual(rate["org-rate"]["AggregateKeyType"], "CUSTOM_KEYS")
        _, logging_config = self.one("AWS::WAFv2::LoggingConfiguration")
        self.assertEqual(logging_config["ResourceArn"], {"Fn::GetAtt": [acl_name, "Arn"]})
        self.assertIn({"SingleHeader": {"Name": "authorization"}}, logging_config["RedactedFields"])

    def test_has_no_http_api(self):
        kinds = {r["Type"] for r in self.resources.values()}
        self.assertFalse({k for k in kinds if k.startswith("AWS::ApiGatewayV2::")}, kinds)


class WafLogging(unittest.TestCase):
    def props(self):
        _, logging_config = of_type_in(transformed(), "AWS::WAFv2::LoggingConfiguration")
        self.assertEqual(logging_config["Condition"], "IsRestApiWaf")
        return logging_config["Properties"]

    def test_logs_the_web_acl_to_the_aws_waf_logs_group_of_ops(self):
        props = self.props()
        self.assertEqual(props["ResourceArn"], {"Fn::GetAtt": ["WebAcl", "Arn"]})
        self.assertEqual(props["LogDestinationConfigs"], [{"Fn::GetAtt": ["Ops", "Outputs.WafLogGroupArn"]}])

    def test_redacts_the_authorization_header(self):
        # WAF logs every header by default: the bearer token must never reach the log.
        self.assertIn({"SingleHeader": {"Name": "authorization"}}, self.props()["RedactedFields"])

    def test_keeps_only_the_blocked_requests(self):
        # The access log has every request; the WAF log says which rule blocked which.
        self.assertEqual(self.props()["LoggingFilter"], {
            "DefaultBehavior": "DROP",
            "Filters": [{"Behavior": "KEEP", "Requirement": "MEETS_ANY",
                         "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}]}],
        })


class ApiDocument(unittest.TestCase):
    def test_documents_the_gateways_own_429_body(self):
        document = cfn_yaml.load(str(ROOT / "openapi.yaml"))
        responses = document["paths"]["/api/v1/organizations/{orgID}/api-tokens"]["get"]["responses"]
        response = document["components"]["responses"][responses["429"]["$ref"].rsplit("/", 1)[1]]
        schema_name = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][schema_name]
        self.assertEqual(schema["required"], ["message"])
        self.assertEqual(schema["properties"]["message"]["const"], "Too Many Requests")
        self.assertNotEqual(schema_name, "Error", "the gateway's body is not our envelope")


class Table(unittest.TestCase):
    def test_has_the_contract_keys(self):
        props = TABLE["Properties"]
        self.assertEqual(
            props["KeySchema"],
            [
                {"AttributeName": "org_id", "KeyType": "HASH"},
                {"AttributeName": "id", "KeyType": "RANGE"},
            ],
        )
        self.assertEqual(
            sorted(map(lambda a: (a["AttributeName"], a["AttributeType"]), props["AttributeDefinitions"])),
            [("id", "S"), ("org_id", "S")],
        )

    def test_is_on_demand_recoverable_and_retained(self):
        props = TABLE["Properties"]
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertIs(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], True)
        self.assertEqual(TABLE["DeletionPolicy"], "Retain")
        self.assertEqual(TABLE["UpdateReplacePolicy"], "Retain")
        self.assertNotIn("GlobalSecondaryIndexes", props)

    def test_is_protected_from_deletion(self):
        # Beside DeletionPolicy Retain, which only covers the stack: nobody deletes the table
        # until deletion protection is turned off (docs/runbook.md says how, on purpose).
        self.assertIs(TABLE["Properties"]["DeletionProtectionEnabled"], True)

    def sse(self, **parameters):
        """The table's SSESpecification once CloudFormation resolves its condition."""
        spec = TABLE["Properties"]["SSESpecification"]
        condition, with_key, without_key = spec["Fn::If"]
        return with_key if condition_holds(condition, **parameters) else without_key

    def test_is_encrypted_with_the_aws_managed_key_by_default(self):
        # SSEEnabled alone is KMS with the AWS managed key aws/dynamodb, as before the parameter.
        self.assertEqual(self.sse(), {"SSEEnabled": True})

    def test_is_encrypted_with_the_customer_managed_key_when_given(self):
        self.assertEqual(
            self.sse(TableKmsKeyArn=KMS_KEY_ARN),
            {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Ref": "TableKmsKeyArn"}},
        )

    def test_the_key_parameter_takes_only_a_key_arn(self):
        # IAM authorizes kms:Decrypt by key ARN: an alias or a bare key id would leave the role's
        # statement naming something the key is not.
        pattern = re.compile(PARAMETERS["TableKmsKeyArn"]["AllowedPattern"])
        for good in ("", KMS_KEY_ARN, "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd"):
            self.assertTrue(pattern.fullmatch(good), good)
        for bad in ("alias/tokens", "arn:aws:kms:us-east-1:123456789012:alias/tokens",
                    "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:kms:us-east-1:123456789012:key/*"):
            self.assertFalse(pattern.fullmatch(bad), bad)


def checkov_skips(resources):
    """{(logical id, check id): comment} of the checkov checks skipped in resources' Metadata."""
    return {
        (name, skip["id"]): skip.get("comment", "")
        for name, resource in resources.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


class Checkov(unittest.TestCase):
    """scripts/test runs checkov on every template with no check skipped on its command line: each
    exception stands on the resource it applies to, with its reason."""

    TEMPLATES = {
        "template.yaml": RESOURCES,
        "template-managed-instances.yaml":
            cfn_yaml.load(str(ROOT / "template-managed-instances.yaml"))["Resources"],
        "ops.yaml": cfn_yaml.load(str(ROOT / "ops.yaml"))["Resources"],
    }

    def test_every_skip_names_one_check_and_gives_a_reason(self):
        for template, resources in self.TEMPLATES.items():
            skips = checkov_skips(resources)
            self.assertTrue(skips, template)
            for (name, check), comment in skips.items():
                self.assertRegex(check, r"^CKV2?_AWS_\d+$", (template, name))
                self.assertGreaterEqual(len(comment.split()), 12, (template, name, check))

    def test_no_check_is_skipped_for_the_whole_run(self):
        script = (ROOT / "scripts" / "test").read_text().replace("\\\n", " ")
        (command,) = [line for line in script.splitlines() if line.lstrip().startswith('"$CHECKOV"')]
        self.assertIn("-f template.yaml -f template-managed-instances.yaml -f ops.yaml "
                      "-f target/template-rest-api-waf.yaml", command)
        for option in ("--skip-check", "--soft-fail", "--config-file", "--baseline", "--check "):
            self.assertNotIn(option, command)
        for name in (".checkov.yaml", ".checkov.yml"):
            self.assertFalse((ROOT / name).exists(), name)

    def test_the_rest_api_waf_front_door_is_checked_in_a_copy_that_only_changes_its_default(self):
        # checkov resolves conditions with the defaults, so it would never see the REST API and
        # the web ACL in template.yaml itself.
        script = (ROOT / "scripts" / "test").read_text()
        self.assertIn("python3 tests/front_door_variant.py RestApiWaf target/template-rest-api-waf.yaml",
                      script)
        sys.path.insert(0, str(ROOT / "tests"))
        import front_door_variant

        text = (ROOT / "template.yaml").read_text()
        copy = front_door_variant.variant(text, "RestApiWaf")
        changed = [(a, b) for a, b in zip(text.splitlines(), copy.splitlines()) if a != b]
        self.assertEqual(changed, [("    Default: HttpApi", "    Default: RestApiWaf")])
        self.assertEqual(cfn_yaml.loads(copy)["Parameters"]["FrontDoor"]["Default"], "RestApiWaf")

    def test_the_managed_instances_function_has_a_concurrency_limit_in_place_of_reserved_one(self):
        resources = self.TEMPLATES["template-managed-instances.yaml"]
        (name,) = [n for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
        self.assertIn((name, "CKV_AWS_115"), checkov_skips(resources))
        self.assertIn("MaxExecutionEnvironments", resources[name]["Properties"]["FunctionScalingConfig"])


class Outputs(unittest.TestCase):
    def test_give_the_endpoint_url_and_the_table_name(self):
        outputs = TEMPLATE["Outputs"]
        self.assertIn("execute-api", str(outputs["ApiUrl"]["Value"]))
        self.assertEqual(outputs["TableName"]["Value"], {"Ref": TABLE_NAME})


if __name__ == "__main__":
    unittest.main()
