"""moto's standalone server, extended where ALB has what moto lacks.

gwsync's tests and demo run this instead of `moto_server`, with the same arguments. Each
patch below makes moto keep something real ALB keeps; nothing else changes. Patches:

- ModifyTargetGroup takes `Matcher.GrpcCode` (moto reads only `Matcher.HttpCode`), so a
  gRPC target group's health check can be changed and read back.
- CreateLoadBalancer with the name of an existing load balancer returns that one when its
  scheme is the same, and fails with `DuplicateLoadBalancerName` otherwise, as on ALB (moto
  makes a second load balancer with the same name): a create retried after its first attempt
  took effect finds what it made.
- CreateListener on a port the load balancer already listens on fails with
  `DuplicateListener`, as on ALB (moto looks the port up among listener ARNs, never finds it,
  and makes a second listener on the same port).
"""

import sys

from moto.elbv2 import models, responses
from moto.elbv2.exceptions import DuplicateListenerError, DuplicateLoadBalancerName
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

_create_listener = models.ELBv2Backend.create_listener


def create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs):
    balancer = self.load_balancers.get(load_balancer_arn)
    if balancer is not None and any(
        str(listener.port) == str(port) for listener in balancer.listeners.values()
    ):
        raise DuplicateListenerError()
    return _create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs)


models.ELBv2Backend.create_listener = create_listener

_create_load_balancer = models.ELBv2Backend.create_load_balancer


def create_load_balancer(self, name, *args, **kwargs):
    scheme = kwargs.get("scheme") or "internet-facing"
    for balancer in self.load_balancers.values():
        if balancer.name == name:
            if balancer.scheme == scheme:
                return balancer
            raise DuplicateLoadBalancerName()
    return _create_load_balancer(self, name, *args, **kwargs)


models.ELBv2Backend.create_load_balancer = create_load_balancer

if __name__ == "__main__":
    sys.exit(main())
