"""Built-in Azure roles by id, and role assignments scoped to one resource."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native

from .naming import assignment_name

__all__ = ["ROLES", "AzureContext", "assign"]

# Built-in role definition ids (the same in every Azure cloud); names as the portal shows them.
ROLES = {
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Contributor": "f25e0fa2-a7c8-4377-a976-54943a77a395",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Managed Identity Operator": "f1a07417-d97a-45cb-824c-7a7467783830",
}


@dataclass(frozen=True)
class AzureContext:
    """Where a target deploys: subscription and tenant (from the credentials), location, resource group."""

    subscription_id: pulumi.Output[str]
    tenant_id: pulumi.Output[str]
    location: str
    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]

    def role_definition_id(self, role: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            "/subscriptions/", self.subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", ROLES[role]
        )


def assign(
    ctx: AzureContext,
    name: str,
    role: str,
    scope: pulumi.Input[str],
    principal_id: pulumi.Input[str],
    parent: pulumi.Resource,
    *,
    principal_type: str | None = "ServicePrincipal",
    depends_on: list[pulumi.Resource] | None = None,
) -> azure_native.authorization.RoleAssignment:
    """``role`` for ``principal_id`` on exactly ``scope``; the assignment name is a GUID stable for the triple."""
    guid = pulumi.Output.all(scope, principal_id).apply(lambda v: assignment_name(v[0], role, v[1]))
    return azure_native.authorization.RoleAssignment(
        name,
        role_assignment_name=guid,
        role_definition_id=ctx.role_definition_id(role),
        scope=scope,
        principal_id=principal_id,
        principal_type=principal_type,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on or []),
    )


ROLES.update(
    {
        "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "Storage File Data Privileged Contributor": "69566ab7-960f-475b-8e7c-b3118f30c6bd",
        "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        "Azure AI Enterprise Network Connection Approver": "b556d68e-0be0-4f35-a333-ad7ee1ce17ea",
    }
)
