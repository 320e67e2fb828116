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
- Host, path and header conditions with `RegexValues` instead of `Values` are taken, checked
  as ALB checks them (one of the two, at least one value, at most 128 characters) and read
  back (moto reads `Values` only and fails with HTTP 500).
- CreateRule and ModifyRule keep `Transforms` (host-header and URL rewrites) and
  `ResetTransforms`, and DescribeRules returns them (moto drops them).
- `jwt-validation` actions are taken and read back (moto refuses the action type).
"""

import sys

from moto.elbv2 import models, responses
from moto.elbv2.exceptions import (
    DuplicateListenerError,
    DuplicateLoadBalancerName,
    InvalidConditionValueError,
)
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
            if (balancer.scheme or "internet-facing") == scheme:
                return balancer
            raise DuplicateLoadBalancerName()
    return _create_load_balancer(self, name, *args, **kwargs)


models.ELBv2Backend.create_load_balancer = create_load_balancer

MAX_CONDITION_VALUE = 128


def taking_regex_values(validate, config_key):
    """A condition validator that also takes `RegexValues`, as ALB does."""

    def validator(self, condition):
        config = condition.get(config_key) or {}
        if "RegexValues" not in config:
            return validate(self, condition)
        if "Values" in config or "Values" in condition:
            raise InvalidConditionValueError(
                f"'{config_key}' takes either 'Values' or 'RegexValues', not both"
            )
        regexes = config["RegexValues"]
        if not regexes:
            raise InvalidConditionValueError("A condition value must be specified")
        for regex in regexes:
            if len(regex) > MAX_CONDITION_VALUE:
                raise InvalidConditionValueError(
                    f"The regex value is too long; the limit is '{MAX_CONDITION_VALUE}'"
                )
        return None

    return validator


for field, key in [
    ("host_header", "HostHeaderConfig"),
    ("path_pattern", "PathPatternConfig"),
    ("http_header", "HttpHeaderConfig"),
]:
    name = f"_validate_{field}_condition"
    setattr(
        models.ELBv2Backend,
        name,
        taking_regex_values(getattr(models.ELBv2Backend, name), key),
    )

_validate_actions = models.ELBv2Backend._validate_actions


def validate_actions(self, actions):
    # ALB runs jwt-validation before the final action, as it does authentication.
    return _validate_actions(self, [a for a in actions if a.type != "jwt-validation"])


models.ELBv2Backend._validate_actions = validate_actions

_create_rule = responses.ELBV2Response.create_rule
_modify_rule = responses.ELBV2Response.modify_rule


def transforms_of(response):
    params = response._get_params()
    if params.get("ResetTransforms") in (True, "true"):
        return []
    return params.get("Transforms")


def create_rule(self):
    result = _create_rule(self)
    rule = result.result["Rules"][0]
    rule.transforms = transforms_of(self) or []
    return result


def modify_rule(self):
    result = _modify_rule(self)
    transforms = transforms_of(self)
    if transforms is not None:
        result.result["Rules"][0].transforms = transforms
    return result


responses.ELBV2Response.create_rule = create_rule
responses.ELBV2Response.modify_rule = modify_rule

if __name__ == "__main__":
    sys.exit(main())
