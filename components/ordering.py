"""Start order across components: a component's own `depends_on` does not reach its children."""

from __future__ import annotations

import pulumi


def after(*resources: pulumi.Resource) -> pulumi.ResourceTransformation:
    """A transformation that makes a resource and every child it creates depend on `resources`
    (components expand to their children), so, for example, app containers are created only once
    the database containers are healthy (they are created with `wait=True`)."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(depends_on=list(resources)))
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transform
