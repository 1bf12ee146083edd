"""Rules of template.yaml that cfn-lint and `sam validate --lint` do not check.

Run by scripts/test with the project's virtual environment (cfn-lint provides the YAML loader
that understands CloudFormation's short-form functions such as !Ref and !GetAtt).
"""

import pathlib
import unittest

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]


def of_type(kind):
    found = [(name, r) for name, r in RESOURCES.items() if r["Type"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


TABLE_NAME, TABLE = of_type("AWS::DynamoDB::Table")
FUNCTION_NAME, FUNCTION = of_type("AWS::Serverless::Function")
PROPS = FUNCTION["Properties"]


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
