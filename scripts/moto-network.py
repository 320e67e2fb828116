"""Creates the network an ALB needs in a moto server, and prints its IDs as JSON.

Usage: .venv/bin/python scripts/moto-network.py ENDPOINT_URL

A VPC (10.0.0.0/16), two subnets in different zones (ALBs need two), and a security group,
made with boto3 (installed with moto in .venv). Used by the integration tests and the demo,
so that neither compiles an EC2 SDK just to set the stage.
"""

import json
import sys

import boto3


def main(endpoint: str) -> None:
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
    json.dump({"vpc": vpc_id, "subnets": subnets, "security_group": security_group}, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
