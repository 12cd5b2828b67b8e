"""The WebSys policy pack, as the Pulumi engine starts it (`python -m pulumi.policy ENGINE policy/`)."""

from websys_policies.pack import serve

serve()
