"""Environment profiles: the dev / staging / prod defaults that differ, applied under explicit spec values."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .spec import ENVIRONMENT_PATH, ENVIRONMENTS, SERVICE_PATH, ModelService
from .validation import SpecError, check_choice

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Defaults for one environment. Components read these; explicit spec values always win."""

    name: str
    min_replicas: int
    zones: int
    deletion_protection: bool
    log_retention_days: int
    alarms: bool
    nat_per_zone: bool
    # In prod the policy pack treats advisory guardrails as mandatory.
    advisory_is_mandatory: bool

    def apply(self, service: ModelService) -> ModelService:
        """The service with every profile-driven value filled in. Explicit values are kept."""
        if service.scaling.min_replicas is not None:
            return service
        # A default, not an explicit value: it grows to run every weighted variant.
        floor = max(self.min_replicas, sum(1 for t in service.tracks if t.weight > 0))
        if floor > service.scaling.max_replicas:
            raise SpecError(
                f"{SERVICE_PATH}.scaling.max_replicas",
                f"must be >= the {self.name} profile's min_replicas ({floor}) (got {service.scaling.max_replicas}); "
                f"raise it or set scaling.min_replicas explicitly",
            )
        scaling = dataclasses.replace(service.scaling, min_replicas=floor)
        return dataclasses.replace(service, scaling=scaling)


PROFILES: dict[str, Profile] = {
    "dev": Profile(
        name="dev",
        min_replicas=1,
        zones=2,
        deletion_protection=False,
        log_retention_days=14,
        alarms=False,
        nat_per_zone=False,
        advisory_is_mandatory=False,
    ),
    "staging": Profile(
        name="staging",
        min_replicas=2,
        zones=3,
        deletion_protection=False,
        log_retention_days=90,
        alarms=True,
        nat_per_zone=False,
        advisory_is_mandatory=False,
    ),
    # One year of logs meets CKV_AWS_338 and most audit regimes.
    "prod": Profile(
        name="prod",
        min_replicas=3,
        zones=3,
        deletion_protection=True,
        log_retention_days=365,
        alarms=True,
        nat_per_zone=True,
        advisory_is_mandatory=True,
    ),
}


def get_profile(environment: str) -> Profile:
    check_choice(ENVIRONMENT_PATH, environment, ENVIRONMENTS)
    return PROFILES[environment]
