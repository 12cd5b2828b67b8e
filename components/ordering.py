"""Start order across components: a component's own `depends_on` does not reach its children."""

from __future__ import annotations

import pulumi

CONTAINER = "docker:index/container:Container"


def after(*resources: pulumi.Resource) -> pulumi.ResourceTransformation:
    """A transformation that makes every container a component creates depend on `resources`
    (components expand to their children), so, for example, app containers are created only once
    the database containers are healthy (they are created with `wait=True`). Other children (image
    pulls) need nothing from them and stay off the critical path: they run alongside."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != CONTAINER:
            return None
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=list(resources)))
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transform
