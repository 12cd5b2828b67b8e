"""Start order across components: a component's own `depends_on` does not reach its children."""

from __future__ import annotations

import pulumi

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


def after(*resources: pulumi.Resource) -> pulumi.ResourceTransformation:
    """A transformation that makes a resource and every child it creates depend on `resources`
    (components expand to their children), so, for example, app containers are created only once
    the database containers are healthy (they are created with `wait=True`). Image pulls are left
    out: they need nothing from those resources, and pulling alongside keeps them off the critical
    path of a deploy."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ == REMOTE_IMAGE:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=list(resources)))
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transform
