"""The recorded plan: the program run under Pulumi's mock runtime, as the engine would see it."""

from websys.plan.model import SECRET, Plan, PlannedResource
from websys.plan.recorder import PROJECT_DIR, ProgramError, record_plan

__all__ = ["PROJECT_DIR", "SECRET", "Plan", "PlannedResource", "ProgramError", "record_plan"]
