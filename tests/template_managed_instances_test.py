"""Rules of template-managed-instances.yaml, the deploy option on Lambda Managed Instances, that
cfn-lint and `sam validate --lint` do not check; the SAM transform is run offline, as in
template_test.py, so the rules hold for the CloudFormation SAM would deploy.
"""

import json
import logging
import pathlib
import sys
import unittest

import boto3
from cfnlint.decode import cfn_yaml
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from ops_test import ParentUsesOps  # noqa: E402
from template_test import KMS_KEY_ARN, PermissionRules  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = cfn_yaml.load(str(ROOT / "template-managed-instances.yaml"))
MAIN = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
logging.getLogger("samtranslator").setLevel(logging.ERROR)


def function(template):
    (found,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    return found


FUNCTION = function(TEMPLATE)
PROPS = FUNCTION["Properties"]


def transformed(**parameters):
    template = json.loads(json.dumps(TEMPLATE))
    function(template)["Properties"]["CodeUri"] = "s3://bucket/key"  # as `sam validate` does
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))
    parameters = {"SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1", **parameters}
    return translator.translate(template, parameter_values=parameters, get_managed_policy_map=lambda: {})


OUTPUT = transformed()


def generated(kind):
    return [r for r in OUTPUT["Resources"].values() if r["Type"] == kind]


class CapacityProvider(unittest.TestCase):
    def test_runs_arm64_instances_in_the_given_subnets_and_security_groups(self):
        (provider,) = generated("AWS::Lambda::CapacityProvider")
        vpc = provider["Properties"]["VpcConfig"]
        self.assertEqual(vpc["SubnetIds"], {"Ref": "SubnetIds"})
        self.assertEqual(vpc["SecurityGroupIds"], {"Ref": "SecurityGroupIds"})
        self.assertEqual(PARAMETERS["SubnetIds"]["Type"], "List<AWS::EC2::Subnet::Id>")
        self.assertEqual(PARAMETERS["SecurityGroupIds"]["Type"], "List<AWS::EC2::SecurityGroup::Id>")
        requirements = provider["Properties"]["InstanceRequirements"]
        self.assertEqual(requirements["Architectures"], ["arm64"])

    def test_caps_its_vcpus_with_a_parameter(self):
        (provider,) = generated("AWS::Lambda::CapacityProvider")
        scaling = provider["Properties"]["CapacityProviderScalingConfig"]
        self.assertEqual(scaling["MaxVCpuCount"], {"Ref": "MaxVCpuCount"})


class Function(unittest.TestCase):
    def test_runs_on_the_capacity_provider_with_the_concurrency_parameter(self):
        (lambda_function,) = generated("AWS::Lambda::Function")
        config = lambda_function["Properties"]["CapacityProviderConfig"]
        managed = config["LambdaManagedInstancesCapacityProviderConfig"]
        self.assertEqual(managed["PerExecutionEnvironmentMaxConcurrency"], {"Ref": "MaxConcurrency"})
        self.assertIn("CapacityProvider", json.dumps(managed["CapacityProviderArn"]))

    def test_has_at_least_2_gb_of_memory(self):
        self.assertEqual(PROPS["MemorySize"], {"Ref": "MemorySize"})
        self.assertGreaterEqual(PARAMETERS["MemorySize"]["MinValue"], 2048)
        self.assertGreaterEqual(PARAMETERS["MemorySize"]["Default"], 2048)

    def test_is_the_same_binary_build_and_runtime_as_the_on_demand_template(self):
        main = function(MAIN)
        for key in ["BuildMethod", "BuildProperties"]:
            self.assertEqual(FUNCTION["Metadata"][key], main["Metadata"][key], key)
        for key in ["Runtime", "Handler", "Architectures", "CodeUri"]:
            self.assertEqual(PROPS[key], main["Properties"][key], key)

    def test_may_only_get_query_and_update_the_table(self):
        (policy,) = PROPS["Policies"]
        statements = [s for s in policy["Statement"] if "Fn::If" not in s]
        actions = {action for s in statements for action in s["Action"]}
        self.assertEqual(actions, {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"})
        for statement in statements:
            self.assertIn("table/${TableName}", json.dumps(statement["Resource"]))
            self.assertNotIn("*", json.dumps(statement))

    def test_has_a_concurrency_limit_of_managed_instances(self):
        # Managed Instances cap a function with FunctionScalingConfig (at most that many
        # environments, each MaxConcurrency requests at once), which SAM sets on the function and
        # on each version it publishes.
        self.assertEqual(PROPS["FunctionScalingConfig"],
                         {"MaxExecutionEnvironments": {"Ref": "MaxExecutionEnvironments"}})
        (lambda_function,) = generated("AWS::Lambda::Function")
        (version,) = generated("AWS::Lambda::Version")
        for resource in (lambda_function, version):
            self.assertEqual(resource["Properties"]["FunctionScalingConfig"],
                             {"MaxExecutionEnvironments": {"Ref": "MaxExecutionEnvironments"}})
        parameter = PARAMETERS["MaxExecutionEnvironments"]
        self.assertGreaterEqual(parameter["MinValue"], 3)  # Lambda starts 3 by default, one per AZ
        self.assertGreaterEqual(parameter["Default"], parameter["MinValue"])

    def test_publishes_versions_behind_an_alias(self):
        self.assertEqual(PROPS["AutoPublishAlias"], "live")
        self.assertEqual(len(generated("AWS::Lambda::Alias")), 1)

    def test_logs_json_to_the_group_ops_creates(self):
        # With the retention parameter: ops_test.py; the name passed to Ops: UsesOps.
        self.assertEqual(PROPS["LoggingConfig"]["LogFormat"], "JSON")
        self.assertEqual(PROPS["LoggingConfig"]["LogGroup"],
                         {"Fn::Sub": "/aws/lambda/${AWS::StackName}/api-tokens"})


class Permissions(PermissionRules, unittest.TestCase):
    props = PROPS
    table = {"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"}

    def test_no_kms_permission_by_default(self):
        self.assertEqual(PARAMETERS["TableKmsKeyArn"]["Default"], "")
        self.assertEqual(TEMPLATE["Conditions"]["HasTableKmsKey"],
                         {"Fn::Not": [{"Fn::Equals": [{"Ref": "TableKmsKeyArn"}, ""]}]})

    def test_takes_the_key_parameter_as_the_main_template_does(self):
        self.assertEqual(PARAMETERS["TableKmsKeyArn"]["AllowedPattern"],
                         MAIN["Parameters"]["TableKmsKeyArn"]["AllowedPattern"])
        (lambda_function,) = generated("AWS::Lambda::Function")
        role = OUTPUT["Resources"][lambda_function["Properties"]["Role"]["Fn::GetAtt"][0]]
        self.assertIn("kms:Decrypt", json.dumps(role["Properties"]["Policies"]))
        transformed(TableKmsKeyArn=KMS_KEY_ARN)  # SAM accepts it


def api():
    (found,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::Serverless::HttpApi"]
    return found["Properties"]


class Api(unittest.TestCase):
    def test_is_throttled_by_parameters(self):
        settings = api()["DefaultRouteSettings"]
        self.assertEqual(settings["ThrottlingRateLimit"], {"Ref": "ThrottlingRateLimit"})
        self.assertEqual(settings["ThrottlingBurstLimit"], {"Ref": "ThrottlingBurstLimit"})

    def test_writes_an_access_log_to_the_group_ops_creates(self):
        self.assertEqual(api()["AccessLogSettings"]["DestinationArn"],
                         {"Fn::GetAtt": ["Ops", "Outputs.AccessLogGroupArn"]})

    def test_access_log_lines_are_those_of_the_main_template(self):
        # So the runbook's access log queries read both stacks' logs alike.
        (main_api,) = [r for r in MAIN["Resources"].values() if r["Type"] == "AWS::Serverless::HttpApi"]
        self.assertEqual(api()["AccessLogSettings"]["Format"],
                         main_api["Properties"]["AccessLogSettings"]["Format"])

    def test_the_deployed_stage_writes_the_access_log(self):
        (stage,) = generated("AWS::ApiGatewayV2::Stage")
        self.assertIn("AccessLogSettings", stage["Properties"])


class UsesOps(ParentUsesOps, unittest.TestCase):
    """The same operations as template.yaml, from the same ops.yaml, but no rollback alarms:
    nothing deploys this function through CodeDeploy."""

    template = TEMPLATE
    function = [n for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"][0]
    table = {"Ref": "TableName"}
    front_doors = [{}]
    rollback = False

    def web_acl_rules(self, parameters):
        return set()

    def resources_for(self, parameters):
        assert not any("Condition" in r for r in RESOURCES.values())
        return RESOURCES

    def test_the_transformed_template_has_the_nested_stack(self):
        (stack,) = generated("AWS::CloudFormation::Stack")
        self.assertEqual(stack["Properties"]["TemplateURL"], "ops.yaml")


if __name__ == "__main__":
    unittest.main()
