"""What every admin page shares: organization scoping for staff who are not superusers, an
organization filter that lists only their organizations, coloured status badges and links."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from core.errors import ApplicationError
from organizations.models import Organization, Role
from organizations.permissions import user_has_role
from organizations.tenancy import OrganizationOwned, organization_ids_for_user

STATUS_COLOURS = {
    "running": "#1a7f37",
    "online": "#1a7f37",
    "active": "#1a7f37",
    "filled": "#1a7f37",
    "closed": "#1a7f37",
    "starting": "#0969da",
    "stopping": "#0969da",
    "deploying": "#0969da",
    "open": "#0969da",
    "partially_filled": "#0969da",
    "new": "#57606a",
    "pending": "#57606a",
    "stopped": "#57606a",
    "unknown": "#57606a",
    "unverified": "#57606a",
    "canceled": "#57606a",
    "expired": "#57606a",
    "degraded": "#bf8700",
    "half_open": "#bf8700",
    "paused": "#bf8700",
    "warning": "#bf8700",
    "error": "#cf222e",
    "failed": "#cf222e",
    "offline": "#cf222e",
    "rejected": "#cf222e",
    "disabled": "#cf222e",
    "critical": "#cf222e",
}


def badge(value: str, label: str | None = None) -> str:
    colour = STATUS_COLOURS.get(value, "#57606a")
    return format_html(
        '<span style="background:{};color:#fff;padding:1px 7px;border-radius:9px;white-space:nowrap">{}</span>',
        colour,
        label or value.replace("_", " "),
    )


def admin_link(obj: models.Model | None, label: str | None = None) -> str:
    if obj is None:
        return "—"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else str(obj))


def changelist_link(model: type[models.Model], label: str, **filters) -> str:
    meta = model._meta
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, query, label)


class OrganizationListFilter(admin.SimpleListFilter):
    """Organization filter that never lists an organization the staff user may not see."""

    title = "organization"
    parameter_name = "organization"

    def lookups(self, request, model_admin):
        orgs = Organization.objects.all()
        if not request.user.is_superuser:
            orgs = orgs.filter(pk__in=organization_ids_for_user(request.user))
        return [(o.pk, o.name) for o in orgs]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(organization_id=self.value())
        return queryset


class OrganizationScopedAdmin(admin.ModelAdmin):
    """Staff who are not superusers see and pick only rows of their own organizations."""

    list_per_page = 50
    # The role a staff member needs in the row's organization to add, change or delete it here;
    # the same rule the API and dashboard apply.
    write_role: str = Role.ADMIN

    def scope_queryset(self, request, queryset):
        if request.user.is_superuser:
            return queryset
        return queryset.filter(organization_id__in=organization_ids_for_user(request.user))

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def may_write(self, request, organization_id) -> bool:
        return request.user.is_superuser or user_has_role(
            user=request.user, organization=organization_id, role=self.write_role
        )

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if allowed and obj is not None:
            return self.may_write(request, obj.organization_id)
        return allowed

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        if allowed and obj is not None:
            return self.may_write(request, obj.organization_id)
        return allowed

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class RoleCheckedForm(form_class):
            def clean(self):
                data = super().clean()
                org = data.get("organization") or getattr(self.instance, "organization", None)
                if org is not None and not model_admin.may_write(request, org.pk):
                    raise ValidationError(
                        f"Your role in {org} does not allow this change ({Role(model_admin.write_role).label} needed)."
                    )
                return data

        return RoleCheckedForm

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser:
            allowed = organization_ids_for_user(request.user)
            if related is Organization:
                kwargs["queryset"] = Organization.objects.filter(pk__in=allowed)
            elif issubclass(related, OrganizationOwned):
                kwargs["queryset"] = related._default_manager.filter(organization_id__in=allowed)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def run_service(self, request, queryset, service, verb: str, **kwargs) -> None:
        """Apply a service to each selected row and report successes and refusals separately."""
        done, refused = 0, []
        for obj in queryset:
            try:
                service(obj, **kwargs)
                done += 1
            except ApplicationError as exc:
                refused.append(f"{obj}: {exc.message}")
        if done:
            self.message_user(request, f"{verb}: {done}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)


class ReadOnlyAdminMixin:
    """For records written only by the system (fills, events, snapshots): viewable, never edited."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
