"""Creates the network an ALB needs in a moto server, and prints its IDs as JSON.

Usage: .venv/bin/python scripts/moto-network.py ENDPOINT_URL [--target-group NAME]...
           [--certificate DOMAIN]

A VPC (10.0.0.0/16), two subnets in different zones (ALBs need two), and a security group,
made with boto3 (installed with moto in .venv). Optionally, target groups that stand for
ones an Auto Scaling group registers into (gwsync only forwards to them), and an ACM
certificate. Used by the integration tests and the demo, so that neither compiles an EC2 SDK
just to set the stage.
"""

import argparse
import json
import sys

import boto3


def main(endpoint: str, target_groups: list, certificate: str) -> None:
    ec2 = boto3.client(
        "ec2",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, AvailabilityZone=zone, CidrBlock=cidr)["Subnet"]["SubnetId"]
        for zone, cidr in (("us-east-1a", "10.0.1.0/24"), ("us-east-1b", "10.0.2.0/24"))
    ]
    security_group = ec2.create_security_group(
        GroupName="gwsync-alb", Description="gwsync ALB", VpcId=vpc_id
    )["GroupId"]
    result = {"vpc": vpc_id, "subnets": subnets, "security_group": security_group}
    credentials = dict(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if target_groups:
        elb = boto3.client("elbv2", **credentials)
        result["target_groups"] = {
            name: elb.create_target_group(
                Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance"
            )["TargetGroups"][0]["TargetGroupArn"]
            for name in target_groups
        }
    if certificate:
        acm = boto3.client("acm", **credentials)
        result["certificate"] = acm.request_certificate(
            DomainName=certificate, SubjectAlternativeNames=[certificate, "*." + certificate]
        )["CertificateArn"]
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("--target-group", action="append", default=[])
    parser.add_argument("--certificate")
    args = parser.parse_args()
    main(args.endpoint, args.target_group, args.certificate)
