"""Tenancy helpers every app uses: org-owned rows and the querysets that scope them.

A customer-facing read always goes through `for_organization` or `for_user`; a row of another
organization must be invisible, which surfaces turn into a 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from organizations.models import Organization


def organization_ids_for_user(user: AbstractBaseUser | AnonymousUser) -> models.QuerySet:
    """The ids of the organizations a user belongs to, as a subquery."""
    from organizations.models import Membership

    return Membership.objects.filter(user_id=user.pk).values("organization_id")


class OrganizationScopedQuerySet(models.QuerySet):
    """Queryset of a model with an `organization` foreign key."""

    organization_field = "organization"

    def for_organization(self, organization: Organization | int) -> OrganizationScopedQuerySet:
        return self.filter(**{f"{self.organization_field}_id": getattr(organization, "pk", organization)})

    def for_user(self, user: AbstractBaseUser | AnonymousUser) -> OrganizationScopedQuerySet:
        """Rows of every organization the user is a member of (none for anonymous users).

        Superusers are not special here: customer surfaces show memberships only; admin applies
        its own superuser rule.
        """
        if not user.is_authenticated:
            return self.none()
        return self.filter(**{f"{self.organization_field}_id__in": organization_ids_for_user(user)})


class OrganizationOwned(models.Model):
    """Abstract base of every customer-owned row: an explicit organization FK and scoped reads."""

    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        related_name="%(class)ss",
        help_text="The customer organization this row belongs to.",
    )

    objects = OrganizationScopedQuerySet.as_manager()

    class Meta:
        abstract = True
