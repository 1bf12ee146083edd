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

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ops_test import ROLLBACK_OUTPUTS, ParentUsesOps  # noqa: E402

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

    def value(node):
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return values[node["Ref"]]
        assert isinstance(node, (str, int)), f"unsupported in a condition: {node}"
        return str(node)

    def holds(node):
        (function, arguments), = node.items()
        if function == "Condition":
            return holds(CONDITIONS[arguments])
        if function == "Fn::Equals":
            return value(arguments[0]) == value(arguments[1])
        if function == "Fn::Not":
            return not holds(arguments[0])
        if function == "Fn::And":
            return all(map(holds, arguments))
        if function == "Fn::Or":
            return any(map(holds, arguments))
        raise AssertionError(f"unsupported condition function {function}")

    return holds(CONDITIONS[name])


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
        # benches/README.md: 1.4 % more than 128 MB's cost per request, a fifth of its warm p99.
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

    def test_serves_the_route_on_the_http_api(self):
        events = PROPS["Events"]
        routes = {
            (e["Properties"].get("Method"), e["Properties"].get("Path"))
            for e in events.values()
            if e["Type"] == "HttpApi"
        }
        self.assertIn(("GET", "/api/v1/organizations/{orgID}/api-tokens"), routes)
        self.assertTrue(all(e["Type"] == "HttpApi" for e in events.values()))


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

    def test_the_api_integrates_the_alias_not_the_function(self):
        template = transformed()
        alias, _ = of_type_in(template, "AWS::Lambda::Alias")
        _, api = of_type_in(template, "AWS::ApiGatewayV2::Api")
        integrations = [
            operation["x-amazon-apigateway-integration"]
            for path in api["Properties"]["Body"]["paths"].values()
            for operation in path.values()
        ]
        self.assertGreaterEqual(len(integrations), 2)
        for integration in integrations:
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
    front_doors = {"HttpApi": {}}
    rollback = True

    def web_acl_rules(self, parameters):
        return set()


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
        self.assertIn("-f template.yaml -f template-managed-instances.yaml -f ops.yaml", command)
        for option in ("--skip-check", "--soft-fail", "--config-file", "--baseline", "--check "):
            self.assertNotIn(option, command)
        for name in (".checkov.yaml", ".checkov.yml"):
            self.assertFalse((ROOT / name).exists(), name)

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
