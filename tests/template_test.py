"""Rules of template.yaml that cfn-lint and `sam validate --lint` do not check.

Run by scripts/test with the project's virtual environment: cfn-lint provides the YAML loader
that understands CloudFormation's short-form functions such as !Ref and !GetAtt, and
aws-sam-translator (from aws-sam-cli) turns the template into the CloudFormation that SAM would
deploy, offline, so that rules about what SAM generates (the alias, the deployment group, the
X-Ray policy) are checked on what CloudFormation would really receive.
"""

import copy
import functools
import json
import pathlib
import unittest

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE.get("Parameters", {})
CONDITIONS = TEMPLATE.get("Conditions", {})


def transformed(**parameters):
    """The template as SAM's transform turns it into CloudFormation, for these parameter values."""
    return json.loads(_transformed(json.dumps(parameters, sort_keys=True)))


@functools.lru_cache(maxsize=None)
def _transformed(parameters):
    template = copy.deepcopy(json.loads(json.dumps(TEMPLATE)))
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

    def test_is_small_and_short(self):
        self.assertEqual(PROPS["MemorySize"], 128)
        self.assertLessEqual(PROPS["Timeout"], 10)

    def test_logs_json(self):
        self.assertEqual(PROPS["LoggingConfig"]["LogFormat"], "JSON")

    def test_reads_the_table_name_from_the_table(self):
        self.assertEqual(PROPS["Environment"]["Variables"], {"TABLE_NAME": {"Ref": TABLE_NAME}})

    def test_may_only_get_query_and_update_that_table(self):
        policies = PROPS["Policies"]
        self.assertEqual(len(policies), 1, "no managed or extra policies")
        statements = policies[0]["Statement"]
        self.assertEqual(len(statements), 1)
        statement = statements[0]
        self.assertEqual(statement["Effect"], "Allow")
        self.assertEqual(
            sorted(statement["Action"]),
            ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
        )
        self.assertEqual(statement["Resource"], {"Fn::GetAtt": [TABLE_NAME, "Arn"]})
        self.assertNotIn("*", str(statement))
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
        self.assertLessEqual(int(rate["Default"]) + int(burst["Default"]), PARTITION_READS_PER_SECOND / 10)


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

    def test_is_on_demand_recoverable_encrypted_and_retained(self):
        props = TABLE["Properties"]
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertIs(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], True)
        self.assertIs(props["SSESpecification"]["SSEEnabled"], True)
        self.assertEqual(TABLE["DeletionPolicy"], "Retain")
        self.assertEqual(TABLE["UpdateReplacePolicy"], "Retain")
        self.assertNotIn("GlobalSecondaryIndexes", props)


class Outputs(unittest.TestCase):
    def test_give_the_endpoint_url_and_the_table_name(self):
        outputs = TEMPLATE["Outputs"]
        self.assertIn("execute-api", str(outputs["ApiUrl"]["Value"]))
        self.assertEqual(outputs["TableName"]["Value"], {"Ref": TABLE_NAME})


if __name__ == "__main__":
    unittest.main()
