"""moto's standalone server, extended where ALB has what moto lacks.

gwsync's tests and demo run this instead of `moto_server`, with the same arguments. Each
patch below makes moto keep something real ALB keeps; nothing else changes. Patches:

- ModifyTargetGroup takes `Matcher.GrpcCode` (moto reads only `Matcher.HttpCode`), so a
  gRPC target group's health check can be changed and read back.
"""

import sys

from moto.elbv2 import responses
from moto.server import main

_modify_target_group = responses.ELBV2Response.modify_target_group


def modify_target_group(self):
    result = _modify_target_group(self)
    grpc_codes = self._get_param("Matcher.GrpcCode")
    if grpc_codes is not None:
        arn = self._get_param("TargetGroupArn")
        self.elbv2_backend.target_groups[arn].matcher = {"GrpcCode": grpc_codes}
    return result


responses.ELBV2Response.modify_target_group = modify_target_group

if __name__ == "__main__":
    sys.exit(main())
