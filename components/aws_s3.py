"""pulumi_aws's S3 module, imported without the warnings it raises about itself.

`import pulumi_aws.s3` loads every class of the package, including the deprecated `*V2` ones, whose
modules warn at import time, whether or not a program uses them. Those import-time warnings (and
only pulumi_aws's own) are silenced here; the program registers no deprecated resource type, which
the plan tests check.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_aws\.s3\.")
    from pulumi_aws import s3

    s3.Bucket  # noqa: B018 pulumi_aws imports lazily: touching a class runs the import here

__all__ = ["s3"]
