"""Tests of scripts/moto_server.py on its own: each patch, through boto3 against the server.

Run by scripts/test with the virtualenv's Python (`.venv/bin/python scripts/moto_server_test.py`).
Starts the extended server on a free port of 127.0.0.1 and stops it at the end.
"""

import os
import socket
import subprocess
import sys
import time
import unittest

import boto3
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ExtendedMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "moto_server.py"), "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        args = dict(
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        cls.elb = boto3.client("elbv2", **args)
        ec2 = boto3.client("ec2", **args)
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnets = [
            s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] == vpc
        ][:2]
        cls.balancer = cls.elb.create_load_balancer(Name="patched", Subnets=subnets)[
            "LoadBalancers"
        ][0]
        cls.listener = cls.elb.create_listener(
            LoadBalancerArn=cls.balancer["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
            ],
        )["Listeners"][0]["ListenerArn"]
        cls.priority = 0

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(10)

    def create(self, conditions, actions=FIXED, **extra):
        type(self).priority += 1
        rule = self.elb.create_rule(
            ListenerArn=self.listener,
            Priority=self.priority,
            Conditions=conditions,
            Actions=actions,
            **extra,
        )["Rules"][0]
        return self.read(rule["RuleArn"])

    def read(self, arn):
        return self.elb.describe_rules(RuleArns=[arn])["Rules"][0]

    def test_regex_values_are_taken_checked_and_read_back(self):
        for field, config in [
            ("host-header", {"HostHeaderConfig": {"RegexValues": ["^api\\.example\\.com$"]}}),
            ("path-pattern", {"PathPatternConfig": {"RegexValues": ["^/v[0-9]+/"]}}),
            (
                "http-header",
                {"HttpHeaderConfig": {"HttpHeaderName": "x-env", "RegexValues": ["^prod$"]}},
            ),
        ]:
            rule = self.create([dict(Field=field, **config)])
            self.assertEqual(rule["Conditions"], [dict(Field=field, **config)])
        with self.assertRaises(ClientError):
            self.create([{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["x" * 129]}}])
        with self.assertRaises(ClientError):
            self.create(
                [
                    {
                        "Field": "path-pattern",
                        "PathPatternConfig": {"Values": ["/a"], "RegexValues": ["^/a$"]},
                    }
                ]
            )
        # Values alone still go through moto's own checks.
        with self.assertRaises(ClientError):
            self.create([{"Field": "path-pattern", "PathPatternConfig": {"Values": ["x" * 129]}}])

    def test_transforms_are_kept_modified_and_reset(self):
        rewrite = [
            {
                "Type": "url-rewrite",
                "UrlRewriteConfig": {"Rewrites": [{"Regex": "^/old/(.*)$", "Replace": "/$1"}]},
            }
        ]
        host = [
            {
                "Type": "host-header-rewrite",
                "HostHeaderRewriteConfig": {"Rewrites": [{"Regex": "^.*$", "Replace": "b.example.com"}]},
            }
        ]
        rule = self.create(
            [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/old/*"]}}],
            Transforms=rewrite,
        )
        self.assertEqual(rule["Transforms"], rewrite)
        self.elb.modify_rule(RuleArn=rule["RuleArn"], Actions=FIXED, Transforms=host)
        self.assertEqual(self.read(rule["RuleArn"])["Transforms"], host)
        # A ModifyRule that says nothing of transforms keeps them.
        self.elb.modify_rule(RuleArn=rule["RuleArn"], Actions=FIXED)
        self.assertEqual(self.read(rule["RuleArn"])["Transforms"], host)
        self.elb.modify_rule(RuleArn=rule["RuleArn"], Actions=FIXED, ResetTransforms=True)
        self.assertEqual(self.read(rule["RuleArn"]).get("Transforms", []), [])

    def test_jwt_validation_is_taken_and_read_back(self):
        jwt = {
            "Type": "jwt-validation",
            "Order": 1,
            "JwtValidationConfig": {
                "Issuer": "https://idp.example.com",
                "JwksEndpoint": "https://idp.example.com/keys",
                "AdditionalClaims": [{"Format": "string-array", "Name": "groups", "Values": ["a"]}],
            },
        }
        final = dict(FIXED[0], Order=2)
        rule = self.create(
            [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/jwt"]}}],
            actions=[jwt, final],
        )
        self.assertEqual(rule["Actions"][0]["Type"], "jwt-validation")
        self.assertEqual(rule["Actions"][0]["JwtValidationConfig"], jwt["JwtValidationConfig"])
        # Other unknown action types are still refused.
        with self.assertRaises(ClientError):
            self.create(
                [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/x"]}}],
                actions=[{"Type": "no-such-action"}],
            )

    def test_a_second_listener_on_a_port_is_refused(self):
        with self.assertRaises(ClientError) as raised:
            self.elb.create_listener(
                LoadBalancerArn=self.balancer["LoadBalancerArn"],
                Protocol="HTTP",
                Port=80,
                DefaultActions=FIXED,
            )
        self.assertEqual(raised.exception.response["Error"]["Code"], "DuplicateListener")

    def test_a_load_balancer_created_again_is_the_same_one(self):
        again = self.elb.create_load_balancer(
            Name="patched",
            Subnets=[az["SubnetId"] for az in self.balancer["AvailabilityZones"]],
        )["LoadBalancers"][0]
        self.assertEqual(again["LoadBalancerArn"], self.balancer["LoadBalancerArn"])


if __name__ == "__main__":
    unittest.main()
